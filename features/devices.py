"""Devices: where a subscriber watches."""

from __future__ import annotations

from pydantic import Field
from pyspark.sql import functions as F

from fanbase.features.spec import Aggregate, Feature, FeatureGroup, GroupParams
from fanbase.ingest.contract import DEVICES

NAME = "devices"
TABLE = "features.devices"


class Params(GroupParams):
    window_days: int = Field(default=28, ge=1)


def declare(params: Params) -> FeatureGroup:
    w = params.window_days
    total = f"watch_s_{w}d"
    aggregates = [Aggregate(total, "playback", "sum", "watch_seconds", w)]
    features = []
    for device in sorted(DEVICES):
        column = f"{device}_s_{w}d"
        aggregates.append(
            Aggregate(
                column,
                "playback",
                "sum",
                f"CASE WHEN device = '{device}' THEN watch_seconds ELSE 0 END",
                w,
            )
        )
        features.append(
            Feature(
                f"{device}_share_{w}d",
                "double",
                f"share of watch time on {device} in the {w} days before (0 if none)",
                lambda c=column: F.when(F.col(total) > 0, F.col(c) / F.col(total)).otherwise(0.0),
            )
        )
    aggregates.append(Aggregate(f"devices_{w}d", "playback", "distinct", "device", w))
    features.append(
        Feature(
            f"devices_{w}d",
            "bigint",
            f"number of distinct device classes used in the {w} days before",
            lambda: F.col(f"devices_{w}d"),
        )
    )
    return FeatureGroup(
        name=NAME,
        table=TABLE,
        description="Share of watch time by device class and number of device classes.",
        features=tuple(features),
        aggregates=tuple(aggregates),
    )
