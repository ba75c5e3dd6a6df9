"""Touch attribution: which fixtures each new subscription watched first, as credits.

Every new subscription spreads one unit of credit over fixtures, by method:

- ``first_watch``: all of it to the first fixture watched within ``first_days``;
- ``last_live``: to the fixture broadcast in its market that was live at signup (from
  kickoff to ``last_live_hours`` after the end) and kicked off last; ties share;
- ``linear``: equally over the distinct fixtures of its first ``first_sessions``
  fixture sessions within ``first_days``;
- ``time_decay``: over the same sessions, each weighted 2^(-hours after signup /
  ``half_life_hours``), summed per fixture.

A subscription with nothing to credit gets no row (coverage is reported separately).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fanbase.models.catalog import TouchOptions


def new_subscriptions(subs: DataFrame, snapshot: dt.date, first_spells_only: bool) -> DataFrame:
    """Spells that started before the snapshot with a known start (a spell first seen
    mid-way has no signup to attribute)."""
    out = subs.where(
        F.col("started_at").isNotNull() & (F.col("started_at") < F.lit(snapshot).cast("timestamp"))
    )
    if first_spells_only:
        out = out.where(F.col("spell_number") == 1)
    return out.select(
        "subscription_id", "user_id", "market", "started_at", "ended_at", "plan", "price"
    )


def first_sessions(new: DataFrame, playback: DataFrame, opts: TouchOptions) -> DataFrame:
    """The first ``first_sessions`` fixture sessions of each new subscription within
    ``first_days`` of signup (and before it ended), numbered by time."""
    seconds = opts.first_days * 86400
    sessions = (
        playback.where(F.col("fixture_id").isNotNull())
        .select("user_id", "market", F.col("ts").alias("session_ts"), "fixture_id", "event_id")
        .join(
            new.select("subscription_id", "user_id", "market", "started_at", "ended_at"),
            ["user_id", "market"],
        )
        .where(
            (F.col("session_ts") >= F.col("started_at"))
            & (F.col("session_ts") < F.col("started_at") + F.expr(f"INTERVAL {seconds} SECONDS"))
            & (F.col("ended_at").isNull() | (F.col("session_ts") < F.col("ended_at")))
        )
    )
    order = Window.partitionBy("subscription_id").orderBy("session_ts", "event_id")
    return (
        sessions.withColumn("n", F.row_number().over(order))
        .where(F.col("n") <= opts.first_sessions)
        .withColumn(
            "hours_after",
            (F.col("session_ts").cast("double") - F.col("started_at").cast("double")) / 3600,
        )
    )


def session_credits(sessions: DataFrame, methods: list[str], half_life_hours: float) -> DataFrame:
    """first_watch, linear and time_decay credits from the first sessions."""
    parts = []
    if "first_watch" in methods:
        parts.append(
            sessions.where(F.col("n") == 1).select(
                "market",
                "subscription_id",
                "fixture_id",
                F.lit("first_watch").alias("method"),
                F.lit(1.0).alias("credit"),
            )
        )
    per_sub = Window.partitionBy("subscription_id")
    if "linear" in methods:
        distinct = sessions.select("market", "subscription_id", "fixture_id").distinct()
        parts.append(
            distinct.withColumn("credit", 1.0 / F.count("*").over(per_sub)).select(
                "market", "subscription_id", "fixture_id", F.lit("linear").alias("method"), "credit"
            )
        )
    if "time_decay" in methods:
        weighted = sessions.withColumn(
            "w", F.pow(F.lit(0.5), F.col("hours_after") / F.lit(half_life_hours))
        )
        parts.append(
            weighted.withColumn("share", F.col("w") / F.sum("w").over(per_sub))
            .groupBy("market", "subscription_id", "fixture_id")
            .agg(F.sum("share").alias("credit"))
            .select(
                "market",
                "subscription_id",
                "fixture_id",
                F.lit("time_decay").alias("method"),
                "credit",
            )
        )
    return _union(parts)


def last_live_credits(new: DataFrame, live_hours: DataFrame) -> DataFrame:
    """Credit to the fixture live at signup that kicked off last (ties share).

    ``live_hours``: (market, hour_start, fixture_id, kickoff, live_start, live_end), a
    row per hour a fixture's live span touches, so the join has an equality key."""
    signups = new.select(
        "market",
        "subscription_id",
        "started_at",
        F.date_trunc("hour", "started_at").alias("hour_start"),
    )
    live = signups.join(live_hours, ["market", "hour_start"]).where(
        (F.col("started_at") >= F.col("live_start")) & (F.col("started_at") < F.col("live_end"))
    )
    latest = Window.partitionBy("subscription_id")
    return (
        live.withColumn("latest", F.max("kickoff").over(latest))
        .where(F.col("kickoff") == F.col("latest"))
        .withColumn("credit", 1.0 / F.count("*").over(latest))
        .select(
            "market", "subscription_id", "fixture_id", F.lit("last_live").alias("method"), "credit"
        )
    )


def touch_credits(
    new: DataFrame,
    playback: DataFrame,
    live_hours: DataFrame,
    methods: list[str],
    opts: TouchOptions,
) -> DataFrame:
    """(market, subscription_id, fixture_id, method, credit) for every method asked."""
    parts = [session_credits(first_sessions(new, playback, opts), methods, opts.half_life_hours)]
    if "last_live" in methods:
        parts.append(last_live_credits(new, live_hours))
    return _union([p for p in parts if p is not None])


def _union(parts: list[DataFrame]) -> DataFrame | None:
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out
