"""Model catalog: models trained per minute with the partitioned entries trained
concurrently, against the same models one after another, in one process on the same
feature store; then the models against the generator's planted truth.

    .venv/bin/python benchmarks/bench_models.py [--home DIR] [--workers N] [--model NAME ...]

``--home``: a FANBASE_HOME that `fanbase run` filled (raw/ with _truth/, tables/);
default: generate, ingest and build the demo year in a temporary one (about 4 min).
MLflow goes to a fresh temporary store. Targets (issue 6): concurrent training at least
1.6x the models per minute of sequential training on 2 cores; churn ROC-AUC within
0.03 of the AUC of the true probabilities; segments against the latent ones with an
adjusted Rand index of at least 0.7.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakMemory, demo_spark, machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TRUTH_ENTRY = "churn_all_markets_logistic"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="FANBASE_HOME built by `fanbase run`")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="entries to time (default: every partitioned churn and segmentation entry)",
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "models.json"))
    args = parser.parse_args()

    home = Path(args.home or tempfile.mkdtemp(prefix="fanbase-bench-models-"))
    os.environ["FANBASE_HOME"] = str(home)
    os.environ.setdefault("FANBASE_JARS_DIR", str(REPO / ".jars"))
    mlflow_dir = Path(tempfile.mkdtemp(prefix="fanbase-bench-mlflow-"))

    from pyspark.sql import functions as F

    from fanbase.config import load_settings
    from fanbase.featurestore import FeatureStore
    from fanbase.jobs.train import load_entries, selected
    from fanbase.lakehouse import Lakehouse
    from fanbase.models.frames import FrameBuilder, partition_values
    from fanbase.models.registry import Registry
    from fanbase.models.train import Task, train_all
    from fanbase.session import build_spark
    from fanbase.tracking import configure_mlflow

    settings = load_settings(
        "local",
        overrides=[
            f"mlflow.tracking_uri=sqlite:///{mlflow_dir}/mlflow.db",
            f"mlflow.artifact_root={mlflow_dir}/artifacts",
        ],
    )

    def start():
        session = build_spark(settings.spark, app_name="fanbase-bench-models")
        session.sparkContext.setLogLevel("ERROR")
        return session

    spark = demo_spark(home, start, features=True)
    lake = Lakehouse(spark, settings.lakehouse)
    lake.register_all()
    builder = FrameBuilder(FeatureStore(lake, settings.features))
    registry = Registry(configure_mlflow(settings.mlflow), settings.models.registry_prefix)
    entries = load_entries(settings)
    trained_here = [e for e in entries if e.partition_by and e.kind in ("churn", "segmentation")]
    timed = selected(entries, args.model) if args.model else trained_here

    results: dict = {"machine": machine(), "home": str(home), "workers": args.workers}
    started = time.perf_counter()
    tasks = []
    for entry in timed:
        frame = builder.frame(entry)
        frame.df = frame.df.persist()
        frame.df.count()
        tasks += [Task(entry, values, frame) for values in partition_values(frame, entry)]
    results["prepare_seconds"] = round(time.perf_counter() - started, 1)
    results["models"] = len(tasks)
    results["entries"] = [e.name for e in timed]
    print(f"{len(tasks)} models from {len(timed)} entries", flush=True)

    runs = {}
    for label, workers in (("sequential", 1), ("concurrent", args.workers)):
        with PeakMemory() as memory:
            t0 = time.perf_counter()
            outcomes = train_all(tasks, registry, settings.models.seed, f"bench-{label}", workers)
            seconds = time.perf_counter() - t0
        failed = [o.name for o in outcomes if o.error]
        runs[label] = outcomes
        results[label] = {
            "workers": workers,
            "seconds": round(seconds, 1),
            "models_per_minute": round(len(tasks) / seconds * 60, 2),
            "peak_mb": round(memory.peak / 2**20),
            "failed": failed,
        }
        print(f"{label}: {results[label]}", flush=True)
    results["speedup"] = round(
        results["sequential"]["seconds"] / results["concurrent"]["seconds"], 2
    )
    results["speedup_target"] = 1.6
    print(f"speedup {results['speedup']}x (target 1.6x)", flush=True)

    results["truth"] = truth_checks(spark, home / "raw", builder, registry, entries, runs, F)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps(results["truth"], indent=2, default=str))
    return 0


def truth_checks(spark, raw, builder, registry, entries, runs, F) -> dict:
    """Churn: the global logistic model and each per-market churn model of the
    concurrent run against the true probabilities; segments: ARI per market."""
    import mlflow.spark

    from fanbase.demo import checks
    from fanbase.models.train import Task, train_one

    out: dict = {"auc_gap_target": 0.03, "ari_target": 0.7, "churn": [], "segments": []}
    by_name = {e.name: e for e in entries}
    outcomes = list(runs["concurrent"])
    if TRUTH_ENTRY in by_name and not any(o.task.entry.name == TRUTH_ENTRY for o in outcomes):
        entry = by_name[TRUTH_ENTRY]
        frame = builder.frame(entry)
        outcomes.append(train_one(Task(entry, (), frame), registry, 7, "bench-truth"))
    for o in outcomes:
        if o.error:
            continue
        entry = o.task.entry
        model = mlflow.spark.load_model(f"models:/{o.name}/{o.version}")
        where = None
        if entry.partition_by:
            where = F.col(entry.partition_by[0]) == o.task.values[0]
        if entry.kind == "churn":
            first = dt.date.fromisoformat(o.trained.params["test_first"])
            r = checks.churn_auc_vs_truth(spark, raw, builder, entry, model, first, where=where)
            out["churn"].append(
                {
                    "model": o.name,
                    **{
                        k: r[k]
                        for k in ("rows", "churners", "model_roc_auc", "truth_roc_auc", "gap")
                    },
                }
            )
        elif entry.kind == "segmentation":
            rows = o.task.frame.df if where is None else o.task.frame.df.where(where)
            r = checks.segments_ari(spark, raw, model.transform(rows))
            out["segments"].append({"model": o.name, "k": o.trained.metrics["k"], **r})
        print(out["churn"][-1] if entry.kind == "churn" else out["segments"][-1], flush=True)
    return out


if __name__ == "__main__":
    sys.exit(main())
