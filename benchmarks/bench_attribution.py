"""Content attribution: wall time of each attribution entry on a year of 10 markets and
15,000 fixtures, peak memory, and the lifts found against the lifts planted.

    .venv/bin/python benchmarks/bench_attribution.py [--home DIR] [--users N]

``--home``: a FANBASE_HOME that `fanbase run` filled (raw/ with _truth/, tables/);
default: generate and ingest the demo year in a temporary one (``--users``: expected
baseline signups of that generation, 5,000 by default; more users, more signal); a
home with raw data but no tables is ingested first.
With ``gold.customer_value`` present (``fanbase survival``), values are priced too.

Targets (issue 8): the year in minutes on 2 cores; against the planted per-fixture
lifts, precision at 20 of the top fixtures per market at least 0.8 and rank
correlation at least 0.7 (both per market, see ``fanbase.demo.checks``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakMemory, demo_spark, machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
METHODS = (
    ("fixture_lift", "lift"),
    ("fixture_touch", "first_watch"),
    ("fixture_touch", "time_decay"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="FANBASE_HOME built by `fanbase run`")
    parser.add_argument("--users", type=int, default=5000, help="when generating")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "attribution.json"))
    args = parser.parse_args()

    home = Path(args.home or tempfile.mkdtemp(prefix="fanbase-bench-attribution-"))
    os.environ["FANBASE_HOME"] = str(home)
    os.environ.setdefault("FANBASE_JARS_DIR", str(REPO / ".jars"))

    import numpy as np
    from pyspark.sql import functions as F

    from fanbase.config import load_settings
    from fanbase.demo import checks
    from fanbase.jobs import attribution
    from fanbase.jobs._runner import build_parser, run_job
    from fanbase.lakehouse import Lakehouse
    from fanbase.session import build_spark

    settings = load_settings("local")

    def start():
        session = build_spark(settings.spark, app_name="fanbase-bench-attribution")
        session.sparkContext.setLogLevel("ERROR")
        return session

    spark = demo_spark(home, start, features=False, users=args.users)
    lake = Lakehouse(spark, settings.lakehouse)
    fixtures = lake.read("silver.fixtures")
    results: dict = {
        "machine": machine(),
        "home": str(home),
        "fixtures": fixtures.count(),
        "fixture_market_pairs": fixtures.select(F.explode("markets")).count(),
        "markets": lake.read("silver.markets").count(),
        "entries": {},
    }
    for entry in ("fixture_touch", "fixture_lift"):
        with PeakMemory() as peak:
            started = time.perf_counter()
            summary = run_job(
                attribution, build_parser(attribution).parse_args(["--model", entry]), spark=spark
            )
            seconds = time.perf_counter() - started
        results["entries"][entry] = {
            "seconds": round(seconds, 1),
            "rows_out": summary["rows_out"],
            "new_subscriptions": summary["rows_in"],
            "peak_rss_gb": round(peak.peak / 2**30, 2),
        }
        print(entry, results["entries"][entry], flush=True)
    results["total_seconds"] = round(sum(e["seconds"] for e in results["entries"].values()), 1)
    rows = lake.read("gold.fixture_attribution")
    results["truth"] = {}
    for model, method in METHODS:
        per_market = checks.attribution_vs_truth(spark, home / "raw", rows, model, method, k=20)
        summary = {
            "mean_precision_at_20": float(
                np.mean([m["precision_at_k"] for m in per_market.values()])
            ),
            "mean_rank_correlation": float(
                np.nanmean([m["rank_correlation"] for m in per_market.values()])
            ),
            "markets_meeting_both_targets": sorted(
                k
                for k, m in per_market.items()
                if m["precision_at_k"] >= 0.8 and m["rank_correlation"] >= 0.7
            ),
            "per_market": per_market,
        }
        results["truth"][method] = summary
        print(
            f"{method}: mean precision@20 {summary['mean_precision_at_20']:.2f}, mean rank "
            f"correlation {summary['mean_rank_correlation']:.2f}, both targets met in "
            f"{summary['markets_meeting_both_targets']}",
            flush=True,
        )
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
