"""The subscriber spine: one row per user and as-of date on which the user holds a
subscription, with that spell's attributes as they are known on the date.

A user is on the spine for as-of date A when a spell started before 00:00 UTC on A
and access had not ended by then (``ended_at`` after A, or still running). Nothing
that happens on or after A leaks in: a cancel shows only as ``cancel_pending`` once
it was requested before A.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

KEYS = ("user_id", "as_of_date")

SPINE_COLUMNS = (
    "user_id",
    "as_of_date",
    "subscription_id",
    "market",
    "spell_number",
    "plan",
    "price",
    "currency",
    "acquisition_channel",
    "promo_code",
    "spell_started_at",
    "left_truncated",
    "cancel_pending",
    "previous_spell_ended_at",
)


def spells(subscriptions: DataFrame) -> DataFrame:
    """Spells with their effective start and the end of the user's previous spell."""
    start = F.coalesce("started_at", "first_seen_at")
    by_user = Window.partitionBy("user_id").orderBy(start.asc(), F.col("subscription_id"))
    return subscriptions.select(
        "*",
        start.alias("spell_started_at"),
        F.lag("ended_at").over(by_user).alias("previous_spell_ended_at"),
    )


def subscriber_spine(subscriptions: DataFrame, first: dt.date, last: dt.date) -> DataFrame:
    """Spine rows for as-of dates in ``[first, last]``."""
    lo, hi = F.lit(first).cast("date"), F.lit(last).cast("date")
    s = spells(subscriptions)
    begin = F.greatest(F.date_add(F.to_date("spell_started_at"), 1), lo)
    # Access at 00:00 on A needs ended_at > A; the last such date is the day before the
    # end, or the end's own date when access ends after midnight.
    ends = F.when(F.col("ended_at").isNull(), hi).otherwise(
        F.least(hi, F.to_date(F.col("ended_at") - F.expr("INTERVAL 1 MICROSECOND")))
    )
    exploded = s.where(begin <= ends).select(
        "*", F.explode(F.sequence(begin, ends)).alias("as_of_date")
    )
    midnight = F.col("as_of_date").cast("timestamp")
    pending = F.col("cancelled_at").isNotNull() & (F.col("cancelled_at") < midnight)
    rows = exploded.where(
        (F.col("spell_started_at") < midnight)
        & (F.col("ended_at").isNull() | (F.col("ended_at") > midnight))
    ).withColumn("cancel_pending", pending)
    rows = rows.select(*SPINE_COLUMNS)
    # Overlapping spells of one user (a data fault) must not give two rows: keep the newest.
    newest = Window.partitionBy(*KEYS).orderBy(
        F.col("spell_started_at").desc(), F.col("subscription_id").desc()
    )
    return rows.withColumn("_n", F.row_number().over(newest)).where("_n = 1").drop("_n")
