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
        ],
    )


@pytest.fixture(scope="session")
def spark(settings):
    from fanbase.session import build_spark

    session = build_spark(settings.spark, app_name="fanbase-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module", autouse=True)
def _release_cached_data(request):
    """After each test module, drop what it cached: the suite shares one driver heap."""
    yield
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:  # the session started: it is ours
        import gc

        request.getfixturevalue("spark").catalog.clearCache()
        gc.collect()  # py4j frees a JVM object only once its Python proxy is collected


@pytest.fixture(scope="session")
def lakehouse(spark, settings):
    from fanbase.lakehouse import Lakehouse

    return Lakehouse(spark, settings.lakehouse)


# Generated data for the model tests, shared by test_models and test_survival.
MODEL_MARKETS = ["DE", "GB", "US"]
# A planted drift for the monitoring test: playback buffers 3x as much from day 160 of
# 180 (after every training window, inside the newest scoring window).
MODEL_SHIFT = {"from_date": "2025-01-08", "buffering_factor": 3.0}


@pytest.fixture(scope="session")
def model_raw(tmp_path_factory) -> Path:
    """Demo data at test scale: 2,000 users over 180 days in three markets."""
    from fanbase.demo import generate
    from fanbase.demo.settings import GeneratorSettings

    out = tmp_path_factory.mktemp("raw-models")
    generate(
        out,
        GeneratorSettings.tiny(
            users=2000,
            days=180,
            markets=MODEL_MARKETS,
            workers=1,
            churn_as_of_first_days=35,
            churn_as_of_every_days=7,
            shift=MODEL_SHIFT,
        ),
    )
    return out


@pytest.fixture(scope="session")
def model_store(spark, model_raw, tmp_path_factory) -> Path:
    """Silver and the feature store built from ``model_raw``, in a lakehouse root that
    tests copy (``copy_lake``) before writing models into it."""
    from fanbase.jobs import features, ingest
    from fanbase.jobs._runner import build_parser, run_job

    root = tmp_path_factory.mktemp("lake-store")
    for module, argv in ((ingest, ["--raw-root", str(model_raw)]), (features, [])):
        args = build_parser(module).parse_args([*argv, "--set", f"lakehouse.root={root}"])
        run_job(module, args, spark=spark)
    return root


def copy_lake(store: Path, to: Path) -> Path:
    """A private copy of a lakehouse root (Delta logs hold relative paths)."""
    import shutil

    shutil.copytree(store, to, dirs_exist_ok=True)
    return to
