"""The embedded runtime: Spark with Delta and Spark NLP, the lakehouse writer, MLflow."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from fanbase.lakehouse import TableLayoutError

pytestmark = pytest.mark.spark


def _schema():
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    return StructType(
        [
            StructField("user_id", StringType(), False, {"comment": "pseudonymous subscriber"}),
            StructField("watch_seconds", LongType(), True, {"comment": "seconds watched"}),
        ]
    )


def test_session_has_delta_and_spark_nlp(spark):
    from fanbase.session import DELTA_EXTENSION_CLASS, SPARK_NLP_CLASS, has_class

    assert has_class(spark, DELTA_EXTENSION_CLASS)
    assert has_class(spark, SPARK_NLP_CLASS)
    assert spark.conf.get("spark.sql.catalog.spark_catalog").endswith("DeltaCatalog")
    assert not has_class(spark, "com.example.NoSuchClass")


def test_sql_conf_holds_for_the_block_and_puts_every_key_back(spark):
    from fanbase.session import sql_conf

    set_before, unset_before = "spark.sql.shuffle.partitions", "spark.sql.fanbase.test_key"
    was = spark.conf.get(set_before)
    assert spark.conf.get(unset_before, None) is None
    with pytest.raises(RuntimeError, match="inside"):
        with sql_conf(spark, {set_before: "3", unset_before: "on"}):
            assert spark.conf.get(set_before) == "3" and spark.conf.get(unset_before) == "on"
            raise RuntimeError("inside")  # put back on the way out of a failure too
    assert spark.conf.get(set_before) == was
    assert spark.conf.get(unset_before, None) is None


def test_sql_in_matches_isin_for_strings_with_quotes_and_for_dates(spark):
    import datetime as dt

    from pyspark.sql import functions as F

    from fanbase.lakehouse import sql_in

    names = ["a.jsonl", "it's.jsonl", "back\\slash.jsonl", "c.jsonl"]
    days = [dt.date(2024, 1, d) for d in (1, 2, 3)]
    df = spark.createDataFrame(list(zip(names, days + [None], strict=True)), "f string, d date")
    wanted = names[1:3]
    assert sorted(r.f for r in df.where(sql_in("f", wanted)).collect()) == sorted(wanted)
    assert df.where(sql_in("f", wanted)).count() == df.where(F.col("f").isin(wanted)).count()
    assert sorted(r.f for r in df.where(sql_in("d", days[1:])).collect()) == sorted(names[1:3])
    assert df.where(~sql_in("f", [])).count() == 4


def test_create_merge_constraints_history_and_names(spark, lakehouse):
    table = "test.watch"
    lakehouse.create(
        table,
        _schema(),
        comment="test table",
        constraints={"watch_non_negative": "watch_seconds >= 0"},
    )
    lakehouse.create(table, _schema(), constraints={"watch_non_negative": "watch_seconds >= 0"})

    first = spark.createDataFrame([("u1", 10), ("u2", 20)], _schema())
    result = lakehouse.merge(table, first, keys=["user_id"])
    assert (result.inserted, result.updated) == (2, 0)
    again = lakehouse.merge(table, first, keys=["user_id"], update=False)
    assert (again.inserted, again.updated) == (0, 0)
    changed = spark.createDataFrame([("u2", 25), ("u3", 5)], _schema())
    result = lakehouse.merge(table, changed, keys=["user_id"])
    assert (result.inserted, result.updated) == (1, 1)

    rows = {r.user_id: r.watch_seconds for r in spark.sql("SELECT * FROM test.watch").collect()}
    assert rows == {"u1": 10, "u2": 25, "u3": 5}
    assert lakehouse.read(table, version=result.version - 1).count() == 2

    comments = {r.col_name: r.comment for r in spark.sql("DESCRIBE TABLE test.watch").collect()}
    assert comments["watch_seconds"] == "seconds watched"
    with pytest.raises(Exception, match="watch_non_negative"):
        lakehouse.append(table, spark.createDataFrame([("u4", -1)], _schema()))
    with pytest.raises(Exception, match="NOT NULL constraint violated for column: user_id"):
        lakehouse.append(
            table, spark.createDataFrame([(None, 1)], "user_id string, watch_seconds long")
        )
    assert lakehouse.read(table).count() == 3


def test_version_and_merge_counts_from_the_delta_log_equal_history_and_fall_back_to_it(
    spark, lakehouse, monkeypatch
):
    import fanbase.lakehouse as lakehouse_module

    table = "test.versions"
    lakehouse.create(table, _schema())
    rows = spark.createDataFrame([("u1", 10)], _schema())
    # The counts come from the commit's entry in the log, as history(1) has them.
    appended = lakehouse.merge(table, rows, keys=["user_id"])  # an append: it was empty
    assert (appended.inserted, appended.updated, appended.version) == (1, 0, 1)
    result = lakehouse.merge(table, spark.createDataFrame([("u1", 11)], _schema()), ["user_id"])
    history = int(lakehouse.delta(table).history(1).first()["version"])
    assert (result.inserted, result.updated, result.version) == (0, 1, 2) and history == 2
    assert lakehouse_module._log_snapshot(spark, lakehouse.location(table)).version() == history
    assert lakehouse.version(table) == history
    # Without the log read (another Delta), history answers, and MERGE still counts.
    monkeypatch.setattr(lakehouse_module, "_log_snapshot", lambda spark, location: None)
    assert lakehouse.version(table) == history
    same = lakehouse.merge(table, rows, ["user_id"], update=False)
    assert (same.inserted, same.updated, same.version) == (0, 0, history)  # no commit
    changed = lakehouse.merge(table, spark.createDataFrame([("u2", 1)], _schema()), ["user_id"])
    assert (changed.inserted, changed.updated, changed.version) == (1, 0, history + 1)

    class Foreign:  # a Delta whose snapshot lacks the method asked for
        def version(self):
            raise AttributeError("no such method")

    monkeypatch.setattr(lakehouse_module, "_log_snapshot", lambda spark, location: Foreign())
    assert lakehouse.version(table) == history + 1
    assert lakehouse.partition_columns(table) == []
    # No table at a path: the log says -1 and the error is history's, as before.
    monkeypatch.undo()
    with pytest.raises(Exception, match="not a Delta table"):
        lakehouse.version("test.never_created")


def test_layout_and_emptiness_from_the_delta_log_equal_describe_detail(
    spark, lakehouse, monkeypatch
):
    import datetime as dt

    from pyspark.sql.types import DateType, StructField, StructType

    import fanbase.lakehouse as lakehouse_module

    dated = StructType([*_schema().fields, StructField("day", DateType(), True, {})])
    lakehouse.create("test.flat", _schema())
    lakehouse.create(
        "test.by_day",
        dated,
        partition_by=["day"],
        constraints={"watch_non_negative": "watch_seconds >= 0"},
        properties={"delta.enableChangeDataFeed": "true"},
    )
    properties = {
        "delta.enableChangeDataFeed": "true",
        "delta.constraints.watch_non_negative": "watch_seconds >= 0",
    }

    def read():
        return [
            (
                lakehouse.partition_columns(t),
                lakehouse._detail(t)["properties"],
                lakehouse._is_empty(t),
            )
            for t in ("test.flat", "test.by_day")
        ]

    def layout():
        """Per table, from the log (emptiness from the commit's checksum file), from the
        log without checksums (the snapshot's file count), and from DESCRIBE DETAIL:
        (partition columns, properties, empty)."""
        readings = [read()]
        with monkeypatch.context() as m:
            m.setattr(lakehouse_module, "_checksum_files", lambda location, version: None)
            readings.append(read())
            m.setattr(lakehouse_module, "_log_snapshot", lambda spark, location: None)
            readings.append(read())
        return readings

    assert layout() == [[([], {}, True), (["day"], properties, True)]] * 3
    row = spark.createDataFrame([("u1", 1, dt.date(2025, 1, 1))], dated)
    assert lakehouse.merge("test.by_day", row, ["user_id"]).inserted == 1  # an append
    assert layout() == [[([], {}, True), (["day"], properties, False)]] * 3
    # Emptied by a DELETE (no files at a later version): the next MERGE appends again.
    lakehouse.delta("test.by_day").delete()
    assert layout() == [[([], {}, True), (["day"], properties, True)]] * 3
    # A commit without its checksum file (a writer that skips them): the snapshot counts.
    log_dir = Path(lakehouse.location("test.by_day")) / "_delta_log"
    version = lakehouse.version("test.by_day")
    assert lakehouse_module._checksum_files(str(log_dir.parent), version) == 0
    (log_dir / f"{version:020d}.crc").unlink()
    assert lakehouse_module._checksum_files(str(log_dir.parent), version) is None
    assert lakehouse._is_empty("test.by_day") is True
    assert lakehouse.merge("test.by_day", row, ["user_id"]).inserted == 1
    assert lakehouse.read("test.by_day").count() == 1
    version = lakehouse.version("test.by_day")
    assert lakehouse_module._checksum_files(str(log_dir.parent), version) == 1
    assert lakehouse._is_empty("test.by_day") is False


def test_a_name_follows_the_root_that_last_created_or_reopened_its_table(spark, settings, tmp_path):
    from fanbase.lakehouse import Lakehouse

    def root(name):
        return Lakehouse(
            spark, settings.lakehouse.model_copy(update={"root": str(tmp_path / name)})
        )

    first, second = root("a"), root("b")
    first.create("test.shared", _schema())
    first.append("test.shared", spark.createDataFrame([("u1", 1)], _schema()))
    second.create("test.shared", _schema())  # the name pointed at a: it now points at b
    second.append("test.shared", spark.createDataFrame([("u2", 2), ("u3", 3)], _schema()))
    location = spark.sql("DESCRIBE DETAIL test.shared").first()["location"]
    assert location.removeprefix("file:") == second.location("test.shared")
    assert spark.table("test.shared").count() == 2
    first.create("test.shared", _schema())  # it exists: the name goes back to a
    assert spark.table("test.shared").count() == 1
    comments = {r.col_name: r.comment for r in spark.sql("DESCRIBE TABLE test.shared").collect()}
    assert comments["user_id"] == "pseudonymous subscriber"


def test_an_existing_table_gets_the_properties_declared_since_and_no_commit_otherwise(
    spark, lakehouse
):
    table = "test.props"
    lakehouse.create(table, _schema(), properties={"delta.enableChangeDataFeed": "true"})
    declared = {
        "delta.enableChangeDataFeed": "true",
        "delta.dataSkippingStatsColumns": "user_id",
    }
    lakehouse.create(table, _schema(), properties=declared)
    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
    assert props["delta.dataSkippingStatsColumns"] == "user_id"
    version = lakehouse.version(table)
    lakehouse.create(table, _schema(), properties=declared)  # nothing new: no commit
    assert lakehouse.version(table) == version


def test_register_all_makes_tables_reachable_by_name(spark, lakehouse):
    lakehouse.create("test.registered", _schema())
    spark.sql("DROP TABLE test.registered")  # forget the name, keep the files
    assert lakehouse.exists("test.registered")
    assert "test.registered" in lakehouse.register_all()
    assert spark.sql("SELECT count(*) AS n FROM test.registered").first().n == 0


def test_a_table_rebuilt_whole_takes_new_columns_and_keeps_history(spark, lakehouse):
    from pyspark.sql.types import DoubleType, StructField, StructType

    table = "test.redefined"
    lakehouse.create(table, _schema(), constraints={"watch_non_negative": "watch_seconds >= 0"})
    lakehouse.append(table, spark.createDataFrame([("u1", 10)], _schema()))
    # Unchanged columns: nothing happens, the rows stay.
    lakehouse.create(table, _schema(), replace_if_changed=True)
    assert lakehouse.read(table).count() == 1

    wider = StructType(
        [*_schema().fields, StructField("share", DoubleType(), True, {"comment": "a share"})]
    )
    lakehouse.create(
        table,
        wider,
        constraints={"share_range": "share BETWEEN 0 AND 1"},
        replace_if_changed=True,
    )
    assert lakehouse.read(table).columns == ["user_id", "watch_seconds", "share"]
    assert lakehouse.read(table).count() == 0
    assert lakehouse.read(table, version=1).count() == 1  # history kept
    comments = {r.col_name: r.comment for r in spark.sql(f"DESCRIBE TABLE {table}").collect()}
    assert comments["share"] == "a share" and comments["watch_seconds"] == "seconds watched"
    # Required columns stay required (a CHECK: Delta cannot re-add NOT NULL).
    with pytest.raises(Exception, match="user_id_not_null"):
        lakehouse.append(
            table,
            spark.createDataFrame(
                [(None, 1, 0.5)], "user_id string, watch_seconds long, share double"
            ),
        )
    with pytest.raises(Exception, match="share_range"):
        lakehouse.append(table, spark.createDataFrame([("u1", 1, 2.0)], wider))


def test_a_log_table_gains_a_nullable_column_and_keeps_its_rows(spark, lakehouse):
    from pyspark.sql.types import StringType, StructField, StructType

    table = "test.grown"
    lakehouse.create(table, _schema())
    lakehouse.append(table, spark.createDataFrame([("u1", 10)], _schema()))
    grown = StructType(
        [*_schema().fields, StructField("note", StringType(), True, {"comment": "a note"})]
    )
    # Only if asked: otherwise a missing column means the table is from older code.
    with pytest.raises(TableLayoutError, match=r"test.grown at .* lacking \['note'\]"):
        lakehouse.create(table, grown)
    assert lakehouse.read(table).columns == ["user_id", "watch_seconds"]
    lakehouse.create(table, grown, add_columns=True)
    lakehouse.append(table, spark.createDataFrame([("u2", 5, "new")], grown))
    rows = sorted(tuple(r) for r in lakehouse.read(table).collect())
    assert rows == [("u1", 10, None), ("u2", 5, "new")]
    comments = {r.col_name: r.comment for r in spark.sql(f"DESCRIBE TABLE {table}").collect()}
    assert comments["note"] == "a note"
    required = StructType([*grown.fields, StructField("must", StringType(), False)])
    with pytest.raises(ValueError, match=r"new columns \['must'\] are NOT NULL"):
        lakehouse.create(table, required, add_columns=True)


def test_a_table_partitioned_otherwise_is_an_error_saying_how_to_rebuild(spark, lakehouse):
    table = "test.daily"
    lakehouse.create(table, _schema(), partition_by=["user_id"])
    lakehouse.create(table, _schema(), partition_by=["user_id"])  # as it is: fine
    with pytest.raises(TableLayoutError, match=r"partitioned by \['user_id'\].*--from-bronze"):
        lakehouse.create(table, _schema(), partition_by=["watch_seconds"])


def test_table_names_must_have_a_layer(lakehouse):
    with pytest.raises(ValueError, match="layer.table"):
        lakehouse.name("events")


def test_smoke_job_is_idempotent_and_logs_to_mlflow(spark, settings):
    import mlflow

    from fanbase.jobs import smoke
    from fanbase.jobs._runner import add_common_arguments, run_job

    parser = argparse.ArgumentParser()
    smoke.add_arguments(parser)
    add_common_arguments(parser)
    args = parser.parse_args(["--rows", "50"])
    first = run_job(smoke, args, spark=spark)
    second = run_job(smoke, args, spark=spark)
    expected_total = sum(i * i for i in range(50))
    assert (first["rows_out"], first["value_total"], first["inserted"]) == (50, expected_total, 50)
    assert (second["rows_out"], second["value_total"], second["inserted"]) == (
        50,
        expected_total,
        0,
    )
    run = mlflow.get_run(second["mlflow_run_id"])
    assert run.data.metrics["rows"] == 50
    assert run.data.tags["fanbase.job"] == "smoke"
    assert mlflow.get_tracking_uri().startswith("sqlite:///")
    # Both runs are in the run log, with their parameters and counts.
    from fanbase.lakehouse import Lakehouse
    from fanbase.runlog import JOB_RUNS

    logged = Lakehouse(spark, settings.lakehouse).read(JOB_RUNS)
    rows = {r.run_id: r for r in logged.where("job = 'smoke'").collect()}
    for summary in (first, second):
        row = rows[summary["run_id"]]
        assert (row.status, row.error, row.rows_out, row.env) == ("ok", None, 50, "local")
        assert json.loads(row.parameters)["rows"] == 50
        assert row.seconds == summary["seconds"] and row.ended_at >= row.started_at


def test_a_failed_run_is_logged_with_its_error(spark, settings):
    import types

    from fanbase.jobs._runner import build_parser, run_job
    from fanbase.lakehouse import Lakehouse
    from fanbase.runlog import JOB_RUNS

    def run(ctx, args):
        ctx.spark.range(3).count()
        raise ValueError("no fixtures for 2031-02-30")

    boom = types.SimpleNamespace(NAME="boom", HELP="fails", add_arguments=lambda p: None, run=run)
    with pytest.raises(ValueError, match="no fixtures"):
        run_job(boom, build_parser(boom).parse_args([]), spark=spark)
    (row,) = Lakehouse(spark, settings.lakehouse).read(JOB_RUNS).where("job = 'boom'").collect()
    assert (row.status, row.error) == ("failed", "ValueError: no fixtures for 2031-02-30")
    assert row.rows_out is None and row.seconds >= 0


def test_a_pipeline_step_is_skipped_while_its_inputs_are_unchanged(spark, settings):
    from pyspark.sql.types import LongType, StructField, StructType

    from fanbase.jobs import run as pipeline
    from fanbase.jobs._runner import JobContext
    from fanbase.lakehouse import Lakehouse
    from fanbase.runlog import JOB_RUNS

    lake = Lakehouse(spark, settings.lakehouse)
    schema = StructType([StructField("n", LongType(), False)])
    lake.create("silver.fp_probe", schema, comment="fingerprint probe")
    ctx = JobContext(settings, "run", spark=spark)
    summary: list[dict] = []

    def step(force=False):
        return pipeline._step(
            ctx, "smoke", ["--rows", "5"], summary, 4, reads=("silver",), force=force
        )["status"]

    assert step() == "ok"  # never ran on these inputs
    assert step() == "skipped"
    lake.append("silver.fp_probe", spark.createDataFrame([(1,)], schema))
    assert step() == "ok"  # a silver table has a new version
    assert step(force=True) == "ok"
    assert step() == "skipped"
    logged = lake.read(JOB_RUNS).where(f"run_id = '{ctx.run_id}' AND job = 'smoke'")
    statuses = [r.status for r in logged.orderBy("started_at").collect()]
    assert statuses == ["ok", "skipped", "ok", "ok", "skipped"]
    assert {r.parent_job for r in logged.collect()} == {"run"}
    assert [r["status"] for r in summary] == statuses
    assert "skipped" in pipeline.format_summary(summary).splitlines()[2]
