"""Quality of experience: how much a subscriber's streams buffered."""

from __future__ import annotations

from pydantic import Field
from pyspark.sql import functions as F

from fanbase.features.spec import Aggregate, Feature, FeatureGroup, GroupParams

NAME = "quality"
TABLE = "features.quality"


class Params(GroupParams):
    windows: list[int] = Field(default=[14, 28], min_length=1)
    # A ratio above this over at least `min_watch_seconds` of watching is "high".
    high_buffering_ratio: float = Field(default=0.02, gt=0)
    min_watch_seconds: int = Field(default=600, ge=0)


def declare(params: Params) -> FeatureGroup:
    aggregates, features = [], []
    for w in params.windows:
        watch, buffering = f"watch_s_{w}d", f"buffering_s_{w}d"
        aggregates += [
            Aggregate(watch, "playback", "sum", "watch_seconds", w),
            Aggregate(buffering, "playback", "sum", "buffering_seconds", w),
        ]

        def ratio(watch=watch, buffering=buffering):
            return F.when(F.col(watch) > 0, F.col(buffering) / F.col(watch))

        features += [
            Feature(
                f"buffering_ratio_{w}d",
                "double",
                f"buffering seconds / watch seconds in the {w} days before (0 if no watching)",
                lambda ratio=ratio: F.coalesce(ratio(), F.lit(0.0)),
            ),
            Feature(
                f"high_buffering_{w}d",
                "boolean",
                f"buffering ratio over {params.high_buffering_ratio} in the {w} days before, "
                f"with at least {params.min_watch_seconds} s watched",
                lambda ratio=ratio, watch=watch: F.coalesce(
                    (ratio() > params.high_buffering_ratio)
                    & (F.col(watch) >= params.min_watch_seconds),
                    F.lit(False),
                ),
            ),
        ]
    return FeatureGroup(
        name=NAME,
        table=TABLE,
        description="Buffering ratio and a high-buffering flag over recent windows.",
        features=tuple(features),
        aggregates=tuple(aggregates),
    )
