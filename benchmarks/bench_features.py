"""Feature store build: Spark full build against DuckDB, and one incremental day
against a full rebuild, in one process on the same silver data.

    .venv/bin/python benchmarks/bench_features.py [--raw DIR] [--users N --days D]

Steps: ingest every landing date but the last; full Spark build; the DuckDB build of
the same spine and aggregates (benchmarks/duckdb_features.py) on the same silver;
ingest the last landing date; incremental Spark build; full Spark rebuild of the same
data. Targets (issue 5): full build within 3x of DuckDB; an incremental day at most 5 %
of the full rebuild. Peak memory: this process and its children (the driver JVM).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakMemory, machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _timed(label: str, results: dict, fn):
    with PeakMemory() as memory:
        started = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - started
    results[label] = {"seconds": round(seconds, 1), "peak_mb": round(memory.peak / 2**20)}
    print(f"{label}: {seconds:.1f}s, peak {memory.peak / 2**20:.0f} MB", flush=True)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", help="raw root (default: generate the demo data)")
    parser.add_argument("--users", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument(
        "--cache",
        help="folder to keep the silver of all but the last landing date in, and reuse on "
        "the next run (saves the long ingest when iterating)",
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "features.json"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fanbase-bench-features-"))
    os.environ["FANBASE_HOME"] = str(work)
    os.environ.setdefault("FANBASE_JARS_DIR", str(REPO / ".jars"))

    import duckdb_features
    from pyspark.sql import functions as F

    from fanbase.config import load_settings
    from fanbase.demo import generate
    from fanbase.demo.settings import GeneratorSettings
    from fanbase.features.compute import unique_aggregates
    from fanbase.featurestore import INPUTS, FeatureStore
    from fanbase.ingest.load import IngestRun
    from fanbase.lakehouse import Lakehouse
    from fanbase.logs import configure_logging
    from fanbase.session import build_spark

    configure_logging("INFO")
    raw = Path(args.raw) if args.raw else work / "raw"
    if not args.raw:
        updates = {k: v for k, v in (("users", args.users), ("days", args.days)) if v}
        print(f"generating demo data into {raw} ...", flush=True)
        generate(raw, GeneratorSettings().model_copy(update=updates))
    dates = sorted(p.name.removeprefix("date=") for p in (raw / "events").glob("date=*"))
    import datetime as dt

    head = [dt.date.fromisoformat(d) for d in dates[:-1]]
    last_day = [dt.date.fromisoformat(dates[-1])]

    settings = load_settings("local")
    spark = build_spark(settings.spark, app_name="fanbase-bench-features")
    spark.sparkContext.setLogLevel("ERROR")
    lake = Lakehouse(spark, settings.lakehouse)
    tables = Path(settings.lakehouse.root).resolve()
    if args.cache and Path(args.cache).is_dir():
        print(f"reusing silver from {args.cache}", flush=True)
        shutil.copytree(args.cache, tables)
        lake.register_all()
    else:
        print(f"ingesting {len(head)} landing dates ...", flush=True)
        IngestRun(lake, str(raw), "bench-head", head).run()
        if args.cache:
            shutil.copytree(tables, args.cache)
    store = FeatureStore(lake, settings.features)
    results: dict[str, dict] = {}

    full = _timed("spark_full_build", results, lambda: store.build("bench-full", full=True))
    inputs = {n: lake.read(t) for n, t in INPUTS.items()}
    first, last = store.date_range(inputs)
    tables_root = settings.lakehouse.root
    aggregates = unique_aggregates(store.groups)
    duck_counts = _timed(
        "duckdb_full_build",
        results,
        lambda: duckdb_features.build(
            str(Path(tables_root).resolve()),
            store.groups,
            aggregates,
            first,
            last,
            str(work / "duckdb"),
        ),
    )
    # Same work? Same rows and the same totals of a sum and a distinct count.
    import polars as pl

    spark_eng = lake.read("features.engagement")
    spark_rows = spark_eng.count()
    spark_watch, spark_fixtures = spark_eng.agg(
        F.sum("watch_hours_28d"), F.sum("distinct_fixtures_28d")
    ).first()
    duck = pl.read_delta(str(work / "duckdb" / "engagement"))
    duck_watch = float(duck["watch_s_28d"].sum()) / 3600.0
    assert duck_counts["engagement"] == spark_rows == full.rows_written // len(store.groups)
    assert abs(duck_watch - spark_watch) < 1e-6 * max(1.0, spark_watch), (duck_watch, spark_watch)
    assert duck["fixtures_28d"].sum() == spark_fixtures

    print(f"ingesting the last landing date {last_day[0]} ...", flush=True)
    IngestRun(lake, str(raw), "bench-last", last_day).run()
    incremental = _timed("spark_incremental_day", results, lambda: store.build("bench-inc"))
    rebuild = _timed("spark_full_rebuild", results, lambda: store.build("bench-re", full=True))

    report = {
        "benchmark": "features",
        "machine": machine(),
        "rows_per_table": spark_rows,
        "tables": len(store.groups),
        "features": sum(len(g.features) for g in store.groups),
        "aggregates": len(aggregates),
        "incremental": {
            "mode": incremental.mode,
            "rows_written": incremental.rows_written,
            "rows_deleted": incremental.rows_deleted,
            "users_recomputed": incremental.users_recomputed,
            "dates_recomputed": incremental.dates_recomputed,
        },
        "results": results,
        "ratio_spark_full_to_duckdb": round(
            results["spark_full_build"]["seconds"] / results["duckdb_full_build"]["seconds"], 2
        ),
        "ratio_incremental_to_full_rebuild": round(
            results["spark_incremental_day"]["seconds"] / results["spark_full_rebuild"]["seconds"],
            3,
        ),
        "targets": {"spark_full_to_duckdb": 3.0, "incremental_to_full": 0.05},
    }
    assert rebuild.mode == "full"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
