"""Fit every active survival entry of the catalog, one model per partition value, and
score customer value from the fitted models.

Per partition (through ``applyInPandas``): Kaplan-Meier curves with intervals and
medians, log-rank tests between groups, a Cox model (hazard ratios, intervals,
p-values, concordance, a proportional-hazards check) and AFT models compared by AIC.
Each fitted partition is an MLflow run and a registered version (``champion`` when its
gates pass). Writes ``gold.survival_curves``, ``gold.hazard_ratios``,
``gold.survival_models`` (coefficients and baseline survival, enough to score in SQL),
``gold.customer_value`` (per current subscriber: expected remaining days, revenue and
discounted lifetime value) and ``gold.acquisition_value`` (value at signup against
acquisition cost, per market and channel).

A partition that cannot be fitted is a ``failed`` row with the reason in
``gold.survival_models`` and ``ops.model_runs``; the others carry on, and the job then
fails naming it. A partition with fewer events than ``min_events`` is ``skipped`` (the
reason in the same rows, a warning): too little data yet is not a failure.
Idempotent: a rerun replaces the entry's rows (customer value: the entry's rows of the
same snapshot).
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass

from fanbase.jobs._runner import JobContext, main_for

NAME = "survival"
HELP = "fit survival models per partition (lifelines) and score customer value"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", action="append", default=[], metavar="NAME", help="only this entry"
    )


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    from fanbase.featurestore import FeatureStore
    from fanbase.jobs.train import load_entries, selected
    from fanbase.models.frames import FrameBuilder, FrameError
    from fanbase.models.registry import Registry
    from fanbase.models.train import ensure_model_runs
    from fanbase.parallel import in_parallel

    entries = [e for e in selected(load_entries(ctx.config), args.model) if e.kind == "survival"]
    registry = Registry(ctx.configure_mlflow(), ctx.config.models.registry_prefix)
    builder = FrameBuilder(FeatureStore(ctx.lakehouse, ctx.config.features))
    lake = ctx.lakehouse
    _create_tables(lake)
    ensure_model_runs(lake)
    summary: dict = {
        "models": 0,
        "failed": [],
        "skipped": [],
        "values": {},
        "unknown_start": {},
        "input_tables": {},
    }
    # Entries fit side by side: one entry can be a single long task (an all-markets
    # model is one partition, on one core) while the other core fits and records the
    # others. Recording (MLflow, the gold tables they share) is one entry at a time.
    recording = threading.Lock()

    def fit_and_record(entry):
        fitted = fit_entry(ctx, builder, entry)
        if isinstance(fitted, FrameError):
            return fitted
        with recording:
            return record_entry(ctx, registry, entry, fitted)

    outcomes = in_parallel(fit_and_record, entries, ctx.config.models.workers, "survival")
    for entry, done in zip(entries, outcomes, strict=True):
        if isinstance(done, FrameError):
            ctx.log.error("%s", done)
            summary["failed"].append(str(done))
            continue
        summary["models"] += done["models"]
        summary["failed"] += done["failed"]
        summary["skipped"] += done["skipped"]
        summary["values"][entry.name] = done["values"]
        summary["unknown_start"][entry.name] = done["unknown_start"]
        summary["input_tables"].update(done["input_tables"])
    if summary["skipped"]:
        ctx.log.warning("skipped for too little data: %s", "; ".join(summary["skipped"]))
    if summary["failed"]:
        raise RuntimeError(
            f"{len(summary['failed'])} survival models failed: " + "; ".join(summary["failed"])
        )
    summary["rows_out"] = sum(summary["values"].values())
    return summary


@dataclass
class Fitted:
    """One entry's fitted partitions, before anything is logged or written."""

    frames: object  # SurvivalFrames
    spec: object  # SurvivalSpec
    results: list  # PartitionResult per partition
    unknown: int  # spells with no known start, not fitted
    started: float


def fit_entry(ctx: JobContext, builder, entry):
    """The entry's partitions fitted on the executors (``Fitted``), or the
    ``FrameError`` saying why its frame cannot be built."""
    from fanbase.models import survival_fit as sf
    from fanbase.models.frames import FrameError

    started = time.perf_counter()
    value = ctx.config.value
    try:
        frames = builder.survival_frames(entry, value.new_subscriber_days)
    except FrameError as err:
        return err
    spec = sf.spec_for(entry, frames.fit, extend_days=value.horizon_days)
    results = sf.fit_partitions(frames.fit, spec)
    unknown = frames.unknown_start.count() if frames.unknown_start is not None else 0
    return Fitted(frames, spec, results, unknown, started)


def record_entry(ctx: JobContext, registry, entry, fitted: Fitted) -> dict:
    """Log and register each fitted partition, write the entry's gold rows and score
    customer value from its champions."""
    from fanbase.models import survival_fit as sf
    from fanbase.models.registry import registered_name, survival_metrics
    from fanbase.models.survival import stratum_label
    from fanbase.models.train import model_run_row, record_model_runs
    from fanbase.parallel import WRITERS, in_parallel

    lake, spark = ctx.lakehouse, ctx.spark
    frames, spec, results, unknown = fitted.frames, fitted.spec, fitted.results, fitted.unknown
    if unknown:
        ctx.log.warning(
            "%s: %d spells have no known start (first seen mid-spell) and are not fitted",
            entry.name,
            unknown,
        )
    lineage = {**frames.fit.lineage, "unknown_start_spells": unknown}
    tables = frames.fit.tables_read()
    curves, hazards, models, runs, failed, skipped = [], [], [], [], [], []
    for part in results:
        name = registered_name(registry.prefix, entry, part.values)
        label = stratum_label(entry.partition_by, part.values)
        version = run_id = alias = None
        if part.ok:
            card = {
                "covariates": list(spec.covariates),
                "strata_columns": list(spec.strata),
                "coefficients": part.result["coefficients"],
                "strata": part.result["strata"],
            }
            reg = registry.log_survival(entry, part.values, part.result, card, lineage, ctx.run_id)
            version, run_id, alias = reg.version, reg.run_id, reg.alias
        elif part.result["status"] == "skipped":
            skipped.append(f"{name}: {part.result['reason']}")
        else:
            failed.append(f"{name}: {part.result['reason']}")
        base = sf.lineage(entry, label, name, version, run_id, frames.snapshot, tables, ctx.run_id)
        curves += sf.curve_rows(part.result, base)
        hazards += sf.hazard_rows(part.result, base)
        models += sf.model_rows(part.result, base, entry.algorithm.name, alias)
        runs.append(
            model_run_row(
                ctx.run_id,
                entry,
                label,
                name,
                reg if part.ok else None,
                survival_metrics(part.result),
                part.result["rows"],
                float(part.result.get("seconds", 0.0)),
                None if part.ok else part.result["reason"],
                skipped=part.result["status"] == "skipped",
            )
        )
    where = f"model = '{entry.name}'"
    model_df = sf.to_frame(spark, models, sf.MODEL_SCHEMA)
    writes = [
        (sf.CURVES, sf.to_frame(spark, curves, sf.CURVE_SCHEMA)),
        (sf.HAZARD_RATIOS, sf.to_frame(spark, hazards, sf.HAZARD_SCHEMA)),
        (sf.MODELS, model_df),
    ]
    in_parallel(lambda w: lake.replace_where(w[0], w[1], where), writes, WRITERS, "survival")
    record_model_runs(lake, spark, runs)
    print(format_results(entry, results))

    scored_rows = 0
    if frames.value is not None:
        scored_rows = score_customer_value(ctx, entry, frames, spec, model_df)
    ctx.log.info(
        "%s: %d partitions in %.1f s",
        entry.name,
        len(results),
        time.perf_counter() - fitted.started,
    )
    return {
        "models": sum(p.ok for p in results),
        "failed": failed,
        "skipped": skipped,
        "values": scored_rows,
        "unknown_start": unknown,
        "input_tables": tables,
    }


def score_customer_value(ctx: JobContext, entry, frames, spec, model_df) -> int:
    """Customer value of current subscriptions (``gold.customer_value``) and value at
    signup against acquisition cost (``gold.acquisition_value``) from the entry's
    champion partitions; returns the subscriptions valued."""
    from pyspark.sql import functions as F

    from fanbase.models import survival_fit as sf
    from fanbase.models.value import score_value

    value, lake = ctx.config.value, ctx.lakehouse
    champions = model_df.where((F.col("status") == "ok") & (F.col("alias") == "champion"))
    scored = score_value(
        frames.value,
        champions,
        covariates=list(spec.covariates),
        partition_by=list(spec.partition_by),
        strata=list(spec.strata),
        horizon_days=value.horizon_days,
        discount_rate=value.discount_rate,
        margin=value.margin,
        billing_period_days=ctx.config.features.groups.billing.billing_period_days,
        carry=tuple(f.name for f in sf.LINEAGE),
        categorical=spec.categorical,
    ).withColumn("horizon_days", F.lit(value.horizon_days))
    scored = scored.persist()
    slice_ = f"model = '{entry.name}' AND as_of_date = '{frames.snapshot}'"
    current = scored.where(F.col("cohort") == "current")
    lake.replace_where(sf.CUSTOMER_VALUE, sf.conform(current, sf.VALUE_SCHEMA), slice_)
    markets = [r.market for r in lake.read("silver.markets").select("market").collect()]
    channels = value.acquisition_cost.keys() | {
        c for table in value.acquisition_cost_by_market.values() for c in table
    }
    costs = ctx.spark.createDataFrame(
        [(m, c, value.cost(m, c)) for m in markets for c in sorted(channels)],
        "market string, acquisition_channel string, acquisition_cost double",
    )
    acquisition = sf.acquisition_value(scored.where(F.col("cohort") == "new"), costs)
    lake.replace_where(
        sf.ACQUISITION_VALUE,
        sf.conform(acquisition, sf.ACQUISITION_SCHEMA),
        f"model = '{entry.name}'",
    )
    scored.unpersist()
    n = lake.read(sf.CUSTOMER_VALUE).where(slice_).count()
    print(f"{entry.name}: customer value of {n} subscriptions -> {sf.CUSTOMER_VALUE}")
    return n


def _create_tables(lake) -> None:
    from fanbase.models import survival_fit as sf
    from fanbase.parallel import WRITERS, in_parallel

    described = {
        sf.CURVES: (sf.CURVE_SCHEMA, "Kaplan-Meier curves per model, partition and group"),
        sf.HAZARD_RATIOS: (sf.HAZARD_SCHEMA, "Cox hazard ratios per model and partition"),
        sf.MODELS: (sf.MODEL_SCHEMA, "Survival models: status, coefficients, baselines"),
        sf.CUSTOMER_VALUE: (sf.VALUE_SCHEMA, "Expected remaining lifetime, revenue and CLV"),
        sf.ACQUISITION_VALUE: (sf.ACQUISITION_SCHEMA, "Value at signup against acquisition cost"),
    }
    in_parallel(
        lambda t: lake.create(t, described[t][0], comment=described[t][1], replace_if_changed=True),
        described,
        WRITERS,
        "survival",
    )


def format_results(entry, results) -> str:
    lines = []
    for p in results:
        label = "/".join(p.values) if p.values else "(all)"
        r = p.result
        if not p.ok:
            status = "skipped" if r["status"] == "skipped" else "FAILED"
            lines.append(f"{entry.name} {label}: {status} {r['reason']}")
            continue
        concordance = r.get("concordance")
        shown = f"concordance={concordance:.3f}  " if concordance is not None else ""
        best = (r.get("parametric") or {}).get("best")
        lines.append(
            f"{entry.name} {label}: {r['subjects']} spells, {r['events']} events  {shown}"
            f"best AFT={best}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main_for(__name__)
