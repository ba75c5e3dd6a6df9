"""The contract every feature group follows.

A feature group is a module in features/ with a ``Params`` model (its config block,
validated on load) and ``declare(params) -> FeatureGroup``. A group declares
two things, as data:

* **window aggregates** over a daily activity source (``Aggregate``): sums, distinct
  counts, the last active day and the top key, each over a window of whole days before
  the as-of date. The store computes them with whichever engine fits the run (a dense
  cumulative timeline for a full build, a direct window scan for a few dates), so a
  group never says *how*, and a full rebuild and an incremental day agree by design.
* **features** (``Feature``): a name, type, description and a Column expression over
  the aggregates and the spine (the subscription a user holds on the as-of date).

As-of convention: a row for ``as_of_date`` A describes a subscriber at 00:00 UTC on A.
Features use events of the days before A only; labels start on A.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pyspark.sql import Column, DataFrame

AggregateKind = Literal["sum", "distinct", "last_day", "top"]

# Activity sources the aggregates read (see features/activity.py for their columns).
SOURCES = ("playback", "payments")


class GroupParams(BaseModel):
    """Base of each group's config block: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True


@dataclass(frozen=True)
class Aggregate:
    """A window aggregate over one activity source, per user and as-of date.

    ``sum``: sum of ``value`` (an integer SQL expression over the source row) over the
    window. ``distinct``: number of distinct non-null ``value`` keys. ``last_day``: the
    last day in the window with a row where ``value`` holds (null if none). ``top``:
    the ``by`` key with the largest sum of ``value`` (ties: the larger key; null if no
    positive sum), with that sum in ``<name>_value``.
    """

    name: str
    source: str
    kind: AggregateKind
    value: str
    window_days: int
    by: str | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"aggregate {self.name}: unknown source {self.source!r}")
        if self.window_days < 1:
            raise ValueError(f"aggregate {self.name}: window_days must be >= 1")
        if (self.kind == "top") != (self.by is not None):
            raise ValueError(f"aggregate {self.name}: `by` goes with kind 'top' only")

    @property
    def default(self):
        """Value when the window holds no activity (the left join's null)."""
        return 0 if self.kind in ("sum", "distinct") else None


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str  # Spark SQL type: double, int, bigint, boolean, string
    description: str
    expr: Callable[[], Column]  # built lazily: Columns need an active SparkContext


@dataclass(frozen=True)
class FeatureGroup:
    name: str
    table: str
    description: str
    features: tuple[Feature, ...]
    aggregates: tuple[Aggregate, ...] = ()
    # Optional lookup joins run before the feature expressions:
    # (frame, reference) -> frame with extra columns; reference holds `fixtures`.
    enrich: Callable[[DataFrame, dict[str, DataFrame]], DataFrame] | None = None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]
