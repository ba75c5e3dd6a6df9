"""Silver transformations: which delivery of a record wins, subscription spells and
playback sessions. DataFrames in, DataFrames out; no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

ACCEPTED, DUPLICATE = "accepted", "duplicate"


def _epoch() -> F.Column:
    # Stands in for the null landing date of reference files when ordering deliveries.
    return F.lit("1970-01-01").cast("date")


def _delivery(landing: str, source_file: str, line_number: str) -> F.Column:
    """Delivery order of a line: landing date, then file, then line number."""
    return F.struct(
        F.coalesce(F.col(landing), _epoch()).alias("landing"),
        F.col(source_file).alias("file"),
        F.col(line_number).alias("line"),
    )


def contested_keys(
    valid: DataFrame, existing: DataFrame, key: str, prefer_latest: bool = False
) -> DataFrame:
    """The keys whose delivery needs a decision: delivered more than once in this batch,
    or already in silver. One row per such key: ``_best``, the batch delivery that wins
    within the batch, and ``_theirs``, silver's delivery (null if not in silver).

    Only the keys and delivery orders are shuffled, never whole rows, and the result is
    small (redeliveries are the exception), so ``classify_deliveries`` can join it to the
    rows without moving them. ``existing`` holds silver's current rows (of the touched
    partitions)."""
    best = F.max if prefer_latest else F.min
    batch = valid.groupBy(key).agg(
        F.count(F.lit(1)).alias("_n"),
        best(_delivery("landing_date", "source_file", "line_number")).alias("_best"),
    )
    current = existing.select(
        F.col(key), _delivery("landing_date", "source_file", "line_number").alias("_theirs")
    )
    return (
        batch.join(current, key, "left")
        .where((F.col("_n") > 1) | F.col("_theirs").isNotNull())
        .select(key, "_n", "_best", "_theirs")
    )


def _against_silver(mine: F.Column, theirs: F.Column, prefer_latest: bool):
    """(accepted, changed) of a batch's winning delivery ``mine`` of a key against
    silver's delivery ``theirs`` (null: the key is new)."""
    better = (mine > theirs) if prefer_latest else (mine < theirs)
    new = theirs.isNull()
    return new | (mine == theirs) | better, new | better


def classify_deliveries(
    valid: DataFrame, contested: DataFrame, key: str, prefer_latest: bool = False
) -> DataFrame:
    """Mark each valid line ``accepted`` (the delivery silver keeps) or ``duplicate``.

    For events the earliest delivery wins (so the outcome does not depend on the order
    landing dates are processed in); for reference data the latest wins (a calendar
    update replaces the old row). ``contested`` is ``contested_keys`` of the same rows,
    materialized. Adds ``_status`` and ``_changed`` (accepted and not already in silver
    as this very line).
    """
    joined = valid.join(contested, key, "left")
    mine = _delivery("landing_date", "source_file", "line_number")
    first_in_batch = F.col("_best").isNull() | (mine == F.col("_best"))
    accepted, changed = _against_silver(mine, F.col("_theirs"), prefer_latest)
    accepted, changed = first_in_batch & accepted, first_in_batch & changed
    return joined.select(
        *valid.columns,
        F.when(accepted, ACCEPTED).otherwise(DUPLICATE).alias("_status"),
        F.coalesce(changed, F.lit(False)).alias("_changed"),
    )


@dataclass(frozen=True)
class Tally:
    accepted: int
    duplicates: int
    changed: int


def tally_deliveries(contested: DataFrame, valid_rows: int, prefer_latest: bool = False) -> Tally:
    """What ``classify_deliveries`` would count, from the contested keys alone (one small
    job instead of a pass over the batch): a key delivered once and not in silver is
    accepted and changed; of a contested key's ``_n`` deliveries only the batch winner
    ``_best`` can be accepted, and it is decided against silver's as in classify."""
    accepted, changed = _against_silver(F.col("_best"), F.col("_theirs"), prefer_latest)
    row = contested.agg(
        F.sum("_n").alias("rows"),
        F.sum(F.col("_n") - 1).alias("beaten"),
        F.sum(F.when(accepted, 0).otherwise(1)).alias("winner_refused"),
        F.sum(F.when(changed, 1).otherwise(0)).alias("winner_changed"),
    ).first()
    rows, beaten, refused, winners_changed = (int(v or 0) for v in row)
    duplicates = beaten + refused
    return Tally(
        accepted=valid_rows - duplicates,
        duplicates=duplicates,
        changed=valid_rows - rows + winners_changed,
    )


def update_condition(prefer_latest: bool = False) -> str:
    """SQL for MERGE: replace a silver row only with a delivery that should win."""
    mine = "struct(coalesce(s.landing_date, DATE'1970-01-01'), s.source_file, s.line_number)"
    theirs = "struct(coalesce(t.landing_date, DATE'1970-01-01'), t.source_file, t.line_number)"
    return f"{mine} {'>' if prefer_latest else '<'} {theirs}"


def playback_sessions(playbacks: DataFrame, fixtures: DataFrame) -> DataFrame:
    """Playback events with their fixture's sport, competition, tier and kickoff."""
    calendar = fixtures.select(
        F.col("fixture_id").alias("_fixture"), "sport", "competition", "tier", "kickoff"
    )
    joined = playbacks.join(calendar, playbacks["fixture_id"] == calendar["_fixture"], "left")
    return joined.select(
        "event_id",
        "session_id",
        "user_id",
        "market",
        "ts",
        "event_date",
        "event_month",
        "device",
        "mode",
        "watch_seconds",
        "buffering_seconds",
        "fixture_id",
        "sport",
        "competition",
        "tier",
        "kickoff",
    )


def _first_of_type(events: DataFrame, event_type: str) -> DataFrame:
    """Each subscription's earliest event of one type."""
    by_sub = Window.partitionBy("subscription_id").orderBy("ts", "event_id")
    return (
        events.where(F.col("event_type") == event_type)
        .withColumn("_n", F.row_number().over(by_sub))
        .where("_n = 1")
    )


def subscription_spells(events: DataFrame) -> DataFrame:
    """One row per subscription_id from its signup, cancel and payment events.

    A spell without a signup was first observed mid-way (left-truncated); a spell
    without a cancel is still running (censored). Several spells per user are
    numbered in order (win-backs).
    """
    subscribed = events.where(F.col("subscription_id").isNotNull())
    first_signup = _first_of_type(subscribed, "signup").select(
        "subscription_id",
        "plan",
        "price",
        "currency",
        "device",
        "acquisition_channel",
        "promo_code",
        F.col("ts").alias("started_at"),
    )
    first_cancel = _first_of_type(subscribed, "cancel").select(
        "subscription_id",
        F.col("ts").alias("cancelled_at"),
        F.coalesce("effective_at", "ts").alias("ended_at"),
        "cancel_reason",
    )
    seen = subscribed.groupBy("subscription_id").agg(
        F.min_by("user_id", "ts").alias("user_id"),
        F.min_by("market", "ts").alias("market"),
        F.min("ts").alias("first_seen_at"),
    )
    spells = seen.join(first_signup, "subscription_id", "left").join(
        first_cancel, "subscription_id", "left"
    )
    order = Window.partitionBy("user_id").orderBy(
        F.coalesce("started_at", "first_seen_at"), "subscription_id"
    )
    return spells.select(
        "subscription_id",
        "user_id",
        "market",
        F.row_number().over(order).cast("int").alias("spell_number"),
        "plan",
        "price",
        "currency",
        "device",
        "acquisition_channel",
        "promo_code",
        "started_at",
        "cancelled_at",
        "ended_at",
        "cancel_reason",
        F.col("cancelled_at").isNotNull().alias("churned"),
        F.col("started_at").isNull().alias("left_truncated"),
        "first_seen_at",
    )
