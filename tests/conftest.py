"""Shared test fixtures: one SparkSession with Delta for the whole run, a temporary
lakehouse and a temporary MLflow store. Spark starts only if a test asks for it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fanbase_home(tmp_path_factory) -> Path:
    """FANBASE_HOME for the test session: lakehouse, raw data and MLflow live here."""
    home = tmp_path_factory.mktemp("fanbase_home")
    os.environ["FANBASE_HOME"] = str(home)
    os.environ.setdefault("FANBASE_JARS_DIR", str(REPO / ".jars"))
    return home


@pytest.fixture(scope="session")
def settings(fanbase_home):
    from fanbase.config import load_settings

    return load_settings(
        "local",
        overrides=[
            "spark.master=local[2]",
            "spark.conf.spark.sql.shuffle.partitions=4",
            "spark.conf.spark.driver.memory=3g",
        ],
    )


@pytest.fixture(scope="session")
def spark(settings):
    from fanbase.session import build_spark

    session = build_spark(settings.spark, app_name="fanbase-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def lakehouse(spark, settings):
    from fanbase.lakehouse import Lakehouse

    return Lakehouse(spark, settings.lakehouse)
