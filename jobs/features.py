"""Build the feature store from silver, or list the declared features.

``fanbase features build`` is incremental: it recomputes only the (user, as-of date)
rows that silver's changes since the last build reach, plus the new as-of dates, and
MERGEs them. ``--full`` rebuilds every table. ``fanbase features list`` prints every
feature with its group, table, type and meaning (no Spark needed).
"""

from __future__ import annotations

import argparse

from fanbase.jobs._runner import JobContext, main_for

NAME = "features"
HELP = "build the feature store from silver (incremental), or list the features"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", nargs="?", default="build", choices=("build", "list"), help="default: build"
    )
    parser.add_argument("--full", action="store_true", help="rebuild every as-of date")


def format_features(rows: list[dict]) -> str:
    width = max(len(r["feature"]) for r in rows)
    lines = []
    group = None
    for r in rows:
        if r["group"] != group:
            group = r["group"]
            lines.append(f"{r['table']}")
        lines.append(f"  {r['feature']:<{width}}  {r['type']:<8} {r['description']}")
    return "\n".join(lines)


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    from fanbase.featurestore import FeatureStore, describe

    if args.action == "list":
        rows = describe(ctx.config.features)
        print(format_features(rows))
        return {"features": len(rows)}
    store = FeatureStore(ctx.lakehouse, ctx.config.features)
    result = store.build(ctx.run_id, full=args.full)
    print(
        f"feature store: {result.mode} build, as-of {result.first_as_of}..{result.last_as_of}, "
        f"{result.rows_written} rows written, {result.rows_deleted} deleted, "
        f"{result.seconds:.1f}s"
    )
    return {
        "mode": result.mode,
        "rows_out": result.rows_written,
        "rows_deleted": result.rows_deleted,
        "last_as_of": str(result.last_as_of),
        "input_tables": result.input_tables,
    }


if __name__ == "__main__":
    main_for(__name__)
