"""Lifecycle: where a subscriber is in their history with us (win-backs)."""

from __future__ import annotations

from pyspark.sql import functions as F

from fanbase.features.spec import Feature, FeatureGroup, GroupParams

NAME = "lifecycle"
TABLE = "features.lifecycle"


class Params(GroupParams):
    pass


def declare(params: Params) -> FeatureGroup:
    features = (
        Feature(
            "spell_number",
            "int",
            "1 for the first subscription, 2 after one win-back, ...",
            lambda: F.col("spell_number"),
        ),
        Feature(
            "prior_subscriptions",
            "int",
            "subscriptions the user held before this one",
            lambda: F.col("spell_number") - 1,
        ),
        Feature(
            "is_win_back",
            "boolean",
            "the user had subscribed before and came back",
            lambda: F.col("spell_number") > 1,
        ),
        Feature(
            "days_since_previous_spell",
            "int",
            "days from the end of the previous subscription to this one's start (null if none)",
            lambda: F.datediff(F.to_date("spell_started_at"), F.to_date("previous_spell_ended_at")),
        ),
        Feature(
            "left_truncated",
            "boolean",
            "the spell started before the data (first seen mid-spell); tenure is a lower bound",
            lambda: F.col("left_truncated"),
        ),
    )
    return FeatureGroup(
        name=NAME,
        table=TABLE,
        description="Prior subscriptions, win-back and the gap since the previous spell.",
        features=features,
    )
