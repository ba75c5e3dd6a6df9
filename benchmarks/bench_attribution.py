"""Content attribution: wall time of each attribution entry on a year of 10 markets and
15,000 fixtures, peak memory, and the lifts found against the lifts planted.

    .venv/bin/python benchmarks/bench_attribution.py [--home DIR] [--users N]

``--home``: a FANBASE_HOME that `fanbase run` filled (raw/ with _truth/, tables/);
default: generate and ingest the demo year in a temporary one (``--users``: expected
baseline signups of that generation, 5,000 by default; more users, more signal); a
home with raw data but no tables is ingested first.
With ``gold.customer_value`` present (``fanbase survival``), values are priced too.

``--job-from-run-log``: where the home's ``ops.job_runs`` has a successful attribution
job (run_all.py's pipeline has just run one on the same data), each entry's wall time
is read from its MLflow run of that job (``entry_seconds``) instead of running the
entries again; peak memory is then the pipeline's per-step figure.

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
from _common import PeakMemory, demo_spark, last_job_run, machine  # noqa: E402

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
    parser.add_argument(
        "--job-from-run-log",
        action="store_true",
        help="reuse the home's newest successful attribution job run (see above)",
    )
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
    earlier = last_job_run(lake, "attribution") if args.job_from_run_log else None
    logged = _entries_from_run_log(settings, lake, earlier) if earlier else None
    if logged is not None:
        print(f"attribution entries: from the run log, run {earlier[0]}", flush=True)
        results["entries"], results["from_run_log"] = logged, earlier[0]
    to_run = () if logged is not None else ("fixture_touch", "fixture_lift")
    for entry in to_run:
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


def _entries_from_run_log(settings, lake, earlier) -> dict | None:
    """Each entry's figures from the job run ``earlier`` (run id, seconds, rows in): its
    wall time from the entry's MLflow run, its rows from gold. None if that run lacks
    either entry or its time (a run of an older release): then the entries run here."""
    import mlflow
    from pyspark.sql import functions as F

    from fanbase.jobs.attribution import ENTRY_SECONDS
    from fanbase.tracking import configure_mlflow

    run_id, _, new_subscriptions = earlier
    experiment = configure_mlflow(settings.mlflow)
    runs = mlflow.search_runs(
        experiment_ids=[experiment],
        filter_string=f"tags.`fanbase.job_run_id` = '{run_id}' "
        "AND tags.`fanbase.kind` = 'attribution'",
        output_format="list",
    )
    seconds = {
        r.data.tags["fanbase.entry"]: r.data.metrics[ENTRY_SECONDS]
        for r in runs
        if ENTRY_SECONDS in r.data.metrics
    }
    if set(seconds) != {"fixture_touch", "fixture_lift"}:
        return None
    written = lake.read("gold.fixture_attribution").where(F.col("run_id") == run_id)
    rows = {r.model: r["count"] for r in written.groupBy("model").count().collect()}
    return {
        entry: {
            "seconds": round(seconds[entry], 1),
            "rows_out": rows.get(entry, 0),
            "new_subscriptions": new_subscriptions,
            "peak_rss_gb": None,
            "from_run_log": True,
        }
        for entry in ("fixture_touch", "fixture_lift")
    }


if __name__ == "__main__":
    sys.exit(main())
