"""Point-in-time training sets and survival sets from the feature store.

Label rows say *who* and *when* (user_id, as_of_date) and what happened after; the
point-in-time join attaches, for each label row, the newest feature row of the same
user with ``feature.as_of_date <= label.as_of_date`` and no older than the lookback.
Feature rows at A only use events before A (features/spec.py), and labels only use
events on or after A, so nothing leaks from the label's future into its features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fanbase.features.spine import spells, subscriber_spine

KEYS = ["user_id", "as_of_date"]


def as_of_dates(first: dt.date, last: dt.date, every_days: int) -> list[dt.date]:
    """Every ``every_days``-th date from ``first`` up to ``last``."""
    if every_days < 1:
        raise ValueError("every_days must be >= 1")
    n = (last - first).days // every_days
    return [first + dt.timedelta(days=k * every_days) for k in range(n + 1)]


def churn_labels(
    subscriptions: DataFrame,
    dates: Sequence[dt.date],
    horizon_days: int,
    data_end: dt.date,
    include_pending_cancels: bool = False,
) -> DataFrame:
    """Who was subscribed at each as-of date and whether they cancelled within
    ``horizon_days`` from it (a cancel request in ``[A, A + H)``).

    Only matured labels: as-of dates whose horizon ends by ``data_end`` (the day after
    the last day of data), so no row is a false negative for lack of data. Users with
    a cancel already pending at A are left out unless asked for: their outcome is known.
    """
    matured = [d for d in dates if d + dt.timedelta(days=horizon_days) <= data_end]
    if not matured:
        raise ValueError(f"no as-of date has a matured {horizon_days}-day label before {data_end}")
    spine = subscriber_spine(subscriptions, min(matured), max(matured))
    spine = spine.where(F.col("as_of_date").isin(matured))
    if not include_pending_cancels:
        spine = spine.where(~F.col("cancel_pending"))
    cancels = subscriptions.select("subscription_id", "cancelled_at")
    midnight = F.col("as_of_date").cast("timestamp")
    horizon_end = F.date_add("as_of_date", horizon_days).cast("timestamp")
    labelled = spine.join(cancels, "subscription_id", "left")
    return labelled.select(
        "user_id",
        "as_of_date",
        "subscription_id",
        "market",
        "plan",
        F.coalesce(
            (F.col("cancelled_at") >= midnight) & (F.col("cancelled_at") < horizon_end),
            F.lit(False),
        )
        .cast("int")
        .alias("label"),
    )


def point_in_time_join(
    labels: DataFrame, features: DataFrame, lookback_days: int, prefix: str = ""
) -> DataFrame:
    """Each label row with the newest feature row of its user at or before its as-of
    date, at most ``lookback_days`` older; feature columns null when there is none.

    Done as one sort per user (labels and features interleaved by date, features first
    on a tie) instead of a range join, so it scales with the rows, not their product.
    Each label row travels through the sort whole (packed in a struct), so nothing has
    to be joined back by a generated row id (such ids are not stable across
    recomputation).
    """
    feature_cols = [c for c in features.columns if c not in KEYS and c != "as_of_month"]
    feature_type = (
        features.select(
            F.struct(F.col("as_of_date").alias("_feature_date"), *feature_cols).alias("_f")
        )
        .schema["_f"]
        .dataType
    )
    label_type = labels.select(F.struct(*labels.columns).alias("_l")).schema["_l"].dataType
    packed = features.select(
        "user_id",
        F.col("as_of_date").alias("_d"),
        F.lit(0).alias("_order"),
        F.struct(F.col("as_of_date").alias("_feature_date"), *feature_cols).alias("_f"),
        F.lit(None).cast(label_type).alias("_l"),
    )
    probes = labels.select(
        "user_id",
        F.col("as_of_date").alias("_d"),
        F.lit(1).alias("_order"),
        F.lit(None).cast(feature_type).alias("_f"),
        F.struct(*labels.columns).alias("_l"),
    )
    by_user = (
        Window.partitionBy("user_id")
        .orderBy("_d", "_order")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    found = (
        packed.unionByName(probes)
        .withColumn("_latest", F.last("_f", ignorenulls=True).over(by_user))
        .where(F.col("_order") == 1)
    )
    fresh = F.col("_latest._feature_date") >= F.date_sub("_d", lookback_days)
    return found.select(
        *[F.col(f"_l.{c}").alias(c) for c in labels.columns],
        *[F.when(fresh, F.col(f"_latest.{c}")).alias(f"{prefix}{c}") for c in feature_cols],
    )


def training_set(labels: DataFrame, tables: dict[str, DataFrame], lookback_days: int) -> DataFrame:
    """Labels joined point-in-time to every feature table given (name -> frame)."""
    out = labels
    for frame in tables.values():
        out = point_in_time_join(out, frame, lookback_days)
    return out


def survival_set(
    subscriptions: DataFrame,
    snapshot: dt.date,
    covariates_at: str = "spell_start",
    as_of: dt.date | None = None,
) -> DataFrame:
    """One row per spell: ``duration_days`` from the spell's start to its cancel
    request (``event`` = 1) or to the snapshot (censored, ``event`` = 0).

    ``covariates_at="spell_start"``: spells that started before the snapshot, with
    ``as_of_date`` (the date to read covariates at, for ``point_in_time_join``) = the
    first as-of date of the spell (the day after it started) and ``entry_days`` = 0.
    ``covariates_at="as_of"``: spells running at ``as_of`` with no cancel pending,
    ``as_of_date`` = ``as_of`` and ``entry_days`` = the tenure then (left truncation:
    the spell is only observed from that date on). Several spells of one
    user are several rows; annual plans keep their plan column for stratification.
    """
    cut = F.lit(snapshot).cast("timestamp")
    s = spells(subscriptions).where(F.col("spell_started_at") < cut)
    start = F.col("spell_started_at")
    event = F.col("cancelled_at").isNotNull() & (F.col("cancelled_at") < cut)
    stop = F.when(event, F.col("cancelled_at")).otherwise(cut)
    duration = (F.unix_timestamp(stop) - F.unix_timestamp(start)) / 86400.0
    rows = s.select(
        "user_id",
        "subscription_id",
        "market",
        "plan",
        "price",
        "currency",
        "acquisition_channel",
        "spell_number",
        "left_truncated",
        start.alias("spell_started_at"),
        duration.alias("duration_days"),
        event.cast("int").alias("event"),
    )
    if covariates_at == "spell_start":
        return rows.select(
            "*",
            F.date_add(F.to_date("spell_started_at"), 1).alias("as_of_date"),
            F.lit(0.0).alias("entry_days"),
        )
    if covariates_at != "as_of" or as_of is None:
        raise ValueError("covariates_at is 'spell_start', or 'as_of' with an as_of date")
    running = (
        subscriber_spine(subscriptions, as_of, as_of)
        .where(~F.col("cancel_pending"))
        .select("subscription_id")
    )
    entry = (
        F.unix_timestamp(F.lit(as_of).cast("timestamp")) - F.unix_timestamp("spell_started_at")
    ) / 86400.0
    return rows.join(running, "subscription_id").select(
        "*", F.lit(as_of).cast("date").alias("as_of_date"), entry.alias("entry_days")
    )


# What each survival row says about its spell.
SPELL_ATTRIBUTES = (
    "user_id",
    "subscription_id",
    "market",
    "plan",
    "price",
    "currency",
    "acquisition_channel",
    "spell_number",
    "spell_started_at",
)


def survival_episodes(
    subscriptions: DataFrame,
    snapshot: dt.date,
    every_days: int,
    censor_reasons: tuple[str, ...] = (),
) -> DataFrame:
    """Spells before the snapshot in counting-process form, on the tenure time scale: one
    row per ``every_days`` of a spell, at risk from ``entry_days`` to ``duration_days``
    (days since the spell started), with the covariates to read at ``as_of_date`` (the
    row's first as-of date). ``event`` = 1 on the row where the spell's cancel request
    falls; spells still running are censored at the snapshot. A cancel whose reason is
    in ``censor_reasons`` (e.g. ``payment_failed``: a competing risk) is censored there.

    Spells whose start is unknown (``left_truncated``: first seen mid-spell, signup
    before the data) have no tenure to put them on and are left out; callers count them.
    """
    cut = F.lit(snapshot).cast("timestamp")
    s = spells(subscriptions).where((F.col("spell_started_at") < cut) & ~F.col("left_truncated"))
    start = F.col("spell_started_at")
    cancelled = F.col("cancelled_at").isNotNull() & (F.col("cancelled_at") < cut)
    counted = cancelled
    if censor_reasons:
        competing = F.coalesce(F.col("cancel_reason").isin(list(censor_reasons)), F.lit(False))
        counted = cancelled & ~competing
    stop = F.when(cancelled, F.col("cancelled_at")).otherwise(cut)
    first = F.date_add(F.to_date(start), 1)
    # The as-of dates A (00:00) inside the spell: first, first + every_days, ... < stop.
    last = F.greatest(first, F.to_date(stop - F.expr("INTERVAL 1 MICROSECOND")))
    dates = F.sequence(first, last, F.expr(f"INTERVAL {int(every_days)} DAYS"))
    rows = s.select(
        *SPELL_ATTRIBUTES[:-1],
        start.alias("spell_started_at"),
        stop.alias("_stop"),
        counted.alias("_counted"),
        first.alias("_first"),
        F.explode(dates).alias("as_of_date"),
    )
    seconds = F.unix_timestamp(F.col("spell_started_at"))
    since_start = lambda ts: (F.unix_timestamp(ts) - seconds) / 86400.0  # noqa: E731
    next_date = F.date_add("as_of_date", int(every_days)).cast("timestamp")
    exit_ = F.least(next_date, F.col("_stop"))
    entry = F.when(F.col("as_of_date") == F.col("_first"), F.lit(0.0)).otherwise(
        since_start(F.col("as_of_date").cast("timestamp"))
    )
    return rows.select(
        *SPELL_ATTRIBUTES,
        "as_of_date",
        entry.alias("entry_days"),
        # A cancel in the spell's first second still needs a positive duration.
        F.greatest(since_start(exit_), entry + F.lit(1.0 / 86400)).alias("duration_days"),
        (F.col("_counted") & (F.col("_stop") <= next_date)).cast("int").alias("event"),
    )
