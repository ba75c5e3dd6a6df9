"""Survival: partitions fitted per minute through ``applyInPandas`` against a loop on
the driver over ``toPandas()`` of the same rows, with the driver's memory for each;
then the planted hazard ratios at demo scale.

    .venv/bin/python benchmarks/bench_survival.py [--home DIR] [--model NAME] [--copies N]

Both ways are warmed up on the smallest partition first (Python workers start and
import lifelines once per job); the warm-up times are reported beside the runs.

``--home``: a FANBASE_HOME that `fanbase run` filled (raw/ with _truth/, tables/);
default: generate, ingest and build the demo year in a temporary one (about 4 min).
The entry's rows (default ``survival_by_market``: 10 markets, Cox + Kaplan-Meier +
two AFT models each) are built once and saved as Parquet, so both ways time the same
fitting work from the same files. ``--copies``: also time the rows repeated N times
(new spell ids), to show how driver memory follows the table in each way.

Targets (issue 7): applyInPandas at least 1.6x the partitions per minute of the
driver loop on 2 cores, driver memory flat in the table size; hazard ratios within
15 % of the planted multipliers at demo scale.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import demo_spark, machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TRUTH_ENTRY = "voluntary_churn_hazards"


class DriverPeak:
    """Peak RSS of this Python process alone (the driver's Python side), sampled."""

    def __init__(self, interval: float = 0.05):
        import threading

        self.interval, self.peak, self.start = interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, me.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self):
        import gc

        gc.collect()
        self.start = psutil.Process().memory_info().rss
        self.peak = self.start
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return round((self.peak - self.start) / 2**20, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="FANBASE_HOME built by `fanbase run`")
    parser.add_argument("--model", default="survival_by_market")
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--no-truth", action="store_true", help="skip the hazard-ratio check")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "survival.json"))
    args = parser.parse_args()

    home = Path(args.home or tempfile.mkdtemp(prefix="fanbase-bench-survival-"))
    os.environ["FANBASE_HOME"] = str(home)
    os.environ.setdefault("FANBASE_JARS_DIR", str(REPO / ".jars"))

    from pyspark.sql import functions as F

    from fanbase.config import load_settings
    from fanbase.featurestore import FeatureStore
    from fanbase.jobs.train import load_entries, selected
    from fanbase.lakehouse import Lakehouse
    from fanbase.models import survival, survival_fit
    from fanbase.models.frames import FrameBuilder, ModelFrame
    from fanbase.session import build_spark

    settings = load_settings("local")

    def start():
        session = build_spark(settings.spark, app_name="fanbase-bench-survival")
        session.sparkContext.setLogLevel("ERROR")
        return session

    spark = demo_spark(home, start, features=True)
    lake = Lakehouse(spark, settings.lakehouse)
    lake.register_all()
    builder = FrameBuilder(FeatureStore(lake, settings.features))
    entries = load_entries(settings)
    (entry,) = selected(entries, [args.model])

    results: dict = {"machine": machine(), "home": str(home), "model": entry.name}
    t0 = time.perf_counter()
    frames = builder.survival_frames(entry)
    spec = survival_fit.spec_for(entry, frames.fit, settings.value.horizon_days)
    staged = Path(tempfile.mkdtemp(prefix="fanbase-bench-rows-"))
    frames.fit.df.write.mode("overwrite").parquet(str(staged / "x1"))
    results["prepare_seconds"] = round(time.perf_counter() - t0, 1)

    sizes = {1: staged / "x1"}
    if args.copies > 1:
        base = spark.read.parquet(str(staged / "x1"))
        copies = spark.range(args.copies).withColumnRenamed("id", "_copy")
        (
            base.crossJoin(copies)
            .withColumn("subscription_id", F.concat_ws("#", "subscription_id", "_copy"))
            .drop("_copy")
            .write.mode("overwrite")
            .parquet(str(staged / f"x{args.copies}"))
        )
        sizes[args.copies] = staged / f"x{args.copies}"

    # Warm both ways up on the smallest partition first: Spark's Python workers start
    # and import pandas and lifelines once per job (about 4 s here, timed separately);
    # the driver imports them once too.
    rows = spark.read.parquet(str(sizes[1]))
    keys = list(spec.partition_by)
    smallest = rows.groupBy(*keys).count().orderBy("count").first()
    sample = rows.where(" AND ".join(f"{k} = '{smallest[k]}'" for k in keys))
    t = time.perf_counter()
    survival_fit.fit_partitions(ModelFrame(sample, [], [], None), spec)
    results["warm_up_seconds"] = {"apply_in_pandas": round(time.perf_counter() - t, 1)}
    t = time.perf_counter()
    survival.fit_partition(sample.toPandas(), spec)
    results["warm_up_seconds"]["driver_loop"] = round(time.perf_counter() - t, 1)

    results["runs"] = []
    for copies, path in sizes.items():
        rows = spark.read.parquet(str(path))
        n = rows.count()
        frame = ModelFrame(rows, list(spec.covariates), list(spec.categorical), None)

        with DriverPeak() as mem:
            t = time.perf_counter()
            distributed = survival_fit.fit_partitions(frame, spec)
            spark_seconds = time.perf_counter() - t
        spark_mem = mem.growth_mb

        with DriverPeak() as mem:
            t = time.perf_counter()
            pdf = rows.toPandas()
            local = [
                survival.fit_partition(group, spec)
                for _, group in pdf.groupby(list(spec.partition_by), sort=True)
            ]
            loop_seconds = time.perf_counter() - t
            del pdf
        loop_mem = mem.growth_mb

        parts = len(distributed)
        same = _same_fits(distributed, local)
        run = {
            "copies": copies,
            "rows": n,
            "partitions": parts,
            "apply_in_pandas": {
                "seconds": round(spark_seconds, 1),
                "partitions_per_minute": round(parts / spark_seconds * 60, 2),
                "driver_python_growth_mb": spark_mem,
            },
            "driver_loop": {
                "seconds": round(loop_seconds, 1),
                "partitions_per_minute": round(parts / loop_seconds * 60, 2),
                "driver_python_growth_mb": loop_mem,
            },
            "speedup": round(loop_seconds / spark_seconds, 2),
            "same_coefficients": same,
        }
        results["runs"].append(run)
        print(json.dumps(run), flush=True)
    results["speedup_target"] = 1.6

    if not args.no_truth:
        from fanbase.demo import checks

        (truth_entry,) = selected(entries, [TRUTH_ENTRY])
        results["truth"] = checks.survival_vs_truth(spark, home / "raw", builder, truth_entry)
        results["truth"]["tolerance"] = 0.15
        print(json.dumps(results["truth"], indent=1), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


def _same_fits(distributed, local) -> bool:
    """Both ways fit the same models: equal coefficients partition by partition."""
    ours = [p.result.get("coefficients", []) for p in distributed]
    theirs = [r.get("coefficients", []) for r in local]
    if len(ours) != len(theirs):
        return False
    for a, b in zip(ours, theirs, strict=True):
        if [c["term"] for c in a] != [c["term"] for c in b]:
            return False
        if any(abs(x["coef"] - y["coef"]) > 1e-8 for x, y in zip(a, b, strict=True)):
            return False
    return True


if __name__ == "__main__":
    sys.exit(main())
