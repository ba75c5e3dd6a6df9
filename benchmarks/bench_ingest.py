"""Ingest throughput against the raw-parse floor, in one process on the same landing days.

    .venv/bin/python benchmarks/bench_ingest.py [--raw DIR] [--users N --days D]

The floor is the least any ingestion must do: ``spark.read.schema(...).json(...)`` of the
same event and social folders written once to Delta. Both first run on three landing
days (a warm-up, not measured), then once each on all of them. fanbase does the whole ingest run on
top: bronze, validation of every rule, de-duplication MERGEs, quarantine, spells,
reconciliation. Target (issue 4): fanbase at least 40 % of the floor's lines per second.
Peak memory is sampled for the driver (the Python process and its JVM) every 0.2 s.
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
from _common import PeakMemory, machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _floor_schema(source: str):
    """The explicit schema a bare reader would use: the contract's fields and types."""
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    from fanbase.ingest.contract import ENVELOPE, EVENT_FIELDS, SOCIAL_FIELDS

    kinds = {"int": LongType(), "number": DoubleType()}
    fields: dict[str, object] = {}
    specs = [ENVELOPE, *EVENT_FIELDS.values()] if source == "events" else [SOCIAL_FIELDS]
    for spec in specs:
        for name, kind in spec.items():
            fields.setdefault(name, kinds.get(kind.rstrip("?"), StringType()))
    return StructType([StructField(n, t) for n, t in fields.items()])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", help="raw root to ingest (default: generate the demo data)")
    parser.add_argument("--users", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ingest.json"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fanbase-bench-ingest-"))
    os.environ["FANBASE_HOME"] = str(work)
    os.environ.setdefault("FANBASE_JARS_DIR", str(REPO / ".jars"))

    from fanbase.config import load_settings
    from fanbase.demo import generate
    from fanbase.demo.settings import GeneratorSettings
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
    summary = json.loads((raw / "_truth" / "summary.json").read_text())
    lines = sum(summary["sources"][s]["lines_written"] for s in ("events", "social"))

    settings = load_settings("local")
    spark = build_spark(settings.spark, app_name="fanbase-bench-ingest")
    spark.sparkContext.setLogLevel("ERROR")
    results: dict[str, dict] = {}

    def floor(target: Path, dates: list[str] | None) -> None:
        for source in ("events", "social"):
            paths = (
                [str(raw / source / f"date={d}") for d in dates] if dates else [str(raw / source)]
            )
            frame = spark.read.schema(_floor_schema(source)).json(paths)
            frame.write.format("delta").mode("overwrite").save(str(target / source))

    def fanbase(root: Path, dates: list[str] | None):
        lake = Lakehouse(spark, settings.lakehouse.model_copy(update={"root": str(root)}))
        days = [dt.date.fromisoformat(d) for d in dates] if dates else None
        return IngestRun(lake, str(raw), "bench", days).run()

    # Both warm up first on a few landing days, so neither pays the JVM's first-use
    # costs (class loading, JIT, Python workers) in the measured run.
    first_days = sorted(p.name.removeprefix("date=") for p in (raw / "events").iterdir())[:3]
    floor(work / "warm-floor", first_days)
    fanbase(work / "warm-fanbase", first_days)

    with PeakMemory() as memory:
        started = time.perf_counter()
        floor(work / "floor", None)
        seconds = time.perf_counter() - started
    results["floor"] = {
        "seconds": seconds,
        "lines_per_s": lines / seconds,
        "peak_mb": memory.peak / 2**20,
    }

    with PeakMemory() as memory:
        started = time.perf_counter()
        counts = fanbase(work / "tables", None)
        seconds = time.perf_counter() - started
    results["fanbase"] = {
        "seconds": seconds,
        "lines_per_s": lines / seconds,
        "peak_mb": memory.peak / 2**20,
    }
    assert all(c.reconciled for c in counts)

    ratio = results["fanbase"]["lines_per_s"] / results["floor"]["lines_per_s"]
    report = {
        "benchmark": "ingest",
        "machine": machine(),
        "raw_lines_events_and_social": lines,
        "results": results,
        "ratio_fanbase_to_floor": ratio,
        "target_ratio": 0.40,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"{'':10}{'seconds':>10}{'lines/s':>12}{'peak MB':>10}")
    for name, row in results.items():
        print(f"{name:10}{row['seconds']:>10.1f}{row['lines_per_s']:>12.0f}{row['peak_mb']:>10.0f}")
    print(f"fanbase / floor throughput: {ratio:.2f} (target >= 0.40); lines: {lines}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
