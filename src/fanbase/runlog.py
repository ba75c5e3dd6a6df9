"""The run log: one row per job run in ``ops.job_runs``, whatever the job.

``run_job`` (and each step of ``fanbase run``) appends the job, its parameters, the
Delta versions it reports having read, rows in and out, duration and status, with the
error when it failed. Runs that never started Spark (``generate``) are not logged: the
log lives in the lakehouse, and starting Spark only to log would double their time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from pyspark.sql.types import (
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

JOB_RUNS = "ops.job_runs"
log = logging.getLogger(__name__)


def _f(name, dtype, nullable=True, comment=""):
    return StructField(name, dtype, nullable, {"comment": comment} if comment else {})


SCHEMA = StructType(
    [
        _f("run_id", StringType(), False, "the run; steps of `fanbase run` share its id"),
        _f("job", StringType(), False, "job name"),
        _f("parent_job", StringType(), True, "`run` for a step of the pipeline, else null"),
        _f("env", StringType(), False, "config environment"),
        _f("parameters", StringType(), False, "the job's arguments and --set overrides (JSON)"),
        _f("input_tables", StringType(), True, "Delta tables and versions read, if reported"),
        _f("rows_in", LongType(), True, "rows read, as the job counts them"),
        _f("rows_out", LongType(), True, "rows written"),
        _f("seconds", DoubleType(), False, "wall time"),
        _f("status", StringType(), False, "ok, failed or skipped (inputs unchanged)"),
        _f("error", StringType(), True, "why it failed"),
        _f("code_version", StringType(), False, "fanbase version and commit"),
        _f("fingerprint", StringType(), True, "inputs, config and code it ran on (pipeline steps)"),
        _f("started_at", TimestampType(), False, "UTC"),
        _f("ended_at", TimestampType(), False, "UTC"),
    ]
)


def parameters(args) -> str:
    """The parsed arguments as JSON (the config ones included)."""
    return json.dumps(vars(args), sort_keys=True, default=str)


def _count(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def record(
    ctx,
    params: str,
    started_at: dt.datetime,
    seconds: float,
    summary: dict,
    error: BaseException | None = None,
    parent_job: str | None = None,
    status: str | None = None,
    fingerprint: str | None = None,
) -> None:
    """Append the run's row; never fails the job (a warning if the log cannot be written)."""
    if "spark" not in ctx.__dict__:
        return
    inputs = summary.get("input_tables")
    row = (
        ctx.run_id,
        ctx.job,
        parent_job,
        ctx.config.env,
        params,
        (inputs if isinstance(inputs, str) else json.dumps(inputs, sort_keys=True))
        if inputs
        else None,
        _count(summary.get("rows_in")),
        _count(summary.get("rows_out")),
        float(seconds),
        status or ("failed" if error else "ok"),
        f"{type(error).__name__}: {error}" if error else None,
        ctx.code_version,
        fingerprint,
        started_at,
        dt.datetime.now(dt.UTC).replace(tzinfo=None),
    )
    try:
        lake = ctx.lakehouse
        lake.create(JOB_RUNS, SCHEMA, comment="One row per job run: parameters, rows, status.")
        lake.append(JOB_RUNS, ctx.spark.createDataFrame([row], SCHEMA))
    except Exception as err:  # noqa: BLE001 - the log must not turn a run into a failure
        log.warning("could not write %s: %s", JOB_RUNS, err)


def fingerprint(ctx, reads: tuple[str, ...]) -> str:
    """What a pipeline step's outputs depend on, as JSON: the current Delta version of
    every table it reads (``reads``: layers such as ``silver`` or ``layer.table`` names),
    the resolved config, the model catalog's files and the code version."""
    import hashlib

    lake = ctx.lakehouse
    versions = {}
    for item in reads:
        names = [item] if "." in item else lake.tables(item)
        for name in names:
            versions[name] = lake.version(name) if lake.exists(name) else None
    config = json.dumps(ctx.config.model_dump(mode="json"), sort_keys=True, default=str)
    return json.dumps(
        {
            "tables": versions,
            "config": hashlib.sha256(config.encode()).hexdigest()[:16],
            "catalog": _catalog_digest(ctx.config),
            "code": ctx.code_version,
        },
        sort_keys=True,
    )


def _catalog_digest(config) -> str:
    import hashlib
    from pathlib import Path

    from fanbase.config import default_conf_dir

    folder = (
        Path(config.models.catalog_dir)
        if config.models.catalog_dir
        else default_conf_dir() / "models"
    )
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.endswith((".yml", ".yaml")):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def done_before(ctx, job: str, print_: str) -> str | None:
    """The run id of the newest successful run of ``job`` on the same fingerprint, if any."""
    from pyspark.sql import functions as F

    lake = ctx.lakehouse
    if not lake.exists(JOB_RUNS):
        return None
    row = (
        lake.read(JOB_RUNS)
        .where((F.col("job") == job) & (F.col("status") == "ok") & (F.col("fingerprint") == print_))
        .orderBy(F.col("ended_at").desc())
        .select("run_id")
        .first()
    )
    return row.run_id if row else None
