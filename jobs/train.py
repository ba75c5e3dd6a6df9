"""Train every active model of the catalog (conf/models/), one per partition value,
several at a time; log each to MLflow, register it and set its alias.

``fanbase train`` trains all active entries; ``--model NAME`` (repeatable) picks some.
A model whose test metrics pass every gate of its entry becomes the ``champion``; the
others become the ``challenger``. Each model is a row in ``ops.model_runs``. If any
model fails, the others still train and the job fails at the end, naming it.
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


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    from fanbase.featurestore import FeatureStore
    from fanbase.models.catalog import CatalogError
    from fanbase.models.frames import FrameBuilder, FrameError, partition_values
    from fanbase.models.registry import Registry, registered_name
    from fanbase.models.train import (
        MODEL_RUNS,
        MODEL_RUNS_SCHEMA,
        TRAINED_KINDS,
        Task,
        train_all,
    )

    entries = selected(load_entries(ctx.config), args.model)
    later = [e.name for e in entries if e.kind not in TRAINED_KINDS]
    if later:
        ctx.log.warning("not trained by this job (survival: `fanbase survival`): %s", later)
    entries = [e for e in entries if e.kind in TRAINED_KINDS]
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
        tasks += [Task(entry, values, frame) for values in partition_values(frame, entry)]
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
    outcomes = train_all(tasks, registry, ctx.config.models.seed, ctx.run_id, workers)
    for frame in frames:
        frame.df.unpersist()

    lake = ctx.lakehouse
    lake.create(MODEL_RUNS, MODEL_RUNS_SCHEMA, comment="One row per model the train job trained.")
    lake.append(
        MODEL_RUNS,
        ctx.spark.createDataFrame([o.row(ctx.run_id) for o in outcomes], MODEL_RUNS_SCHEMA),
    )
    print(format_outcomes(outcomes))
    failed = [f"{o.name}: {o.error}" for o in outcomes if o.error] + unbuilt
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(outcomes) + len(unbuilt)} models failed: " + "; ".join(failed)
        )
    return {
        "rows_out": len(outcomes),
        "models": len(outcomes),
        "champions": sum(o.alias == "champion" for o in outcomes),
        "challengers": sum(o.alias == "challenger" for o in outcomes),
        "not_trained_kinds": later,
        "prepare_seconds": round(prepared, 1),
        "train_seconds": round(time.perf_counter() - started - prepared, 1),
        "workers": workers,
    }


def format_outcomes(outcomes: list) -> str:
    width = max((len(o.name) for o in outcomes), default=10)
    lines = [f"{'model':<{width}}  {'ver':>4}  {'alias':<10}  metrics"]
    for o in outcomes:
        if o.error:
            lines.append(f"{o.name:<{width}}  {'-':>4}  {'FAILED':<10}  {o.error}")
            continue
        shown = {k: v for k, v in o.trained.metrics.items() if k in _SHOWN}
        text = "  ".join(f"{k}={v:.3f}" for k, v in shown.items())
        gates = f"  (missed: {'; '.join(o.failed_gates)})" if o.failed_gates else ""
        lines.append(f"{o.name:<{width}}  {o.version:>4}  {o.alias:<10}  {text}{gates}")
    return "\n".join(lines)


_SHOWN = ("roc_auc", "pr_auc", "brier", "top_decile_lift", "silhouette", "k")


if __name__ == "__main__":
    main_for(__name__)
