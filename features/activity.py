"""Daily activity sources the window aggregates read: one row per event, with the
user, the event's UTC ``day`` and the columns an aggregate's SQL may use."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# Columns each source exposes to aggregate expressions (features/spec.py).
SOURCE_COLUMNS = {
    "playback": (
        "user_id",
        "day",
        "device",
        "mode",
        "watch_seconds",
        "buffering_seconds",
        "fixture_id",
        "sport",
        "competition",
        "tier",
    ),
    "payments": ("user_id", "day", "status", "amount"),
}


def playback(playback_sessions: DataFrame) -> DataFrame:
    return playback_sessions.select(
        *[
            F.col("event_date").alias("day") if c == "day" else F.col(c)
            for c in SOURCE_COLUMNS["playback"]
        ]
    )


def payments(events: DataFrame) -> DataFrame:
    return events.where(F.col("event_type") == "payment").select(
        *[
            F.col("event_date").alias("day") if c == "day" else F.col(c)
            for c in SOURCE_COLUMNS["payments"]
        ]
    )
