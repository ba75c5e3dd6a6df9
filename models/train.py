"""Training the catalog: one task per (entry, partition value), run concurrently.

Tasks share one SparkSession from a small thread pool: a per-market model is a few
small Spark jobs, so while one thread waits on the driver (planning, MLflow, Python)
another keeps the executors busy. One failing model does not stop the others; its
error is recorded and the job fails at the end, naming it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field

from pyspark.sql.types import (
    BooleanType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from fanbase.models import churn, drift, prep, segmentation
from fanbase.models.catalog import Entry
from fanbase.models.churn import NotEnoughData, Trained, TrainingError
from fanbase.models.frames import ModelFrame, partition_rows
from fanbase.models.registry import Registry, partition_label, registered_name
from fanbase.parallel import in_parallel

log = logging.getLogger(__name__)

TRAINED_KINDS = ("churn", "segmentation")
EXAMPLE_ROWS = 3
# The run artifact (JSON) holding the training rows' drift profile (drift.profile).
DRIFT_REFERENCE = "drift_reference"

MODEL_RUNS = "ops.model_runs"
MODEL_RUNS_SCHEMA = StructType(
    [
        StructField("job_run_id", StringType(), False, {"comment": "the train job's run id"}),
        StructField("entry", StringType(), False, {"comment": "catalog entry name"}),
        StructField("kind", StringType(), False, {"comment": "churn, segmentation, ..."}),
        StructField("partition", StringType(), False, {"comment": "e.g. market=DE; '' if none"}),
        StructField("registered_model", StringType(), False, {"comment": "MLflow model name"}),
        StructField("version", LongType(), True, {"comment": "registered version; null if failed"}),
        StructField("alias", StringType(), True, {"comment": "champion or challenger"}),
        StructField("gates_passed", BooleanType(), True, {"comment": "every gate passed"}),
        StructField("failed_gates", StringType(), True, {"comment": "the gates missed, in words"}),
        StructField("metrics", StringType(), True, {"comment": "test metrics (JSON)"}),
        StructField("rows_fit", LongType(), True, {"comment": "rows the model was fitted on"}),
        StructField("mlflow_run_id", StringType(), True, {"comment": "MLflow run"}),
        StructField("error", StringType(), True, {"comment": "why training failed; null if not"}),
        StructField("seconds", DoubleType(), False, {"comment": "wall time of this model"}),
        StructField("trained_at", TimestampType(), False, {"comment": "end of training (UTC)"}),
        # Added after the first release: older rows have none (they count as changed).
        StructField("entry_digest", StringType(), True, {"comment": "hash of the entry"}),
        StructField(
            "skipped",
            BooleanType(),
            True,
            {"comment": "too little data for a model yet (reason in error): not a failure"},
        ),
    ]
)

# The evaluation curves of each churn model on its test rows, for the report: one row
# per point of the calibration curve (x = mean predicted probability, y = observed rate,
# per probability bin) and of the cumulative lift curve (x = share of customers targeted
# by score, y = churn rate among them over the overall rate).
MODEL_CURVES = "ops.model_curves"
CURVED = ("reliability", "lift")
MODEL_CURVES_SCHEMA = StructType(
    [
        StructField("job_run_id", StringType(), False, {"comment": "the train job's run id"}),
        StructField("entry", StringType(), False, {"comment": "catalog entry name"}),
        StructField("partition", StringType(), False, {"comment": "e.g. market=DE; '' if none"}),
        StructField("registered_model", StringType(), False, {"comment": "MLflow model name"}),
        StructField("version", LongType(), False, {"comment": "registered version"}),
        StructField("curve", StringType(), False, {"comment": "reliability or lift"}),
        StructField("point", LongType(), False, {"comment": "position on the curve, from 0"}),
        StructField("x", DoubleType(), True, {"comment": "mean probability / share targeted"}),
        StructField("y", DoubleType(), True, {"comment": "observed churn rate / lift"}),
        StructField("n", LongType(), False, {"comment": "test rows in the bin / targeted"}),
    ]
)
_XY = {"reliability": ("mean_probability", "observed_rate"), "lift": ("share", "lift")}


def model_run_row(
    job_run_id: str,
    entry: Entry,
    partition: str,
    name: str,
    registered=None,
    metrics: dict | None = None,
    rows: int | None = None,
    seconds: float = 0.0,
    error: str | None = None,
    skipped: bool = False,
) -> tuple:
    """One ``ops.model_runs`` row for a model a job fitted outside ``train_one``
    (survival, attribution, social): ``registered`` is the ``Registered`` result, or
    None when the fit failed with ``error`` (or was ``skipped`` for too little data,
    the reason in ``error``)."""
    failed = registered.failed_gates if registered else []
    return (
        job_run_id,
        entry.name,
        entry.kind,
        partition,
        name,
        registered.version if registered else None,
        registered.alias if registered else None,
        None if registered is None else not failed,
        "; ".join(failed) or None,
        json.dumps(metrics, default=str) if metrics is not None else None,
        rows,
        registered.run_id if registered else None,
        error,
        seconds,
        dt.datetime.now(dt.UTC).replace(tzinfo=None),
        entry.digest(),
        skipped,
    )


def ensure_model_runs(lake) -> None:
    """Create ``ops.model_runs``, or give a table from an older release its new columns."""
    lake.create(
        MODEL_RUNS, MODEL_RUNS_SCHEMA, comment="One row per model a job trained.", add_columns=True
    )


def record_model_runs(lake, spark, rows: list[tuple]) -> None:
    """Append rows to ``ops.model_runs`` (created if missing)."""
    if not rows:
        return
    ensure_model_runs(lake)
    lake.append(MODEL_RUNS, spark.createDataFrame(rows, MODEL_RUNS_SCHEMA))


@dataclass
class Task:
    entry: Entry
    values: tuple
    frame: ModelFrame


@dataclass
class Outcome:
    task: Task
    name: str
    seconds: float
    trained: Trained | None = None
    version: int | None = None
    alias: str | None = None
    run_id: str | None = None
    failed_gates: list[str] = field(default_factory=list)
    error: str | None = None
    skipped: bool = False  # error is why there is too little data, not a failure

    def curve_rows(self, job_run_id: str) -> list[tuple]:
        """This model's ``ops.model_curves`` rows (none if it failed or has no curves)."""
        if self.trained is None:
            return []
        e, rows = self.task.entry, []
        part = partition_label(e, self.task.values)
        for curve in CURVED:
            x, y = _XY[curve]
            for i, p in enumerate(self.trained.curves.get(curve, [])):
                rows.append(
                    (
                        job_run_id,
                        e.name,
                        part,
                        self.name,
                        self.version,
                        curve,
                        i,
                        p[x],
                        p[y],
                        p["n"],
                    )
                )
        return rows

    def row(self, job_run_id: str) -> tuple:
        e = self.task.entry
        t = self.trained
        return (
            job_run_id,
            e.name,
            e.kind,
            partition_label(e, self.task.values),
            self.name,
            self.version,
            self.alias,
            None if self.error else not self.failed_gates,
            "; ".join(self.failed_gates) or None,
            json.dumps(t.metrics, default=str) if t else None,
            t.rows.get("fit") if t else None,
            self.run_id,
            self.error,
            self.seconds,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
            e.digest(),
            self.skipped,
        )


def train_one(task: Task, registry: Registry, seed: int, job_run_id: str) -> Outcome:
    entry, values = task.entry, task.values
    name = registered_name(registry.prefix, entry, values)
    started = time.perf_counter()
    try:
        rows = partition_rows(task.frame, entry, values)
        if entry.kind == "churn":
            trained = churn.train(entry, task.frame, rows, seed)
        else:
            previous = registry.champion_artifact(name, "centroids.json")
            previous = {int(k): v for k, v in previous.items()} if previous else None
            trained = segmentation.train(entry, task.frame, rows, seed, previous)
        # The training rows' drift profile, kept with the model for monitor. Its two
        # jobs read the rows in few tasks (a market's rows lie in every frame partition).
        frame, n = task.frame, sum(trained.rows.values())
        reference = prep.right_sized(rows, n)
        trained.extra[DRIFT_REFERENCE] = drift.profile(reference, frame.features, frame.categorical)
        example = rows.select(*trained.input_columns).limit(EXAMPLE_ROWS)
        reg = registry.log(entry, values, trained, example, task.frame.lineage, job_run_id)
    except NotEnoughData as err:
        log.warning("%s: skipped: %s", name, err)
        return Outcome(task, name, time.perf_counter() - started, error=str(err), skipped=True)
    except TrainingError as err:
        log.error("%s: not trained: %s", name, err)
        return Outcome(task, name, time.perf_counter() - started, error=str(err))
    except Exception as err:  # noqa: BLE001 - one broken model must not stop the others
        log.exception("%s: training failed", name)
        error = _one_line(err)
        return Outcome(task, name, time.perf_counter() - started, error=error)
    seconds = time.perf_counter() - started
    log.info(
        "%s v%d -> %s (%s) in %.1fs",
        name,
        reg.version,
        reg.alias,
        ", ".join(f"{k}={v:.3f}" for k, v in trained.metrics.items()),
        seconds,
    )
    return Outcome(
        task,
        name,
        seconds,
        trained=trained,
        version=reg.version,
        alias=reg.alias,
        run_id=reg.run_id,
        failed_gates=reg.failed_gates,
    )


def train_all(
    tasks: list[Task], registry: Registry, seed: int, job_run_id: str, workers: int
) -> list[Outcome]:
    """Every task, ``workers`` at a time; outcomes in task order."""
    return in_parallel(lambda t: train_one(t, registry, seed, job_run_id), tasks, workers, "train")


def _one_line(err: Exception) -> str:
    """The cause in one line: for a JVM error, the Java exception's own message rather
    than py4j's "An error occurred while calling o123.fit"."""
    java = getattr(err, "java_exception", None)
    if java is not None:
        try:
            return str(java.toString()).strip().splitlines()[0]
        except Exception:  # noqa: BLE001 - the gateway may be gone; fall back below
            pass
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"
