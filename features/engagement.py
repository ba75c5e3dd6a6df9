"""Engagement: how much and how a subscriber watches."""

from __future__ import annotations

from pydantic import Field
from pyspark.sql import functions as F

from fanbase.features.spec import Aggregate, Feature, FeatureGroup, GroupParams

NAME = "engagement"
TABLE = "features.engagement"
MODES = ("live", "catchup", "highlights")


class Params(GroupParams):
    windows: list[int] = Field(default=[7, 28, 90], min_length=1)
    share_window_days: int = Field(default=28, ge=1)
    recency_window_days: int = Field(default=90, ge=1)


def _ratio(numerator: str, denominator: str):
    return lambda: F.when(F.col(denominator) > 0, F.col(numerator) / F.col(denominator)).otherwise(
        F.lit(0.0)
    )


def declare(params: Params) -> FeatureGroup:
    aggregates, features = [], []
    for w in params.windows:
        aggregates += [
            Aggregate(f"watch_s_{w}d", "playback", "sum", "watch_seconds", w),
            Aggregate(f"sessions_{w}d", "playback", "sum", "1", w),
            Aggregate(f"fixtures_{w}d", "playback", "distinct", "fixture_id", w),
            Aggregate(f"active_days_{w}d", "playback", "distinct", "day", w),
        ]
        features += [
            Feature(
                f"watch_hours_{w}d",
                "double",
                f"hours watched in the {w} days before the as-of date",
                lambda w=w: F.col(f"watch_s_{w}d") / 3600.0,
            ),
            Feature(
                f"sessions_{w}d",
                "bigint",
                f"playback sessions in the {w} days before",
                lambda w=w: F.col(f"sessions_{w}d"),
            ),
            Feature(
                f"distinct_fixtures_{w}d",
                "bigint",
                f"distinct fixtures watched in the {w} days before",
                lambda w=w: F.col(f"fixtures_{w}d"),
            ),
            Feature(
                f"active_days_{w}d",
                "bigint",
                f"days with at least one session in the {w} days before",
                lambda w=w: F.col(f"active_days_{w}d"),
            ),
        ]
    s = params.share_window_days
    if s not in params.windows:
        aggregates.append(Aggregate(f"watch_s_{s}d", "playback", "sum", "watch_seconds", s))
    for mode in MODES:
        aggregates.append(
            Aggregate(
                f"{mode}_s_{s}d",
                "playback",
                "sum",
                f"CASE WHEN mode = '{mode}' THEN watch_seconds ELSE 0 END",
                s,
            )
        )
        features.append(
            Feature(
                f"{mode}_share_{s}d",
                "double",
                f"share of watch time that was {mode} in the {s} days before (0 if none)",
                _ratio(f"{mode}_s_{s}d", f"watch_s_{s}d"),
            )
        )
    r = params.recency_window_days
    aggregates.append(Aggregate(f"last_watch_{r}d", "playback", "last_day", "true", r))
    features.append(
        Feature(
            "days_since_last_watch",
            "int",
            f"days from the last day with a session to the as-of date; {r + 1} if none in "
            f"the {r} days before",
            lambda: F.coalesce(F.datediff("as_of_date", F.col(f"last_watch_{r}d")), F.lit(r + 1)),
        )
    )
    return FeatureGroup(
        name=NAME,
        table=TABLE,
        description="Watch time, sessions, fixtures, active days, live/catch-up/highlights "
        "shares and recency, per subscriber and as-of date.",
        features=tuple(features),
        aggregates=tuple(aggregates),
    )
