"""Train every active model of the catalog (conf/models/), one per partition value,
several at a time; log each to MLflow, register it and set its alias.

``fanbase train`` trains all active entries; ``--model NAME`` (repeatable) picks some;
``--due`` (what ``fanbase run`` uses) only what is due: entries never trained
successfully or changed in the catalog since, and the partitions ``fanbase monitor``
flagged for retraining since their last training.
A model whose test metrics pass every gate of its entry becomes the ``champion``; the
others become the ``challenger``. Each model is a row in ``ops.model_runs``; churn
models also have their test-set calibration and lift curves in ``ops.model_curves``. If
any model fails, the others still train and the job fails at the end, naming it. A model
with too little data yet (too few rows, churners or days of history: ``NotEnoughData``)
is skipped with the reason in its row, a warning rather than a failure (an entry none of
whose models trained stays due).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fanbase.jobs._runner import JobContext, main_for

NAME = "train"
HELP = "train the model catalog (churn, segmentation) and register the models in MLflow"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", action="append", default=[], metavar="NAME", help="only this entry"
    )
    parser.add_argument("--workers", type=int, help="models trained at once (models.workers)")
    parser.add_argument(
        "--due", action="store_true", help="only new, changed or flagged models (see above)"
    )


def load_entries(config) -> list:
    """The active entries of the configured catalog, validated."""
    from fanbase.config import default_conf_dir
    from fanbase.featurestore import declared_groups
    from fanbase.models.catalog import load_catalog, load_catalog_folder

    known = {g.name: [f.name for f in g.features] for g in declared_groups(config.features)}
    if config.models.catalog_dir:
        entries = load_catalog_folder(Path(config.models.catalog_dir), known)
    else:
        entries = load_catalog(default_conf_dir(), known)
    return [e for e in entries if e.active]


def selected(entries: list, names: list[str]) -> list:
    from fanbase.models.catalog import CatalogError, suggest

    known = [e.name for e in entries]
    for name in names:
        if name not in known:
            raise CatalogError(
                f"--model {name}: no active entry of that name{suggest(name, known)}"
            )
    return [e for e in entries if not names or e.name in names]


def due(lake, entries: list) -> tuple[set[str], set[tuple[str, str]]]:
    """What ``--due`` trains: entry names to train whole (no successful training, or
    trained with another definition of the entry), and (entry, partition) pairs whose
    newest evaluation flagged them for retraining after their newest training."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from fanbase.models.monitor import EVALUATIONS
    from fanbase.models.train import MODEL_RUNS, ensure_model_runs

    names = [e.name for e in entries]
    if not lake.exists(MODEL_RUNS):
        return set(names), set()
    ensure_model_runs(lake)  # a table from before entry_digest gains it
    runs = lake.read(MODEL_RUNS).where(F.col("version").isNotNull() & F.col("entry").isin(names))
    newest = (
        runs.groupBy("entry").agg(F.max_by("entry_digest", "trained_at").alias("digest")).collect()
    )
    digests = {r["entry"]: r["digest"] for r in newest}
    whole = {e.name for e in entries if digests.get(e.name) != e.digest()}
    if not lake.exists(EVALUATIONS):
        return whole, set()
    trained = runs.groupBy("entry", "partition").agg(F.max("trained_at").alias("trained_at"))
    last = Window.partitionBy("entry", "partition").orderBy(F.desc("evaluated_at"))
    flagged = (
        lake.read(EVALUATIONS)
        .where(F.col("entry").isin(names))
        .withColumn("_n", F.row_number().over(last))
        .where("_n = 1 AND flagged AND action = 'retrain'")
        .join(trained, ["entry", "partition"], "left")
        .where(F.col("trained_at").isNull() | (F.col("evaluated_at") > F.col("trained_at")))
        .select("entry", "partition")
        .collect()
    )
    return whole, {(r["entry"], r["partition"]) for r in flagged}


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    from fanbase.featurestore import FeatureStore
    from fanbase.models.catalog import CatalogError
    from fanbase.models.frames import FrameBuilder, FrameError, partition_values
    from fanbase.models.registry import Registry, partition_label, registered_name
    from fanbase.models.train import (
        MODEL_CURVES,
        MODEL_CURVES_SCHEMA,
        TRAINED_KINDS,
        Task,
        record_model_runs,
        train_all,
    )
    from fanbase.session import sql_conf

    entries = selected(load_entries(ctx.config), args.model)
    later = [e.name for e in entries if e.kind not in TRAINED_KINDS]
    if later:
        ctx.log.warning("not trained by this job (survival: `fanbase survival`): %s", later)
    entries = [e for e in entries if e.kind in TRAINED_KINDS]
    whole, flagged = set(), set()
    if args.due:
        whole, flagged = due(ctx.lakehouse, entries)
        entries = [e for e in entries if e.name in whole or any(f[0] == e.name for f in flagged)]
        ctx.log.info(
            "due: %s whole; flagged partitions: %s",
            sorted(whole) or "none",
            sorted(f"{e}[{p or 'all'}]" for e, p in flagged) or "none",
        )
    experiment_id = ctx.configure_mlflow()
    registry = Registry(experiment_id, ctx.config.models.registry_prefix)
    builder = FrameBuilder(FeatureStore(ctx.lakehouse, ctx.config.features))

    started = time.perf_counter()
    tasks, frames, unbuilt = [], [], []
    for entry in entries:
        try:
            frame = builder.frame(entry)
        except FrameError as err:  # the other entries still train
            ctx.log.error("%s", err)
            unbuilt.append(str(err))
            continue
        frame.df = frame.df.persist()
        frames.append(frame)
        tasks += [
            Task(entry, values, frame)
            for values in partition_values(frame, entry)
            if not args.due
            or entry.name in whole
            or (entry.name, partition_label(entry, values)) in flagged
        ]
    names = [registered_name(registry.prefix, t.entry, t.values) for t in tasks]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise CatalogError(
            f"registered model names clash: {clashes}; two entries or partition values map "
            "to one name (names are lower-cased, non-alphanumerics become _): rename an entry"
        )
    prepared = time.perf_counter() - started
    workers = args.workers or ctx.config.models.workers
    ctx.log.info("%d models from %d entries, %d at a time", len(tasks), len(entries), workers)
    with sql_conf(ctx.spark, ctx.config.models.sql_conf):
        outcomes = train_all(tasks, registry, ctx.config.models.seed, ctx.run_id, workers)
    for frame in frames:
        frame.df.unpersist()

    lake = ctx.lakehouse
    record_model_runs(lake, ctx.spark, [o.row(ctx.run_id) for o in outcomes])
    curves = [row for o in outcomes for row in o.curve_rows(ctx.run_id)]
    lake.create(MODEL_CURVES, MODEL_CURVES_SCHEMA, comment="Test-set curves of each churn model.")
    if curves:
        lake.append(MODEL_CURVES, ctx.spark.createDataFrame(curves, MODEL_CURVES_SCHEMA))
    print(format_outcomes(outcomes))
    failed = [f"{o.name}: {o.error}" for o in outcomes if o.error and not o.skipped] + unbuilt
    skipped = [o.name for o in outcomes if o.skipped]
    if skipped:
        ctx.log.warning("%d models skipped for too little data: %s", len(skipped), skipped)
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(outcomes) + len(unbuilt)} models failed: " + "; ".join(failed)
        )
    return {
        "rows_out": len(outcomes),
        "models": len(outcomes) - len(skipped),
        "skipped": skipped,
        "champions": sum(o.alias == "champion" for o in outcomes),
        "challengers": sum(o.alias == "challenger" for o in outcomes),
        "not_trained_kinds": later,
        "prepare_seconds": round(prepared, 1),
        "train_seconds": round(time.perf_counter() - started - prepared, 1),
        "workers": workers,
        "input_tables": {t: v for f in frames for t, v in f.tables_read().items()},
    }


def format_outcomes(outcomes: list) -> str:
    width = max((len(o.name) for o in outcomes), default=10)
    lines = [f"{'model':<{width}}  {'ver':>4}  {'alias':<10}  metrics"]
    for o in outcomes:
        if o.error:
            status = "skipped" if o.skipped else "FAILED"
            lines.append(f"{o.name:<{width}}  {'-':>4}  {status:<10}  {o.error}")
            continue
        shown = {k: v for k, v in o.trained.metrics.items() if k in _SHOWN}
        text = "  ".join(f"{k}={v:.3f}" for k, v in shown.items())
        gates = f"  (missed: {'; '.join(o.failed_gates)})" if o.failed_gates else ""
        lines.append(f"{o.name:<{width}}  {o.version:>4}  {o.alias:<10}  {text}{gates}")
    return "\n".join(lines)


_SHOWN = ("roc_auc", "pr_auc", "brier", "top_decile_lift", "silhouette", "k")


if __name__ == "__main__":
    main_for(__name__)
