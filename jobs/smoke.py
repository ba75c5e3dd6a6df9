"""Smoke pipeline: write a Delta table, read it back, log an MLflow run.

It proves the runtime end to end on any cluster (Delta extension and catalog, MERGE,
history, MLflow store) and records where the executors loaded fanbase from, so a
cluster test can check that the code came from the shipped wheel.
"""

from __future__ import annotations

import argparse

from fanbase.jobs._runner import JobContext, main_for

NAME = "smoke"
HELP = "write, merge and read back a Delta table and log an MLflow run"
TABLE = "ops.smoke"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1000, help="rows to write (default 1000)")


def _code_origin(_rows):
    import fanbase

    yield fanbase.__file__


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    import mlflow
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StructField, StructType

    spark, lake = ctx.spark, ctx.lakehouse
    schema = StructType(
        [
            StructField("id", LongType(), False, {"comment": "row number"}),
            StructField("bucket", LongType(), False, {"comment": "id modulo 10"}),
            StructField("value", LongType(), False, {"comment": "id squared"}),
        ]
    )
    lake.create(TABLE, schema, comment="fanbase smoke test", constraints={"value_ok": "value >= 0"})
    rows = spark.range(args.rows).select(
        F.col("id"), (F.col("id") % 10).alias("bucket"), (F.col("id") * F.col("id")).alias("value")
    )
    result = lake.merge(TABLE, rows, keys=["id"])
    back = lake.read(TABLE)
    stats = back.agg(F.count("*").alias("n"), F.sum("value").alias("total")).first()
    origins = sorted(
        set(spark.sparkContext.parallelize(range(4), 4).mapPartitions(_code_origin).collect())
    )
    ctx.log.info("executor code from: %s", ", ".join(origins))

    ctx.configure_mlflow()
    with mlflow.start_run(run_name=f"smoke-{ctx.run_id}") as run:
        mlflow.log_params({"rows": args.rows, "code_version": ctx.code_version})
        mlflow.log_metrics({"rows": stats["n"], "value_total": float(stats["total"])})
        mlflow.set_tags({"fanbase.job": NAME, "fanbase.run_id": ctx.run_id})
    return {
        "rows_out": int(stats["n"]),
        "value_total": int(stats["total"]),
        "inserted": result.inserted,
        "table_version": result.version,
        "mlflow_run_id": run.info.run_id,
        "executor_code": origins,
    }


if __name__ == "__main__":
    main_for(__name__)
