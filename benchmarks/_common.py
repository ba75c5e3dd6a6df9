"""What the benchmarks share: peak memory sampling and the machine's description."""

from __future__ import annotations

import os
import platform
import sys
import threading
import time

import psutil


class PeakMemory:
    """Peak RSS of this process and its children (the local-mode driver JVM)."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                rss = me.memory_info().rss + sum(
                    c.memory_info().rss for c in me.children(recursive=True)
                )
            except psutil.Error:
                rss = 0
            self.peak = max(self.peak, rss)
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def demo_spark(home, start_spark, *, features: bool, users: int | None = None):
    """A SparkSession on a demo FANBASE_HOME, first making what it lacks: the raw demo
    year (generated before Spark starts: the generator forks worker processes, which
    must not inherit the driver's connection to the JVM), silver and, if asked, the
    feature store."""
    from pathlib import Path

    from fanbase.jobs import features as features_job
    from fanbase.jobs import generate, ingest
    from fanbase.jobs._runner import build_parser, run_job

    home = Path(home)
    if not (home / "raw" / "events").is_dir():
        argv = ["--set", f"generator.users={users}"] if users else []
        print(f"generating the demo year into {home}...", flush=True)
        run_job(generate, build_parser(generate).parse_args(argv))
    spark = start_spark()
    steps = [(ingest, "silver")] + ([(features_job, "features")] if features else [])
    for module, layer in steps:
        if not (home / "tables" / layer).is_dir():
            print(f"building {layer}...", flush=True)
            run_job(module, build_parser(module).parse_args([]), spark=spark)
    return spark


def last_job_run(lake, job: str) -> tuple[str, float, int | None] | None:
    """(run id, seconds, rows in) of the newest successful run of ``job`` in
    ``ops.job_runs``, or None: what a benchmark reuses when the pipeline has just run
    the job on the same home (``--job-from-run-log``)."""
    from pyspark.sql import functions as F

    if not lake.exists("ops.job_runs"):
        return None
    runs = lake.read("ops.job_runs").where((F.col("job") == job) & (F.col("status") == "ok"))
    newest = runs.orderBy(F.col("started_at").desc()).select("run_id", "seconds", "rows_in")
    row = newest.first()
    return None if row is None else (row.run_id, float(row.seconds), row.rows_in)
