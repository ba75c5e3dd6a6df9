"""Score current subscribers with the champion of every active churn and segmentation
model: ``gold.churn_scores`` (probability, risk decile), ``gold.segments`` and
``gold.segment_profiles``, each row with its model version and feature lineage.

Idempotent: a rerun replaces the rows of the same model and as-of date, so scoring
twice, or again after a crash, leaves one set of rows. ``--as-of DATE`` scores an
earlier as-of date of the feature store (a backfill) beside the others. Entries that read their own
``source`` table are trained but not scored here (their rows are not subscribers).
"""

from __future__ import annotations

import argparse
import datetime as dt

from fanbase.jobs._runner import JobContext, main_for

NAME = "score"
HELP = "score current subscribers with each model's champion into gold tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", action="append", default=[], metavar="NAME", help="only this entry"
    )
    parser.add_argument(
        "--as-of",
        type=dt.date.fromisoformat,
        metavar="DATE",
        help="score the subscribers of this as-of date (default: the newest); a backfill",
    )


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    from fanbase.featurestore import FeatureStore
    from fanbase.jobs.train import load_entries, selected
    from fanbase.models.frames import FrameBuilder
    from fanbase.models.registry import Registry
    from fanbase.models.score import (
        CHURN_CHECKS,
        CHURN_SCHEMA,
        PROFILE_SCHEMA,
        PROFILES,
        SEGMENT_SCHEMA,
        score_entry,
    )

    entries = [
        e
        for e in selected(load_entries(ctx.config), args.model)
        if e.kind in ("churn", "segmentation") and e.source is None
    ]
    registry = Registry(ctx.configure_mlflow(), ctx.config.models.registry_prefix)
    builder = FrameBuilder(FeatureStore(ctx.lakehouse, ctx.config.features))
    lake = ctx.lakehouse
    summary = {"rows": {}, "no_champion": [], "input_tables": {}}
    for entry in entries:
        churn = entry.kind == "churn"
        schema = CHURN_SCHEMA if churn else SEGMENT_SCHEMA
        lake.create(
            entry.output,
            schema,
            comment="Churn scores of current subscribers, one row per model and user"
            if churn
            else "Segment of each current subscriber, one row per model and user",
            constraints=CHURN_CHECKS if churn else None,
        )
        result = score_entry(builder, registry, entry, ctx.run_id, args.as_of)
        summary["no_champion"] += result.missing
        summary["input_tables"].update(result.tables)
        if result.rows is None:
            continue
        slice_ = f"model = '{entry.name}' AND as_of_date = '{result.as_of_date}'"
        lake.replace_where(entry.output, result.rows, slice_)
        if not churn:
            lake.create(PROFILES, PROFILE_SCHEMA, comment="Segment profiles of champion models")
            profiles = ctx.spark.createDataFrame(result.profiles, PROFILE_SCHEMA)
            lake.replace_where(PROFILES, profiles, f"model = '{entry.name}'")
        result.inputs.unpersist()
        n = lake.read(entry.output).where(slice_).count()
        summary["rows"][entry.name] = n
        print(f"{entry.name}: {n} rows as of {result.as_of_date} -> {entry.output}")
    if summary["no_champion"]:
        print(f"no champion yet (not scored): {', '.join(summary['no_champion'])}")
    summary["rows_out"] = sum(summary["rows"].values())
    return summary


if __name__ == "__main__":
    main_for(__name__)
