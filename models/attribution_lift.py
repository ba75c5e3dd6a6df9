"""Incremental lift: new subscriptions per hour above a Poisson baseline, per fixture.

1. ``hourly_signups``: new subscriptions per market and UTC hour, zeros included, from
   the later of the data's first day and the market's launch to the snapshot.
2. ``fit_baseline``: one Poisson GLM (Spark ML) over all markets: a level, month and
   linear trend per market, and a weekly and daily profile in local time, shared by
   the markets (a small market has too few signups at 4 a.m. on Tuesdays for its own)
   or per market (``per_market_profile``). It is
   fitted twice: hours whose count the first fit makes less likely than ``spike_p``
   (Poisson upper tail) are left out of the second, so the big fixtures do not raise
   their own baseline.
3. ``window_hours``: each (fixture, broadcasting market) window
   [kickoff - before, end + after) cut into the UTC hours it covers, with the covered
   fraction of each hour.
4. ``hour_shares``: an hour's excess (observed - baseline) is shared by the windows in
   it: by the hour's new subscribers who watched each fixture in their first sessions,
   plus a prior of ``share_prior`` signups spread over the hour by coverage (the part
   no window covers keeps its part of the prior for "no fixture").
5. ``backfit``: the baseline is refitted on the signups the fixtures do not claim, so
   weekend evenings full of big fixtures do not pass their lift off as baseline.
6. ``share_excess``: a fixture's lift is its shares of its hours' excess summed; its
   variance sums share^2 x max(observed, baseline) (Poisson), giving a normal interval.

The interval is conditional on the baseline (its own estimation error is small beside
the Poisson noise of one window) and on the watch weights.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import Interaction, OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.ml.regression import GeneralizedLinearRegression
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType

from fanbase.models.catalog import LiftOptions

TERMS = ("market", "weekday_level", "hour_of_day_level", "month_level")
# Sorts after every market code and level, so the encoder's dropLast drops it.
REFERENCE = "~reference"


def _hour():
    return F.expr("INTERVAL 1 HOUR")


def hourly_signups(
    spark: SparkSession,
    new: DataFrame,
    markets: DataFrame,
    timezones: dict[str, str],
    first_day: dt.date,
    snapshot: dt.date,
    per_market_profile: bool = False,
) -> DataFrame:
    """(market, hour_start, signups, trend and the GLM's levels) for every hour a market
    was open in [first_day, snapshot). The weekly and daily profile is shared by all
    markets (in each one's local time) unless ``per_market_profile``."""
    zones = spark.createDataFrame(
        [(m, timezones.get(m, "UTC")) for (m,) in markets.select("market").collect()],
        "market string, timezone string",
    )
    start = F.greatest(F.col("launched_on"), F.lit(first_day)).cast("timestamp")
    hours = (
        markets.select("market", "launched_on")
        .where(F.col("launched_on") < F.lit(snapshot))
        .select(
            "market",
            F.explode(
                F.sequence(start, F.lit(snapshot).cast("timestamp") - _hour(), _hour())
            ).alias("hour_start"),
        )
    )
    counts = new.groupBy("market", F.date_trunc("hour", "started_at").alias("hour_start")).agg(
        F.count("*").alias("signups")
    )
    years = (F.col("hour_start").cast("long") - F.lit(first_day).cast("timestamp").cast("long")) / (
        365.25 * 86400
    )
    local = F.from_utc_timestamp("hour_start", F.col("timezone"))
    per_market = Window.partitionBy("market")
    out = (
        hours.join(counts, ["market", "hour_start"], "left")
        .join(zones, "market")
        .select(
            "market",
            "hour_start",
            F.coalesce("signups", F.lit(0)).cast("double").alias("signups"),
            F.dayofweek(local).alias("weekday"),
            F.hour(local).alias("hour_of_day"),
            F.month(local).alias("month"),
            years.alias("trend"),
        )
        .withColumn("first_month", F.min("month").over(per_market))
    )

    # Levels per market (or weekday and hour shared by all markets, in local time), the
    # reference level (Sunday, midnight, the market's first month) named REFERENCE so
    # that the encoder drops it: a full-rank design, no penalty needed.
    def level(term, ref, own):
        name = F.concat_ws(":", "market", F.col(term).cast("string")) if own else F.col(term)
        return F.when(F.col(term) == ref, F.lit(REFERENCE)).otherwise(name.cast("string"))

    return out.select(
        "market",
        "hour_start",
        "signups",
        "trend",
        level("weekday", F.lit(1), per_market_profile).alias("weekday_level"),
        level("hour_of_day", F.lit(0), per_market_profile).alias("hour_of_day_level"),
        level("month", F.col("first_month"), True).alias("month_level"),
    )


def _design() -> Pipeline:
    """The GLM's design matrix from the hourly levels: one-hot terms and a trend per market."""
    indexed = [f"{t}_index" for t in TERMS]
    coded = [f"{t}_vec" for t in TERMS]
    return Pipeline(
        stages=[
            # Alphabetical order puts REFERENCE (and the last market) last: dropped.
            StringIndexer(inputCols=list(TERMS), outputCols=indexed, stringOrderType="alphabetAsc"),
            OneHotEncoder(inputCols=indexed, outputCols=coded, dropLast=True),
            # A trend per market: the market's indicator times years since the start.
            StringIndexer(inputCol="market", outputCol="market_all_index"),
            OneHotEncoder(inputCol="market_all_index", outputCol="market_all", dropLast=False),
            Interaction(inputCols=["market_all", "trend"], outputCol="market_trend"),
            VectorAssembler(inputCols=[*coded, "market_trend"], outputCol="features"),
        ]
    )


def _glm(opts: LiftOptions, max_iter: int = 50) -> GeneralizedLinearRegression:
    return GeneralizedLinearRegression(
        family="poisson",
        link="log",
        labelCol="signups",
        weightCol="weight",
        regParam=opts.ridge,
        maxIter=max_iter,
        predictionCol="baseline",
    )


def _fit(hours: DataFrame, opts: LiftOptions) -> PipelineModel:
    """The baseline fitted on ``hours`` (hourly_signups with a weight): one PipelineModel
    of the design's stages and the GLM, as ``Pipeline(design + glm).fit`` would give.

    The design is computed once and cached before the GLM sees it: the GLM's IRLS reads
    its input once per iteration and does not cache it, so fitted as one pipeline every
    iteration would compute the design, and the hours under it, again."""
    design = _design().fit(hours)
    rows = design.transform(hours).select("features", "signups", "weight").persist()
    try:
        glm = _glm(opts).fit(rows)
    finally:
        rows.unpersist()
    return PipelineModel(stages=[*design.stages, glm])


@F.pandas_udf(DoubleType())
def poisson_tail(observed: pd.Series, expected: pd.Series) -> pd.Series:
    """P(X >= observed) for X ~ Poisson(expected)."""
    from scipy.stats import poisson

    return pd.Series(poisson.sf(observed - 1, expected))


@dataclass
class Baseline:
    model: PipelineModel
    hours: DataFrame  # hourly_signups + baseline + spike
    spikes: int


def fit_baseline(hourly: DataFrame, opts: LiftOptions) -> Baseline:
    """Fit, mark the spikes, refit without them; ``hours`` carries the final baseline."""
    # Checkpointed: the first fit and its transform read the hours several times.
    weighted = hourly.withColumn("weight", F.lit(1.0)).localCheckpoint()
    first = _fit(weighted, opts)
    marked = (
        first.transform(weighted)
        .withColumn("spike", poisson_tail("signups", "baseline") < opts.spike_p)
        .select(*hourly.columns, "spike")
        .withColumn("weight", F.when(F.col("spike"), 0.0).otherwise(1.0))
        .localCheckpoint()
    )
    model = _fit(marked, opts)
    hours = model.transform(marked).select(
        *hourly.columns, "spike", "baseline", F.col("signups").alias("unclaimed")
    )
    return Baseline(model, hours, marked.where("spike").count())


def backfit(baseline: Baseline, marks: DataFrame, opts: LiftOptions) -> Baseline:
    """Refit the baseline on the signups the fixtures do not claim.

    Fixtures' extra signups fall on busy hours (weekend evenings), so a baseline fitted
    on all signups absorbs part of them and understates every lift. Each round takes
    out of each hour's count its excess over the baseline, but at most the signups of
    that hour who watched a fixture whose window they signed up in, and refits (backfitting the
    additive model signups = baseline + lifts). The cap by evidence keeps hours where
    windows always run (European evenings are Japanese nights) from draining their
    baseline to zero round after round. Spikes stay out."""
    claimed = marks.groupBy("market", "hour_start").agg(F.sum("watchers").alias("evidence"))
    hours = baseline.hours
    model = baseline.model
    for _ in range(opts.backfit_rounds):
        adjusted = (
            hours.join(claimed, ["market", "hour_start"], "left")
            .withColumn(
                "claimed",
                F.least(
                    F.coalesce("evidence", F.lit(0.0)),
                    F.greatest(F.col("signups") - F.col("baseline"), F.lit(0.0)),
                ),
            )
            .withColumn("observed", F.col("signups"))
            .withColumn("signups", F.col("signups") - F.col("claimed"))
            .withColumn("weight", F.when(F.col("spike"), 0.0).otherwise(1.0))
            .drop("baseline", "evidence", "claimed", "unclaimed")
            .localCheckpoint()
        )
        model = _fit(adjusted, opts)
        hours = (
            model.transform(adjusted)
            .withColumn("unclaimed", F.col("signups"))
            .withColumn("signups", F.col("observed"))
            .select(*baseline.hours.columns)
            .localCheckpoint()
        )
    return Baseline(model, hours, baseline.spikes)


def fit_metrics(hours: DataFrame, parameters_per_market: int) -> DataFrame:
    """Per market: hours, signups, and the Pearson dispersion and deviance explained of
    the baseline on the signups no fixture claims, spikes left out (dispersion near 1:
    Poisson noise is all that is left)."""
    o, mu = F.col("unclaimed"), F.col("baseline")
    unit = F.when(o > 0, o * F.log(o / mu)).otherwise(0.0) - (o - mu)
    kept = hours.where(~F.col("spike"))
    mean = kept.groupBy("market").agg(F.avg("unclaimed").alias("mean"))
    null_unit = F.when(o > 0, o * F.log(o / F.col("mean"))).otherwise(0.0) - (o - F.col("mean"))
    return (
        kept.join(mean, "market")
        .groupBy("market")
        .agg(
            F.count("*").alias("hours"),
            F.sum("signups").alias("signups"),
            F.sum(F.pow(o - mu, 2) / mu).alias("pearson"),
            F.sum(2 * unit).alias("deviance"),
            F.sum(2 * null_unit).alias("null_deviance"),
        )
        .select(
            "market",
            "hours",
            "signups",
            (F.col("pearson") / (F.col("hours") - parameters_per_market)).alias("dispersion"),
            (1 - F.col("deviance") / F.col("null_deviance")).alias("deviance_explained"),
        )
    )


def window_hours(
    fixtures: DataFrame,
    markets: DataFrame,
    start_offset_minutes: int,
    end_offset_minutes: int,
    first_day: dt.date,
    snapshot: dt.date,
) -> DataFrame:
    """(fixture_id, market, kickoff, window_start, window_end, hour_start, covered) for
    each fixture, market broadcasting it (once launched) and UTC hour its window touches.

    The window is [kickoff - start_offset, kickoff + duration + end_offset), clipped to
    [first_day, snapshot)."""
    lo = F.greatest(
        F.col("kickoff") - F.expr(f"INTERVAL {start_offset_minutes} MINUTES"),
        F.lit(first_day).cast("timestamp"),
    )
    hi = F.least(
        F.expr(
            f"kickoff + make_interval(0, 0, 0, 0, 0, duration_minutes + {end_offset_minutes}, 0)"
        ),
        F.lit(snapshot).cast("timestamp"),
    )
    windows = (
        fixtures.select(
            "fixture_id", "kickoff", "duration_minutes", F.explode("markets").alias("market")
        )
        .join(markets.select("market", "launched_on"), "market")
        .withColumn("window_start", F.greatest(lo, F.col("launched_on").cast("timestamp")))
        .withColumn("window_end", hi)
        .where(F.col("window_end") > F.col("window_start"))
    )
    seconds = F.least("window_end", F.col("hour_start") + _hour()).cast("long") - F.greatest(
        "window_start", "hour_start"
    ).cast("long")
    return windows.select(
        "fixture_id",
        "market",
        "kickoff",
        "window_start",
        "window_end",
        F.explode(
            F.sequence(
                F.date_trunc("hour", "window_start"),
                F.date_trunc("hour", F.col("window_end") - F.expr("INTERVAL 1 SECOND")),
                _hour(),
            )
        ).alias("hour_start"),
    ).withColumn("covered", seconds / 3600.0)


def watch_marks(sessions: DataFrame, windows: DataFrame) -> DataFrame:
    """(market, hour_start, fixture_id, watchers): new subscriptions that signed up inside
    a fixture's window and watched that fixture among their first sessions; one who
    watched k such fixtures counts 1/k for each. ``sessions``: ``first_sessions``.

    Any of the first sessions, not only the first: a fan who signs up for the match
    may watch something else until kickoff."""
    watched = sessions.select("subscription_id", "market", "fixture_id", "started_at").distinct()
    inside = (
        watched.withColumn("hour_start", F.date_trunc("hour", "started_at"))
        .join(windows, ["market", "hour_start", "fixture_id"])
        .where(
            (F.col("started_at") >= F.col("window_start"))
            & (F.col("started_at") < F.col("window_end"))
        )
    )
    return (
        inside.withColumn("w", 1.0 / F.count("*").over(Window.partitionBy("subscription_id")))
        .groupBy("market", "hour_start", "fixture_id")
        .agg(F.sum("w").alias("watchers"))
    )


def window_signups(new: DataFrame, windows: DataFrame) -> DataFrame:
    """(market, fixture_id, window_signups): new subscriptions inside each window."""
    return (
        new.select("market", "started_at", F.date_trunc("hour", "started_at").alias("hour_start"))
        .join(windows, ["market", "hour_start"])
        .where(
            (F.col("started_at") >= F.col("window_start"))
            & (F.col("started_at") < F.col("window_end"))
        )
        .groupBy("market", "fixture_id")
        .agg(F.count("*").alias("window_signups"))
    )


def hour_shares(windows: DataFrame, marks: DataFrame, opts: LiftOptions) -> DataFrame:
    """(market, hour_start, fixture_id, covered, share): each window's share of its
    hours' excess.

    Share = (watchers + prior x covered / max(1, total coverage)) / (all the hour's
    watchers + prior): the hour's signups who watched a fixture vote for it, and a
    prior of ``share_prior`` signups is spread over the hour by coverage, the part no
    window covers (1 - total coverage, when below 1) keeping its part for no fixture.
    The prior is per hour, not per window: at 2 a.m. during the Australian Open forty
    tennis windows must not outvote the fans who signed up for the Super Bowl."""
    prior = F.lit(opts.share_prior)
    weighted = windows.join(marks, ["market", "hour_start", "fixture_id"], "left").withColumn(
        "watchers", F.coalesce("watchers", F.lit(0.0))
    )
    per_hour = weighted.groupBy("market", "hour_start").agg(
        F.sum("watchers").alias("hour_watchers"), F.sum("covered").alias("coverage")
    )
    slots = F.greatest(F.col("coverage"), F.lit(1.0))
    return weighted.join(per_hour, ["market", "hour_start"]).select(
        "market",
        "hour_start",
        "fixture_id",
        "covered",
        (
            (F.col("watchers") + prior * F.col("covered") / slots)
            / (F.col("hour_watchers") + prior)
        ).alias("share"),
    )


def share_excess(hours: DataFrame, shares: DataFrame, opts: LiftOptions) -> DataFrame:
    """(market, fixture_id, lift, lift_se, lift_lower, lift_upper, baseline_signups)."""
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + opts.level / 2))
    hourly = hours.select(
        "market",
        "hour_start",
        (F.col("signups") - F.col("baseline")).alias("excess"),
        F.greatest("signups", "baseline").alias("variance"),
        "baseline",
    )
    return (
        shares.join(hourly, ["market", "hour_start"])
        .groupBy("market", "fixture_id")
        .agg(
            F.sum(F.col("share") * F.col("excess")).alias("lift"),
            F.sqrt(F.sum(F.pow("share", 2) * F.col("variance"))).alias("lift_se"),
            F.sum(F.col("covered") * F.col("baseline")).alias("baseline_signups"),
        )
        .withColumn("lift_lower", F.col("lift") - z * F.col("lift_se"))
        .withColumn("lift_upper", F.col("lift") + z * F.col("lift_se"))
    )


def parameters_per_market(markets: int, per_market_profile: bool) -> float:
    """GLM coefficients per market: its level, months and trend, plus its weekday and
    hour terms (or its part of the shared ones)."""
    profile = 6 + 23
    return 1 + 11 + 1 + (profile if per_market_profile else profile / markets)
