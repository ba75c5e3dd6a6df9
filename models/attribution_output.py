"""The gold tables of content attribution, and what attributed subscribers are worth.

``gold.fixture_attribution`` has one row per model, method, market and fixture;
``gold.attribution_by_competition`` and ``gold.attribution_by_sport`` roll it up per
market (money stays in each market's currency, so nothing is summed across markets).

Retention and value come from the subscribers credited: ``retention_30d`` is the
credit-weighted share still subscribed 30 days after signup among those whose day 30 is
before the snapshot (null until one is); ``retained_30d`` = attributed signups x that
share; likewise 90 days. ``expected_value`` = attributed signups x the credited
subscribers' mean value: margin on what they paid so far plus their expected discounted
remaining value from ``gold.customer_value`` (null without it). The lift method has no
individual subscribers: it borrows the rates and value of the fixture's first-watch
subscribers, else the market's new subscribers, and applies them to max(lift, 0).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DoubleType, LongType, StringType, StructType

from fanbase.models.survival_fit import _f, conform

FIXTURE_ATTRIBUTION = "gold.fixture_attribution"
BY_COMPETITION = "gold.attribution_by_competition"
BY_SPORT = "gold.attribution_by_sport"
RETENTION_DAYS = (30, 90)

LINEAGE = [
    _f("model", StringType(), False, "catalog entry"),
    _f("registered_model", StringType(), True, "MLflow registered baseline (lift); null for touch"),
    _f("model_version", LongType(), True, "registered version of the baseline"),
    _f("mlflow_run_id", StringType(), True, "MLflow run of this attribution"),
    _f("snapshot_date", DateType(), False, "signups before 00:00 UTC of this date"),
    _f("input_tables", StringType(), False, "silver tables and Delta versions read (JSON)"),
    _f("run_id", StringType(), False, "the attribution job run that wrote the row"),
]
_MEASURES = [
    _f("attributed_signups", DoubleType(), False, "credit (touch) or excess signups (lift)"),
    _f("lift", DoubleType(), True, "lift: signups above the baseline in the windows"),
    _f("lift_lower", DoubleType(), True, "lower end of the lift's interval"),
    _f("lift_upper", DoubleType(), True, "upper end of the lift's interval"),
    _f("window_signups", LongType(), True, "lift: new subscriptions inside the windows"),
    _f("baseline_signups", DoubleType(), True, "lift: signups the baseline expects there"),
    _f("retention_30d", DoubleType(), True, "share still subscribed 30 days after signup"),
    _f("retained_30d", DoubleType(), True, "attributed signups x retention_30d"),
    _f("retention_90d", DoubleType(), True, "share still subscribed 90 days after signup"),
    _f("retained_90d", DoubleType(), True, "attributed signups x retention_90d"),
    _f("expected_value", DoubleType(), True, "attributed signups x mean value, local currency"),
    _f("currency", StringType(), True, "currency of expected_value"),
    _f("rank", LongType(), False, "1 = most attributed signups in the market and method"),
]
FIXTURE_SCHEMA = StructType(
    [
        *LINEAGE,
        _f("method", StringType(), False, "first_watch, last_live, linear, time_decay or lift"),
        _f("market", StringType(), False),
        _f("fixture_id", StringType(), False),
        _f("sport", StringType(), True),
        _f("competition", StringType(), True),
        _f("home", StringType(), True),
        _f("away", StringType(), True),
        _f("kickoff", DateType(), True, "kickoff date (UTC)"),
        _f("tier", StringType(), True, "marquee or standard"),
        *_MEASURES,
    ]
)


def _rollup_schema(level: list[str]) -> StructType:
    return StructType(
        [
            *LINEAGE,
            _f("method", StringType(), False),
            _f("market", StringType(), False),
            *[_f(c, StringType(), True) for c in level],
            _f("fixtures", LongType(), False, "fixtures with a row"),
            *_MEASURES,
        ]
    )


COMPETITION_SCHEMA = _rollup_schema(["sport", "competition"])
SPORT_SCHEMA = _rollup_schema(["sport"])


def subscriber_outcomes(
    new: DataFrame,
    payments: DataFrame,
    remaining_value: DataFrame | None,
    snapshot: dt.date,
    margin: float,
) -> DataFrame:
    """Per new subscription: ``stayed_<d>`` (1/0 whether still subscribed d days after
    signup; null while day d is after the snapshot) and its value.

    ``payments``: silver events of type payment; ``remaining_value``:
    (subscription_id, lifetime_value) of current subscribers, or None."""
    cut = F.lit(snapshot).cast("timestamp")
    out = new.select("subscription_id", "market", "started_at", "ended_at")
    for days in RETENTION_DAYS:
        day = F.col("started_at") + F.expr(f"INTERVAL {days} DAYS")
        stayed = F.col("ended_at").isNull() | (F.col("ended_at") >= day)
        out = out.withColumn(f"stayed_{days}", F.when(day <= cut, stayed.cast("double")))
    if remaining_value is None:
        return out.withColumn("value", F.lit(None).cast("double"))
    paid = (
        payments.where(F.col("ts") < cut)
        .groupBy("subscription_id")
        .agg(
            F.sum(
                F.when(F.col("status") == "succeeded", F.col("amount"))
                .when(F.col("status") == "refunded", -F.col("amount"))
                .otherwise(0.0)
            ).alias("paid")
        )
    )
    return (
        out.join(paid, "subscription_id", "left")
        .join(remaining_value, "subscription_id", "left")
        .withColumn(
            "value",
            margin * F.coalesce("paid", F.lit(0.0)) + F.coalesce("lifetime_value", F.lit(0.0)),
        )
        .drop("paid", "lifetime_value")
    )


def touch_rows(credits: DataFrame, outcomes: DataFrame) -> DataFrame:
    """Per method, market and fixture: credit and the credited subscribers' outcomes."""
    joined = credits.join(outcomes.drop("market"), "subscription_id")
    credit = F.col("credit")
    aggs = [F.sum(credit).alias("attributed_signups")]
    for days in RETENTION_DAYS:
        aggs.append(
            (
                F.sum(credit * F.col(f"stayed_{days}"))
                / F.sum(F.when(F.col(f"stayed_{days}").isNotNull(), credit))
            ).alias(f"retention_{days}d")
        )
    aggs.append((F.sum(credit * F.col("value")) / F.sum(credit)).alias("mean_value"))
    return joined.groupBy("method", "market", "fixture_id").agg(*aggs)


def market_rates(outcomes: DataFrame) -> DataFrame:
    """Per market: retention and mean value of all new subscriptions (the fallback)."""
    aggs = [F.avg(f"stayed_{days}").alias(f"market_retention_{days}d") for days in RETENTION_DAYS]
    return outcomes.groupBy("market").agg(*aggs, F.avg("value").alias("market_value"))


def lift_rows(lifts: DataFrame, signups: DataFrame, first_watch: DataFrame, rates: DataFrame):
    """Lift rows with outcomes borrowed from the fixture's first-watch subscribers (else
    the market's): ``first_watch`` is ``touch_rows`` of method first_watch."""
    borrowed = first_watch.select(
        "market",
        "fixture_id",
        *[F.col(f"retention_{d}d").alias(f"fw_retention_{d}d") for d in RETENTION_DAYS],
        F.col("mean_value").alias("fw_value"),
    )
    out = (
        lifts.join(signups, ["market", "fixture_id"], "left")
        .join(borrowed, ["market", "fixture_id"], "left")
        .join(rates, "market", "left")
        .withColumn("method", F.lit("lift"))
        .withColumn("attributed_signups", F.col("lift"))
        .withColumn("window_signups", F.coalesce("window_signups", F.lit(0)))
        .withColumn("mean_value", F.coalesce("fw_value", "market_value"))
    )
    for d in RETENTION_DAYS:
        out = out.withColumn(
            f"retention_{d}d", F.coalesce(f"fw_retention_{d}d", f"market_retention_{d}d")
        )
    return out


def finish(rows: DataFrame, fixtures: DataFrame, currencies: DataFrame, lineage: dict) -> DataFrame:
    """Fixture columns, retained counts, value, rank and lineage, in the table's order."""
    positive = F.greatest("attributed_signups", F.lit(0.0))
    out = rows
    for d in RETENTION_DAYS:
        out = out.withColumn(f"retained_{d}d", positive * F.col(f"retention_{d}d"))
    order = Window.partitionBy("method", "market").orderBy(
        F.desc("attributed_signups"), "fixture_id"
    )
    out = (
        out.withColumn("expected_value", positive * F.col("mean_value"))
        .join(
            fixtures.select(
                "fixture_id",
                "sport",
                "competition",
                "home",
                "away",
                F.to_date("kickoff").alias("kickoff"),
                "tier",
            ),
            "fixture_id",
            "left",
        )
        .join(currencies, "market", "left")
        .withColumn("rank", F.row_number().over(order))
    )
    for name, value in lineage.items():
        out = out.withColumn(name, F.lit(value))
    for name in [f.name for f in FIXTURE_SCHEMA.fields if f.name not in out.columns]:
        out = out.withColumn(name, F.lit(None))
    return conform(out, FIXTURE_SCHEMA)


def rollup(fixture_rows: DataFrame, level: list[str], schema: StructType) -> DataFrame:
    """Sums per market and ``level``; the lift interval adds variances (fixtures'
    windows are mostly apart), rates are weighted by attributed signups."""
    keys = [f.name for f in LINEAGE] + ["method", "market", *level]
    half = (F.col("lift_upper") - F.col("lift_lower")) / 2
    positive = F.greatest("attributed_signups", F.lit(0.0))
    agg = fixture_rows.groupBy(*keys).agg(
        F.count("*").alias("fixtures"),
        F.sum("attributed_signups").alias("attributed_signups"),
        F.sum("lift").alias("lift"),
        F.sqrt(F.sum(F.pow(half, 2))).alias("half"),
        F.sum("window_signups").alias("window_signups"),
        F.sum("baseline_signups").alias("baseline_signups"),
        *[F.sum(f"retained_{d}d").alias(f"retained_{d}d") for d in RETENTION_DAYS],
        *[
            (
                F.sum(positive * F.col(f"retention_{d}d"))
                / F.sum(F.when(F.col(f"retention_{d}d").isNotNull(), positive))
            ).alias(f"retention_{d}d")
            for d in RETENTION_DAYS
        ],
        F.sum("expected_value").alias("expected_value"),
        F.first("currency", ignorenulls=True).alias("currency"),
    )
    order = Window.partitionBy("model", "method", "market").orderBy(
        F.desc("attributed_signups"), *level
    )
    out = (
        agg.withColumn("lift_lower", F.col("lift") - F.col("half"))
        .withColumn("lift_upper", F.col("lift") + F.col("half"))
        .withColumn("rank", F.row_number().over(order))
    )
    return conform(out, schema)
