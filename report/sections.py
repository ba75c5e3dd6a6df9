"""The report's sections: each reads its gold or ops tables, brings back only small
aggregates (bounded by models, markets and days, never by subscribers or events) and
turns them into figures and tables. A table that no job has written yet gives a section
that says which job writes it, so the report always renders."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fanbase.config import ReportSettings
from fanbase.report import figures


@dataclass
class Section:
    key: str  # the HTML anchor and the figures' file name prefix
    title: str
    about: str  # what an analyst reads in it
    tables_read: list[str]
    figures: list[tuple[str, str, Figure]] = field(default_factory=list)  # name, caption
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # caption, rows
    empty: str | None = None  # why there is nothing to show


class Inputs:
    """The tables the report reads, each pinned at its version when first read, so the
    page describes one state of each table and its run log can say which."""

    def __init__(self, lake):
        self.lake = lake
        self.versions: dict[str, int | None] = {}

    def read(self, table: str) -> DataFrame | None:
        """The table at its pinned version, or None if no job has written it yet."""
        if table not in self.versions:
            exists = self.lake.exists(table)
            self.versions[table] = self.lake.version(table) if exists else None
        version = self.versions[table]
        return None if version is None else self.lake.read(table, version)


def _missing(section: Section, table: str, job: str) -> Section:
    section.empty = f"{table} has no rows yet: `fanbase {job}` writes it."
    return section


def _value(partition: str) -> str:
    """'market=DE' -> 'DE'; '' (one model for all rows) -> 'all'."""
    return ", ".join(p.split("=", 1)[-1] for p in partition.split("/")) if partition else "all"


def survival(inputs: Inputs, opts: ReportSettings) -> Section:
    s = Section(
        "survival",
        "Survival curves",
        "Kaplan-Meier share of subscribers still subscribed by tenure: per partition of "
        "each survival model (e.g. per market), or per market within a pooled model.",
        ["gold.survival_curves"],
    )
    df = inputs.read("gold.survival_curves")
    rows = None
    if df is not None:
        columns = ["day", "survival", "subjects", "events", "median_days"]
        rows = (
            df.where("group_column = 'all' OR partition = ''")
            .select("model", "partition", "group_column", "group_value", *columns)
            .toPandas()
        )
    if rows is None or rows.empty:
        return _missing(s, "gold.survival_curves", "survival")
    keys = ["model", "partition", "group_column", "group_value"]
    curves = rows.groupby(keys, as_index=False).first()  # one row per curve
    shown = []
    for model, mine in curves.groupby("model"):
        if (mine["partition"] == "").all():  # pooled: its curves per market (or a group)
            groups = [g for g in mine["group_column"].unique() if g != "all"]
            by = "market" if "market" in groups else (groups[0] if groups else "all")
            picked = mine[mine["group_column"] == by].assign(label=lambda d: d["group_value"])
        else:  # one model per partition: each partition's overall curve
            by = mine["partition"].iloc[0].split("=", 1)[0]
            picked = mine[mine["group_column"] == "all"]
            picked = picked.assign(label=picked["partition"].map(_value))
        picked = picked.nlargest(opts.max_lines, "subjects")
        lines = rows.merge(picked[[*keys, "label"]], on=keys)
        caption = f"{model}: per {by}"
        s.figures.append((f"survival_{model}", caption, figures.survival_lines(lines, caption)))
        shown.append(picked.assign(curve=picked["label"]))
    table = pd.concat(shown)[["model", "curve", "subjects", "events", "median_days"]]
    s.tables.append(("Median tenure in days (empty: more than half still subscribed)", table))
    return s


def hazards(inputs: Inputs, opts: ReportSettings) -> Section:
    s = Section(
        "hazards",
        "Hazard ratios",
        "How each covariate multiplies the rate of leaving, with its 95% interval: above 1 "
        "subscribers leave sooner. Intervals that cross 1 are not distinguishable from no "
        "effect; ph_violated marks terms whose effect changes with tenure.",
        ["gold.hazard_ratios"],
    )
    df = inputs.read("gold.hazard_ratios")
    rows = None if df is None else df.toPandas()  # models x partitions x terms
    if rows is None or rows.empty:
        return _missing(s, "gold.hazard_ratios", "survival")
    for model, mine in rows.groupby("model"):
        parts = sorted(mine["partition"].unique())[: opts.max_lines]
        mine = mine[mine["partition"].isin(parts)].assign(
            series=lambda d: d["partition"].map(_value)
        )
        caption = f"{model}: hazard ratios" + (f" per {parts[0].split('=')[0]}" if parts[0] else "")
        s.figures.append((f"hazards_{model}", caption, figures.forest(mine, caption)))
    columns = ["model", "partition", "term", "hazard_ratio", "ci_lower", "ci_upper", "p_value"]
    s.tables.append(("Hazard ratios", rows[[*columns, "ph_violated"]]))
    return s


def churn(inputs: Inputs, opts: ReportSettings) -> Section:
    s = Section(
        "churn",
        "Churn models: lift and calibration",
        "On each model's held-out test rows: how many times the overall churn rate the "
        "highest-risk customers show (lift), and whether a predicted 10% means 10% "
        "(calibration; on the diagonal is right). The newest version of every model.",
        ["ops.model_curves", "ops.model_runs"],
    )
    curves, runs = inputs.read("ops.model_curves"), inputs.read("ops.model_runs")
    if curves is None or runs is None:
        return _missing(s, "ops.model_curves", "train")
    newest = Window.partitionBy("registered_model")
    rows = (
        curves.withColumn("_newest", F.max("version").over(newest))
        .where("version = _newest")
        .drop("_newest")
        .toPandas()
    )
    if rows.empty:
        return _missing(s, "ops.model_curves", "train")
    for entry, mine in rows.groupby("entry"):
        keep = sorted(mine["partition"].unique())[: opts.max_lines]
        mine = mine[mine["partition"].isin(keep)]
        mine = mine.assign(label=mine["partition"].map(_value))
        s.figures.append((f"churn_{entry}", entry, figures.lift_and_calibration(mine, entry)))
    latest = (
        runs.where("kind = 'churn' AND version IS NOT NULL")
        .withColumn("_newest", F.max("version").over(newest))
        .where("version = _newest")
        .select("entry", "partition", "version", "alias", "rows_fit", "metrics")
        .toPandas()
    )
    metrics = pd.json_normalize(latest["metrics"].map(json.loads))
    shown = [c for c in ("roc_auc", "pr_auc", "top_decile_lift", "brier") if c in metrics]
    table = pd.concat(
        [latest.drop(columns="metrics").reset_index(drop=True), metrics[shown]], axis=1
    )
    s.tables.append(
        ("Test metrics of the newest versions", table.sort_values(["entry", "partition"]))
    )
    return s


def segments(inputs: Inputs, opts: ReportSettings) -> Section:
    s = Section(
        "segments",
        "Customer segments",
        "Each segmentation model's segments per partition, named by the features that "
        "set them apart, with their share of subscribers.",
        ["gold.segment_profiles"],
    )
    df = inputs.read("gold.segment_profiles")
    rows = None if df is None else df.toPandas()  # models x partitions x segments
    if rows is None or rows.empty:
        return _missing(s, "gold.segment_profiles", "score")
    for model, mine in rows.groupby("model"):
        parts = sorted(mine["partition"].unique())[: opts.max_lines]
        mine = mine[mine["partition"].isin(parts)]
        mine = mine.assign(series=mine["partition"].map(_value))
        s.figures.append((f"segments_{model}", model, figures.segment_shares(mine, model)))
    rows = rows.assign(
        market=rows["partition"].map(_value),
        stands_out=rows["distinguishing"].map(_top_z),
    )
    columns = ["model", "market", "segment_id", "segment_name", "size", "share", "stands_out"]
    s.tables.append(("Segment profiles", rows[columns].sort_values(columns[:3])))
    return s


def _top_z(distinguishing, top: int = 3) -> str:
    """The features furthest from the partition's mean, in standard deviations."""
    items = dict(distinguishing or {})
    best = sorted(items.items(), key=lambda kv: -abs(kv[1] or 0))[:top]
    return ", ".join(f"{k} {v:+.1f}σ" for k, v in best)


def fixtures(inputs: Inputs, opts: ReportSettings) -> Section:
    s = Section(
        "fixtures",
        "Fixtures that bring subscribers",
        "Per market, the fixtures with the most new subscriptions attributed to them. "
        "Incremental lift (signups above the usual level for that hour) where a lift "
        "model ran; otherwise the first touch method of the attribution model.",
        ["gold.fixture_attribution"],
    )
    df = inputs.read("gold.fixture_attribution")
    rows = None
    if df is not None:
        rows = (
            df.where(F.col("rank") <= opts.top_fixtures)
            .select(
                "model",
                "method",
                "market",
                "rank",
                "fixture_id",
                "sport",
                "competition",
                "home",
                "away",
                "kickoff",
                "attributed_signups",
                "lift_lower",
                "lift_upper",
                "retention_90d",
                "expected_value",
                "currency",
            )
            .toPandas()
        )  # models x methods x markets x top_fixtures
    if rows is None or rows.empty:
        return _missing(s, "gold.fixture_attribution", "attribution")
    rows = rows.assign(fixture=[_fixture(r) for r in rows.itertuples()])
    for model, mine in rows.groupby("model"):
        methods = sorted(mine["method"].unique())
        method = "lift" if "lift" in methods else methods[0]
        mine = mine[mine["method"] == method].sort_values(["market", "rank"])
        caption = f"{model} ({method})"
        s.figures.append((f"fixtures_{model}", caption, figures.top_fixtures(mine, caption)))
        columns = [
            "market",
            "rank",
            "fixture",
            "competition",
            "kickoff",
            "attributed_signups",
            "lift_lower",
            "lift_upper",
            "retention_90d",
            "expected_value",
            "currency",
        ]
        shown = mine[[c for c in columns if mine[c].notna().any()]]
        s.tables.append((f"Top fixtures per market: {caption}", shown))
    return s


def _fixture(row) -> str:
    if row.home and row.away:
        name = f"{row.home} v {row.away}"
    else:
        name = row.fixture_id
    return f"{name} ({row.kickoff:%d %b})" if row.kickoff is not None else name


def social(inputs: Inputs, opts: ReportSettings) -> Section:
    s = Section(
        "social",
        "Social sentiment and spikes",
        f"The newest {opts.social_days} days of posts per market, spike days in red, with "
        "the day's mean sentiment (from -1, all negative, to 1, all positive). The table "
        "names the most-mentioned team, player or competition of each spike day.",
        ["gold.social_daily"],
    )
    df = inputs.read("gold.social_daily")
    last = None if df is None else df.agg(F.max("post_date")).first()[0]
    if last is None:
        return _missing(s, "gold.social_daily", "social")
    recent = df.where(F.col("post_date") > F.date_sub(F.lit(last), opts.social_days))
    market = recent.where("entity = '*'")
    daily = market.select(
        "market", "post_date", "posts", "mean_sentiment", "usual_posts", "spike_score", "spike"
    ).toPandas()  # markets x days
    s.figures.append(
        ("social_sentiment", "posts and sentiment", figures.sentiment_over_time(daily, "social"))
    )
    spikes = market.where("spike").select("market", "post_date")
    by_entity = Window.partitionBy("market", "post_date").orderBy(F.desc("posts"), "entity")
    talked = (
        recent.where("entity <> '*'")
        .join(spikes, ["market", "post_date"])
        .withColumn("_n", F.row_number().over(by_entity))
        .where("_n = 1")
        .select(
            "market",
            "post_date",
            F.concat_ws(": ", "entity_type", "entity").alias("most_mentioned"),
        )
    )
    table = (
        market.where("spike")
        .join(talked, ["market", "post_date"], "left")
        .select(
            "market",
            "post_date",
            "posts",
            "usual_posts",
            "spike_score",
            "mean_sentiment",
            "most_mentioned",
        )
        .orderBy(F.desc("spike_score"))
        .limit(50)
        .toPandas()
    )
    s.tables.append(("Spike days, largest first (at most 50)", table))
    return s


def runs(inputs: Inputs, opts: ReportSettings) -> Section:
    s = Section(
        "runs",
        "Pipeline and models",
        "The newest `fanbase run` and what each step did, and per catalog entry how many "
        "models its newest training registered as champion or challenger, or failed.",
        ["ops.job_runs", "ops.model_runs"],
    )
    jobs, models = inputs.read("ops.job_runs"), inputs.read("ops.model_runs")
    if jobs is None:
        return _missing(s, "ops.job_runs", "run")
    newest = jobs.where("job = 'run'").agg(F.max_by("run_id", "started_at")).first()[0]
    steps = (
        jobs.where(F.col("run_id") == newest)
        .select("job", "status", "rows_in", "rows_out", "seconds", "started_at", "error")
        .orderBy("started_at")
        .toPandas()
    )
    if newest is not None:
        s.tables.append((f"Run {newest}", steps))
    if models is not None:
        last = Window.partitionBy("entry")
        # Rows from before the skipped column have none: those errors were failures.
        skipped = (
            F.coalesce(F.col("skipped"), F.lit(False))
            if "skipped" in models.columns
            else F.lit(False)
        )
        failed = F.col("error").isNotNull() & ~skipped
        counts = (
            models.withColumn("_last", F.max("trained_at").over(last))
            .withColumn("_job", F.max_by("job_run_id", "trained_at").over(last))
            .where("job_run_id = _job")
            .groupBy("entry", "kind")
            .agg(
                F.count("*").alias("models"),
                F.sum(F.when(F.col("alias") == "champion", 1).otherwise(0)).alias("champions"),
                F.sum(F.when(F.col("alias") == "challenger", 1).otherwise(0)).alias("challengers"),
                F.sum(F.when(failed, 1).otherwise(0)).alias("failed"),
                F.sum(F.when(skipped, 1).otherwise(0)).alias("skipped"),
                F.max("_last").alias("trained_at"),
            )
            .orderBy("kind", "entry")
            .toPandas()
        )
        s.tables.append(("Models of the catalog, newest training of each entry", counts))
    if not s.tables:
        return _missing(s, "ops.job_runs", "run")
    return s


def attention(inputs: Inputs, opts: ReportSettings) -> Section:
    s = Section(
        "attention",
        "Models needing attention",
        "The newest evaluation of every monitored model, flagged ones first, then by "
        "drift: the largest feature PSI between its training rows and the newest rows "
        "(above 0.25 is a major shift), and the fall of its metric below its own test "
        "value on the newest labelled data.",
        ["ops.model_evaluations"],
    )
    df = inputs.read("ops.model_evaluations")
    if df is None:
        return _missing(s, "ops.model_evaluations", "monitor")
    newest = Window.partitionBy("entry", "partition")
    rows = (
        df.withColumn("_newest", F.max("evaluated_at").over(newest))
        .where("evaluated_at = _newest")
        .select(
            "entry",
            "partition",
            "version",
            "flagged",
            "action",
            "drift_score",
            "drifted_features",
            "metric",
            "training_value",
            "decay",
            "reasons",
            "evaluated_at",
        )
        .toPandas()
    )  # one row per monitored model
    if rows.empty:
        return _missing(s, "ops.model_evaluations", "monitor")
    rows = rows.sort_values(
        ["flagged", "drift_score"], ascending=[False, False], na_position="last"
    ).assign(model=lambda d: d["entry"] + " " + d["partition"].map(_value))
    top = rows.head(opts.max_lines * 2)
    s.figures.append(("attention_drift", "drift score", figures.attention(top, "models")))
    rows = rows.assign(drifted_features=rows["drifted_features"].map(", ".join))
    s.tables.append(("Newest evaluation of each model", rows.drop(columns="model")))
    return s


SECTIONS = (attention, survival, hazards, churn, segments, fixtures, social, runs)
