"""Monitor the champions of every churn, segmentation, (posts) sentiment and Cox
survival entry: drift against their training rows (the profile train kept of them),
performance on the newest labelled data (churn also on its own earlier scores once
those labels matured; sentiment on the labels that arrived after its training;
survival: concordance on the spells known at the newest snapshot), and decay against
their test metrics.

Each evaluation is a row of ``ops.model_evaluations`` (appended: the table is the
history of every model's health). A model past its entry's ``monitor`` thresholds is
flagged with the reasons; with ``action: retrain`` the next ``fanbase run`` (``fanbase
train --due``) retrains it. When any model is flagged, the alert hook of the config
(``monitor.alert_command`` or ``monitor.alert_webhook``; off by default) is called with
the flagged models as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import dataclass, field

from fanbase.jobs._runner import JobContext, main_for

NAME = "monitor"
HELP = "evaluate churn, segmentation, sentiment and survival champions: drift, performance, decay"
# Sentiment: the newest posts whose predicted class shares are compared with training.
NEWEST_POST_DAYS = 28


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", action="append", default=[], metavar="NAME", help="only this entry"
    )


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    from fanbase.featurestore import FeatureStore
    from fanbase.jobs.train import load_entries, selected
    from fanbase.models.catalog import MONITORED
    from fanbase.models.frames import FrameBuilder, FrameError
    from fanbase.models.monitor import EVALUATION_SCHEMA, EVALUATIONS
    from fanbase.models.registry import Registry

    # Kaplan-Meier entries have no risk score to evaluate; entries reading their own
    # table (`source`) have no training window in the feature store to drift from.
    entries = [
        e
        for e in selected(load_entries(ctx.config), args.model)
        if e.kind in MONITORED and e.source is None and e.algorithm.name != "kaplan_meier"
    ]
    registry = Registry(ctx.configure_mlflow(), ctx.config.models.registry_prefix)
    builder = FrameBuilder(FeatureStore(ctx.lakehouse, ctx.config.features))
    evaluations, unevaluated, tables = [], [], {}
    for entry in entries:
        evaluate = EVALUATE.get(entry.kind, evaluate_entry)
        try:
            done, missing, read = evaluate(ctx, builder, registry, entry)
        except FrameError as err:
            ctx.log.error("%s", err)
            unevaluated.append(str(err))
            continue
        evaluations += done
        unevaluated += missing
        tables.update(read)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [e.row(ctx.run_id, now) for e in evaluations]
    lake = ctx.lakehouse
    lake.create(EVALUATIONS, EVALUATION_SCHEMA, comment="Model health: drift and performance.")
    if rows:
        lake.append(EVALUATIONS, ctx.spark.createDataFrame(rows, EVALUATION_SCHEMA))
    print(format_evaluations(evaluations))
    flagged = [e for e in evaluations if e.reasons()]
    if flagged:
        alert(ctx, flagged)
    return {
        "rows_out": len(rows),
        "models": len(evaluations),
        "flagged": [e.registered_model for e in flagged],
        "retrain": [e.registered_model for e in flagged if e.action == "retrain"],
        "hold": [e.registered_model for e in flagged if e.action == "hold"],
        "not_evaluated": unevaluated,
        "input_tables": tables,
    }


def evaluate_entry(ctx, builder, registry, entry) -> tuple[list, list[str], dict]:
    """Evaluations of the entry's champions, the partitions without one, tables read.
    The partitions are evaluated side by side (``models.workers`` at a time): each is
    a few small Spark jobs and a model load, mostly driver-side waiting."""
    from fanbase.models import drift
    from fanbase.models.frames import partition_values
    from fanbase.models.registry import registered_name
    from fanbase.models.train import DRIFT_REFERENCE
    from fanbase.parallel import in_parallel

    current = builder.snapshot_frame(entry)
    current.df = current.df.persist()
    shared = _Shared(current, dt.date.fromisoformat(current.lineage["snapshot"]))
    tables = current.tables_read()
    if entry.kind == "churn":
        shared.labelled = builder.churn_frame(entry, _newest_labelled(builder, entry))
        shared.labelled.df = shared.labelled.df.persist()
        tables.update(shared.labelled.tables_read())
        shared.scores, shared.labels = _matured(ctx, builder, entry)
        # Every partition's labelled rows in one count, not a Spark job each.
        by = shared.labelled.df.groupBy(*entry.partition_by).count().collect()
        shared.labelled_rows = {tuple(r)[:-1]: r["count"] for r in by}
    references: dict[str, object] = {}
    champions, missing = [], []
    try:
        for values in partition_values(current, entry):
            name = registered_name(registry.prefix, entry, values)
            version = registry.version_by_alias(name)
            if version is None:
                missing.append(f"{name}: no champion")
                continue
            run = registry.client.get_run(version.run_id)
            lineage = json.loads(run.data.tags.get("fanbase.lineage", "{}"))
            # The profile train kept of the champion's rows; rebuilding those rows
            # from the feature store only for a model logged without one (or with
            # other features than the entry has now).
            reference = registry.run_artifact(version.run_id, f"{DRIFT_REFERENCE}.json")
            if reference is None or not drift.fits(
                reference, current.features, current.categorical
            ):
                reference = _reference(builder, entry, lineage, references)
            champions.append((values, name, version, run, lineage, reference))
        # The drift of every partition with a kept profile in one aggregation over the
        # newest rows (a Spark job per partition otherwise); rebuilt ones one by one.
        kept = [c for c in champions if isinstance(c[-1], dict)]
        drifts = dict(
            zip(
                [c[0] for c in kept],
                drift.measure_each(
                    [c[-1] for c in kept], current.df, entry.partition_by, [c[0] for c in kept]
                ),
                strict=True,
            )
        )

        def evaluate(champion) -> object:
            measured = drifts.get(champion[0])
            ev = _evaluate_partition(registry, entry, shared, *champion, measured)
            reasons = "; ".join(ev.reasons()) or "healthy"
            drift = f"{ev.drift_score:.3f}" if ev.drift_score is not None else "-"
            ctx.log.info("%s v%s: drift %s, %s", ev.registered_model, ev.version, drift, reasons)
            return ev

        out = in_parallel(evaluate, champions, ctx.config.models.workers, "monitor")
    finally:
        for frame in [current, shared.labelled, *references.values()]:
            if frame is not None:
                frame.df.unpersist()
    return out, missing, tables


@dataclass
class _Shared:
    """What every partition of a churn or segmentation entry is evaluated on."""

    current: object  # the newest scoring rows (ModelFrame)
    scoring_as_of: dt.date
    labelled: object = None  # churn: the newest matured labels (ModelFrame)
    scores: object = None  # churn: earlier scores whose labels have matured
    labels: object = None
    labelled_rows: dict = field(default_factory=dict)  # churn: partition values -> rows


def _evaluate_partition(
    registry, entry, shared: _Shared, values, name, version, run, lineage, reference, measured
):
    """One champion's evaluation: drift from its training rows, metrics on the newest
    labelled rows and on its own matured scores (churn) or silhouette and segment
    shares (segmentation). ``measured``: its drift, already measured against the
    profile kept with the model at training; else ``reference``, the training rows
    rebuilt (ModelFrame) for a model without one, is measured here."""
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.sql import functions as F

    from fanbase.models import drift, prep
    from fanbase.models import monitor as mon
    from fanbase.models.catalog import MONITORED
    from fanbase.models.frames import partition_rows
    from fanbase.models.registry import partition_label

    opts, current = entry.monitor, shared.current
    ev = mon.Evaluation(
        entry=entry,
        partition=partition_label(entry, values),
        registered_model=name,
        version=int(version.version),
        training_window=run.data.tags.get("fanbase.data_window"),
        training_value=run.data.metrics.get(MONITORED[entry.kind]),
        scoring_as_of=shared.scoring_as_of,
    )
    cur_rows = partition_rows(current, entry, values)
    if measured is None:
        ref_rows = partition_rows(reference, entry, values)
        measured = drift.measure(ref_rows, cur_rows, current.features, current.categorical)
    ev.reference_rows, ev.current_rows = measured.reference_rows, measured.current_rows
    ev.feature_psi = measured.feature_psi
    model = registry.load_model(version)
    if entry.kind == "churn":
        labelled = shared.labelled
        rows = partition_rows(labelled, entry, values)
        ev.labelled_window = _window(labelled.lineage)
        ev.newer_data = labelled.lineage["as_of_last"] > lineage.get("as_of_last", "")
        ev.labelled_rows = shared.labelled_rows.get(tuple(values), 0)
        if ev.labelled_rows >= opts.min_rows:
            scored = model.transform(rows).select(
                "label", F.col("churn_probability").alias("probability")
            )
            ev.metrics = mon.churn_metrics(scored)
        if shared.scores is not None:
            mine = shared.scores.where(
                (F.col("partition") == ev.partition) & (F.col("model_version") == ev.version)
            )
            matched = mon.matured_scores(mine, shared.labels)
            ev.matured_rows = matched.count()
            if ev.matured_rows >= opts.min_rows:
                ev.matured_metrics = mon.churn_metrics(matched)
        return ev
    ev.newer_data = str(shared.scoring_as_of) > lineage.get("snapshot", "")
    if ev.current_rows >= opts.min_rows:
        assigned = model.transform(cur_rows)
        evaluator = ClusteringEvaluator(featuresCol=prep.VECTOR, predictionCol="prediction")
        now = mon.segment_shares(assigned)
        ev.metrics = {"silhouette": evaluator.evaluate(assigned), "segment_rows": now}
        profiles = registry.champion_artifact(name, "profiles.json") or []
        if profiles:
            ev.share_psi = drift.psi(mon.training_shares(profiles), now)
            ev.metrics["segment_share_psi"] = ev.share_psi
    return ev


def evaluate_sentiment(ctx, builder, registry, entry) -> tuple[list, list[str], dict]:
    """Each language's champion: accuracy on the labels that arrived after it was
    trained (labels in the current silver table but not in the version it read), and
    the shares of its predicted classes in the newest posts against the label shares
    it learnt from."""
    from pyspark.sql import functions as F

    from fanbase.models import drift
    from fanbase.models import monitor as mon
    from fanbase.models.catalog import SocialOptions
    from fanbase.models.registry import registered_name
    from fanbase.models.social_output import POSTS_SCORED
    from fanbase.models.social_text import confusion_from_counts

    lake, opts = ctx.lakehouse, entry.monitor
    tables = {t: lake.version(t) for t in ("silver.social_posts", "silver.sentiment_labels")}
    posts = lake.read("silver.social_posts", tables["silver.social_posts"])
    labels_now = lake.read("silver.sentiment_labels", tables["silver.sentiment_labels"])
    scored = None
    if lake.exists(POSTS_SCORED):
        tables[POSTS_SCORED] = lake.version(POSTS_SCORED)
        scored = lake.read(POSTS_SCORED, tables[POSTS_SCORED])
    newest = posts.agg(F.max("post_date")).first()[0]
    if newest is None:
        return [], [f"{entry.name}: no posts"], tables
    recent = F.col("post_date") > F.date_sub(F.lit(newest), NEWEST_POST_DAYS)
    out, missing = [], []
    for language in (entry.social or SocialOptions()).languages:
        name = registered_name(registry.prefix, entry, (language,))
        version = registry.version_by_alias(name)
        if version is None:
            missing.append(f"{name}: no champion")
            continue
        run = registry.client.get_run(version.run_id)
        lineage = json.loads(run.data.tags.get("fanbase.lineage", "{}"))
        trained_on = lineage.get("input_tables", {}).get("silver.sentiment_labels")
        mine = posts.where(F.col("language") == language).select("post_id", "text")
        ev = mon.Evaluation(
            entry=entry,
            partition=f"language={language}",
            registered_model=name,
            version=int(version.version),
            training_window=f"silver.sentiment_labels v{trained_on}",
            training_value=run.data.metrics.get("accuracy"),
            scoring_as_of=newest,
        )
        if trained_on is not None:
            then = lake.read("silver.sentiment_labels", trained_on)
            learnt = _counts(then.join(mine, "post_id"), "sentiment")
            ev.reference_rows = sum(learnt.values())
            if scored is not None:
                now = scored.where(
                    recent
                    & (F.col("language") == language)
                    & (F.col("sentiment_version") == ev.version)
                )
                predicted = _counts(now, "sentiment")
                ev.current_rows = sum(predicted.values())
                if ev.reference_rows and ev.current_rows >= opts.min_rows:
                    ev.share_psi = drift.psi(learnt, predicted)
            arrived = labels_now.join(then.select("post_id"), "post_id", "left_anti")
            rows = arrived.join(mine, "post_id").persist()
            ev.labelled_window = f"labels after v{trained_on}"
            ev.labelled_rows = rows.count()
            ev.newer_data = ev.labelled_rows > 0
            if ev.labelled_rows >= opts.min_rows:
                model = registry.load_model(version)
                got = model.transform(
                    rows.select(
                        F.col("post_id").alias("key"), F.lit(language).alias("language"), "text"
                    )
                ).select(F.col("key").alias("post_id"), "predicted")
                pairs = rows.join(got, "post_id").groupBy("sentiment", "predicted").count()
                counts = {(r.sentiment, r.predicted): r["count"] for r in pairs.collect()}
                labels = sorted({k for pair in counts for k in pair})
                report = confusion_from_counts(counts, labels)
                ev.metrics = {k: report[k] for k in ("accuracy", "macro_f1", "rows")}
            rows.unpersist()
        out.append(ev)
        ctx.log.info("%s v%s: %s", name, ev.version, "; ".join(ev.reasons()) or "healthy")
    return out, missing, tables


def evaluate_survival(ctx, builder, registry, entry) -> tuple[list, list[str], dict]:
    """Each partition's Cox champion: its concordance on the spells known at the newest
    snapshot (its own fitted rows until a newer snapshot brings later outcomes), and the
    drift of its covariates from those spells to the subscribers it values now
    (``gold.customer_value``'s rows). The survival job refits every run, so ``retrain``
    here says the next survival run will find newer data."""
    import dataclasses

    import mlflow.pyfunc
    from pyspark.sql.types import ArrayType, StringType, StructField, StructType

    from fanbase.models import drift
    from fanbase.models import monitor as mon
    from fanbase.models import survival_fit as sf
    from fanbase.models.frames import partition_values
    from fanbase.models.registry import partition_label, registered_name

    opts = entry.monitor
    frames = builder.survival_frames(entry, ctx.config.value.new_subscriber_days)
    spec = sf.spec_for(entry, frames.fit, extend_days=ctx.config.value.horizon_days)
    fit = dataclasses.replace(frames.fit, df=frames.fit.df.persist())
    valued = dataclasses.replace(frames.fit, df=frames.value.persist())
    out, missing, champions, keys = [], [], [], []
    try:
        for values in partition_values(fit, entry):
            name = registered_name(registry.prefix, entry, values)
            version = registry.version_by_alias(name)
            if version is None:
                missing.append(f"{name}: no champion")
                continue
            uri = f"models:/{name}/{version.version}"
            card = mlflow.pyfunc.load_model(uri).unwrap_python_model().card
            run = registry.client.get_run(version.run_id)
            lineage = json.loads(run.data.tags.get("fanbase.lineage", "{}"))
            ev = mon.Evaluation(
                entry=entry,
                partition=partition_label(entry, values),
                registered_model=name,
                version=int(version.version),
                training_window=f"spells up to {lineage.get('snapshot')}",
                training_value=run.data.metrics.get("concordance"),
                scoring_as_of=frames.snapshot,
                labelled_window=f"spells up to {frames.snapshot}",
                newer_data=str(frames.snapshot) > lineage.get("snapshot", ""),
            )
            keys.append(values)
            champions += [
                (ev.partition, s["stratum"], card["coefficients"]) for s in card["strata"]
            ]
            out.append(ev)

        # Drift from the spells to the subscribers valued now, every partition at once.
        by = list(entry.partition_by)
        profiles = drift.profile_each(fit.df, by, keys, fit.features, fit.categorical)
        for ev, measured in zip(
            out, drift.measure_each(profiles, valued.df, by, keys), strict=True
        ):
            ev.reference_rows, ev.current_rows = measured.reference_rows, measured.current_rows
            ev.feature_psi = measured.feature_psi
        if champions:
            models = ctx.spark.createDataFrame(
                champions,
                StructType(
                    [
                        StructField("partition", StringType()),
                        StructField("stratum", StringType()),
                        StructField("coefficients", ArrayType(sf.COEFFICIENT)),
                    ]
                ),
            )
            found = mon.survival_concordance(fit.df, models, spec, tuple(fit.categorical))
            measured = {r["partition"]: r for r in found.collect()}
            for ev in out:
                got = measured.get(ev.partition)
                ev.labelled_rows = got["rows"] if got else 0
                if got and got["rows"] >= opts.min_rows and got["concordance"] is not None:
                    ev.metrics = {
                        "concordance": got["concordance"],
                        "events": got["events"],
                        "rows_without_a_stratum_model": got["unmatched"],
                    }
        for ev in out:
            reasons = "; ".join(ev.reasons()) or "healthy"
            ctx.log.info("%s v%s: %s", ev.registered_model, ev.version, reasons)
    finally:
        fit.df.unpersist()
        valued.df.unpersist()
    return out, missing, frames.fit.tables_read()


def _counts(df, column: str) -> dict[str, int]:
    return {r[column]: r["count"] for r in df.groupBy(column).count().collect()}


def _window(lineage: dict) -> str:
    return f"{lineage['as_of_first']}..{lineage['as_of_last']}"


def _newest_labelled(builder, entry) -> list[dt.date]:
    """The newest matured label dates, spanning the entry's test window."""
    dates = builder.label_dates(entry)  # newest first
    span = dt.timedelta(days=entry.split.test_days)
    return [d for d in dates if d > dates[0] - span]


def _reference(builder, entry, lineage: dict, cache: dict):
    """The rows the champion was trained on, rebuilt from the feature store (for a
    champion logged without a drift profile): the label dates of its window (churn) or
    its snapshot (segmentation). One per window."""
    if "snapshot" in lineage:
        key = lineage["snapshot"]
        if key not in cache:
            cache[key] = builder.snapshot_frame(entry, at=dt.date.fromisoformat(key))
            cache[key].df = cache[key].df.persist()
        return cache[key]
    first = dt.date.fromisoformat(lineage["as_of_first"])
    last = dt.date.fromisoformat(lineage["as_of_last"])
    key = f"{first}..{last}"
    if key not in cache:
        every = entry.label.every_days
        dates = [
            last - dt.timedelta(days=k * every) for k in range((last - first).days // every + 1)
        ]
        cache[key] = builder.churn_frame(entry, dates)
        cache[key].df = cache[key].df.persist()
    return cache[key]


def _matured(ctx, builder, entry):
    """The entry's earlier scores whose labels have matured, and those labels; (None,
    None) when there are none."""
    from pyspark.sql import functions as F

    from fanbase.features import training

    lake = ctx.lakehouse
    if not lake.exists(entry.output):
        return None, None
    build = builder.last_build()
    data_end = build["last_as_of"]
    horizon = entry.label.horizon_days
    scores = lake.read(entry.output).where(
        (F.col("model") == entry.name) & (F.date_add("as_of_date", horizon) <= F.lit(data_end))
    )
    dates = sorted(r[0] for r in scores.select("as_of_date").distinct().collect())
    if not dates:
        return None, None
    silver = json.loads(build["input_versions"])
    subs = lake.read("silver.subscriptions", silver["subscriptions"])
    labels = training.churn_labels(subs, dates, horizon, data_end).select(
        "user_id", "as_of_date", "label"
    )
    return scores, labels


def alert(ctx, flagged: list) -> None:
    """Call the configured alert hook with the flagged models; a hook that fails is a
    warning in the log, never a failed monitor run."""
    import subprocess
    import urllib.request

    opts = ctx.config.monitor
    if not (opts.alert_command or opts.alert_webhook):
        return
    payload = json.dumps(
        {
            "run_id": ctx.run_id,
            "flagged": [
                {
                    "entry": e.entry.name,
                    "partition": e.partition,
                    "registered_model": e.registered_model,
                    "version": e.version,
                    "action": e.action,
                    "drift_score": e.drift_score,
                    "decay": e.decay,
                    "reasons": e.reasons(),
                }
                for e in flagged
            ],
        }
    )
    try:
        if opts.alert_command:
            subprocess.run(
                opts.alert_command,
                shell=True,
                input=payload,
                text=True,
                check=True,
                timeout=opts.alert_timeout_seconds,
            )
        if opts.alert_webhook:
            request = urllib.request.Request(
                opts.alert_webhook,
                data=payload.encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=opts.alert_timeout_seconds):
                pass
        ctx.log.info("alert sent for %d flagged models", len(flagged))
    except Exception as err:  # noqa: BLE001 - an alert outage must not fail monitoring
        ctx.log.warning("alert hook failed: %s", err)


def format_evaluations(evaluations: list) -> str:
    width = max((len(e.registered_model) for e in evaluations), default=10)
    lines = [f"{'model':<{width}}  {'ver':>4}  {'drift':>6}  {'decay':>6}  status"]
    for e in evaluations:
        drift = f"{e.drift_score:.3f}" if e.drift_score is not None else "-"
        decay = f"{e.decay:.3f}" if e.decay is not None else "-"
        status = "; ".join(e.reasons()) or "healthy"
        lines.append(
            f"{e.registered_model:<{width}}  {e.version:>4}  {drift:>6}  {decay:>6}  {status}"
        )
    return "\n".join(lines)


EVALUATE = {"sentiment": evaluate_sentiment, "survival": evaluate_survival}

if __name__ == "__main__":
    main_for(__name__)
