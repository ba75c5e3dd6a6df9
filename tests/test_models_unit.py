"""Model-side logic with exact expected results: promotion gates, registered names,
segment id matching across retrains and segment profiles."""

from __future__ import annotations

import math

import pytest

from fanbase.models.catalog import Entry
from fanbase.models.churn import grid_points
from fanbase.models.registry import gate_failures, partition_label, registered_name
from fanbase.models.segmentation import match_ids, profile_segments

pytestmark = pytest.mark.unit


def _entry(**kw) -> Entry:
    base = {
        "name": "churn_x",
        "kind": "churn",
        "features": ["watch_hours_28d"],
        "algorithm": {"name": "gbt"},
        "output": "gold.churn_scores",
    }
    return Entry(**{**base, **kw})


def test_gates_pass_only_when_every_metric_is_on_the_right_side():
    e = _entry(gates={"roc_auc": {"min": 0.65}, "brier": {"max": 0.2}})
    assert gate_failures(e, {"roc_auc": 0.7, "brier": 0.1}) == []
    assert gate_failures(e, {"roc_auc": 0.6, "brier": 0.1}) == ["roc_auc 0.6000 < min 0.65"]
    assert gate_failures(e, {"roc_auc": 0.7, "brier": 0.25}) == ["brier 0.2500 > max 0.2"]
    assert gate_failures(e, {"roc_auc": math.nan, "brier": 0.1}) == ["roc_auc is missing"]
    assert gate_failures(_entry(), {}) == []


def test_registered_names_and_partition_labels():
    e = _entry(partition_by=["market", "plan"])
    assert registered_name("fanbase", e, ("DE", "annual")) == "fanbase_churn_x_de_annual"
    assert registered_name("fanbase", e, ("U.S.", None)) == "fanbase_churn_x_u_s_none"
    assert partition_label(e, ("DE", "annual")) == "market=DE/plan=annual"
    assert registered_name("fanbase", _entry(), ()) == "fanbase_churn_x"
    assert partition_label(_entry(), ()) == ""


def test_grid_points_are_the_cartesian_product():
    assert grid_points({"maxDepth": [3, 5], "maxIter": [20]}) == [
        {"maxDepth": 3, "maxIter": 20},
        {"maxDepth": 5, "maxIter": 20},
    ]
    assert grid_points({}) == [{}]


SCALE = {"a": 1.0, "b": 2.0}


def test_first_fit_numbers_segments_by_size():
    current = {0: {"a": 0, "b": 0}, 1: {"a": 5, "b": 5}, 2: {"a": 9, "b": 0}}
    sizes = {0: 10, 1: 30, 2: 20}
    assert match_ids(current, {}, SCALE, sizes) == {1: 0, 2: 1, 0: 2}


def test_a_retrain_keeps_ids_by_nearest_previous_centroid():
    previous = {4: {"a": 0.0, "b": 0.0}, 7: {"a": 10.0, "b": 10.0}}
    # The new fit found the same two groups in the other order, plus a new one.
    current = {0: {"a": 9.5, "b": 10.5}, 1: {"a": 0.2, "b": -0.4}, 2: {"a": 30.0, "b": -20.0}}
    sizes = {0: 5, 1: 5, 2: 5}
    mapping = match_ids(current, previous, SCALE, sizes)
    assert mapping == {0: 7, 1: 4, 2: 8}


def test_the_assignment_is_one_to_one_with_least_total_distance():
    # Greedy nearest-first would give cluster 0 -> id 1 and leave cluster 1 far from id 2;
    # the least total distance is 0 -> 2, 1 -> 1.
    previous = {1: {"a": 1.0, "b": 0.0}, 2: {"a": 0.0, "b": 0.0}}
    current = {0: {"a": 0.6, "b": 0.0}, 1: {"a": 2.0, "b": 0.0}}
    assert match_ids(current, previous, {"a": 1.0, "b": 1.0}, {0: 1, 1: 1}) == {0: 2, 1: 1}


def test_profiles_name_segments_by_their_most_distinct_features():
    overall = {"tv": 0.5, "mobile": 0.5, "hours": 10.0}
    scale = {"tv": 0.25, "mobile": 0.25, "hours": 5.0}
    centroids = {
        0: {"tv": 0.9, "mobile": 0.1, "hours": 11.0},
        1: {"tv": 0.4, "mobile": 0.5, "hours": 2.0},
    }
    profiles = profile_segments(centroids, {0: 30, 1: 10}, overall, scale)
    assert [p["segment_id"] for p in profiles] == [0, 1]
    first, second = profiles
    # z: tv +1.6, mobile -1.6 (tie broken by name), hours +0.2
    assert first["segment_name"] == "low mobile, high tv"
    assert first["share"] == 0.75 and first["size"] == 30
    assert first["distinguishing"] == pytest.approx({"mobile": -1.6, "tv": 1.6})
    # z: hours -1.6, tv -0.4, mobile 0
    assert second["segment_name"] == "low hours, low tv"
