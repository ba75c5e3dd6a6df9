"""The one SparkSession factory.

Entry points call :func:`build_spark` once and pass the session down; library code
never looks a session up.

Two situations:

* **Embedded** (``fanbase ...`` or ``python jobs/x.py`` on a laptop): Python starts the
  JVM, so fanbase sets the master and puts the pre-resolved jars (``.jars/``, filled by
  ``make setup``) on the class path. No network is needed.
* **Launched** (``spark-submit`` on a cluster, a Databricks task): the JVM and its
  master already exist. fanbase keeps every cluster setting and only adds its SQL
  settings (Delta's extension and catalog, Kryo for Spark NLP) where they are unset.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

from fanbase.config import ConfigError, SparkSettings

log = logging.getLogger(__name__)

DELTA_EXTENSION_CLASS = "io.delta.sql.DeltaSparkSessionExtension"
SPARK_NLP_CLASS = "com.johnsnowlabs.nlp.DocumentAssembler"


class MissingJarsError(ConfigError):
    """Delta or Spark NLP is not on the class path."""


def launched_by_spark() -> bool:
    """True when a JVM already exists: spark-submit, pyspark shell, Databricks."""
    return "PYSPARK_GATEWAY_PORT" in os.environ or "DATABRICKS_RUNTIME_VERSION" in os.environ


def local_jars(settings: SparkSettings) -> list[str]:
    """The resolved jar files, or a clear error telling how to resolve them."""
    folder = Path(settings.jars_dir)
    jars = sorted(str(p.resolve()) for p in folder.glob("*.jar")) if folder.is_dir() else []
    if not jars:
        raise MissingJarsError(
            f"spark.jars_dir: no jars in {folder.resolve()}; run `make setup` once "
            "(mvn -f jvm/pom.xml dependency:copy-dependencies) to resolve Delta and Spark NLP"
        )
    return jars


def build_spark(settings: SparkSettings, app_name: str | None = None):
    """Build (or join) the SparkSession fanbase runs on."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name or settings.app_name)
    launched = launched_by_spark()
    if launched:
        from pyspark import SparkConf

        existing = SparkConf()  # what spark-submit or the cluster already set
        for key, value in settings.conf.items():
            if not existing.contains(key) and not _is_resource_setting(key):
                builder = builder.config(key, value)
    else:
        # Python workers must run the interpreter fanbase is installed in, not whatever
        # `python3` is first on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.master(settings.master)
        builder = builder.config("spark.jars", ",".join(local_jars(settings)))
        for key, value in settings.conf.items():
            builder = builder.config(key, value)

    spark = builder.getOrCreate()
    _check_class(spark, DELTA_EXTENSION_CLASS, settings)
    log.info("spark %s master=%s launched=%s", spark.version, spark.sparkContext.master, launched)
    return spark


@contextlib.contextmanager
def sql_conf(spark, settings: dict[str, str]):
    """Spark SQL ``settings`` on the session for the ``with`` block, then each key back
    to what it was (or unset). For one job's needs in a session the pipeline shares."""
    before = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def has_class(spark, class_name: str) -> bool:
    """Whether the driver can load a JVM class (Delta, Spark NLP)."""
    try:
        spark.sparkContext._jvm.org.apache.spark.util.Utils.classForName(class_name, True, False)
        return True
    except Exception:  # py4j wraps ClassNotFoundException
        return False


def _check_class(spark, class_name: str, settings: SparkSettings) -> None:
    if not has_class(spark, class_name):
        raise MissingJarsError(
            f"{class_name} is not on the class path; submit with "
            f"--packages {','.join(settings.packages)} or --jars from `make setup`"
        )


def _is_resource_setting(key: str) -> bool:
    # A cluster sizes its own driver and executors; never override that from conf/.
    return key.startswith(("spark.driver.", "spark.executor.", "spark.master"))
