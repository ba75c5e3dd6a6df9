"""From spine rows to feature-group frames: the window aggregates every enabled group
needs (each computed once), the groups' lookups, then each group's feature columns."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame

from fanbase.features import windows
from fanbase.features.spec import Aggregate, FeatureGroup

KEYS = ["user_id", "as_of_date"]


def unique_aggregates(groups: Sequence[FeatureGroup]) -> list[Aggregate]:
    """Aggregates of all groups, each once; one name must mean one definition."""
    seen: dict[str, Aggregate] = {}
    for group in groups:
        for a in group.aggregates:
            if a.name in seen and seen[a.name] != a:
                raise ValueError(
                    f"aggregate {a.name!r} is declared twice with different definitions "
                    f"({seen[a.name]} vs {a})"
                )
            seen[a.name] = a
    return list(seen.values())


def aggregate(
    spine: DataFrame,
    sources: dict[str, DataFrame],
    groups: Sequence[FeatureGroup],
    dates: Sequence | None = None,
) -> DataFrame:
    """Spine plus every aggregate: dense timeline, or direct scans when ``dates`` given."""
    aggregates = unique_aggregates(groups)
    if dates is None:
        return windows.dense(spine, sources, aggregates)
    return windows.at_dates(spine, sources, aggregates, dates)


def enrich(frame: DataFrame, groups: Sequence[FeatureGroup], reference: dict[str, DataFrame]):
    for group in groups:
        if group.enrich is not None:
            frame = group.enrich(frame, reference)
    return frame


def group_frame(frame: DataFrame, group: FeatureGroup) -> DataFrame:
    """The group's table rows: keys and its features, cast to their declared types."""
    return frame.select(*KEYS, *[f.expr().cast(f.dtype).alias(f.name) for f in group.features])
