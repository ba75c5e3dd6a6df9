"""Classifier metrics against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from fanbase.models import metrics

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def scored(spark):
    rows = [(0.9, 1), (0.8, 0), (0.7, 1), (0.6, 0), (0.5, 0)]
    return spark.createDataFrame(rows, "probability double, label int")


def test_hand_worked_values(scored):
    # Positive > negative in 5 of the 6 pairs.
    assert metrics.roc_auc(scored) == pytest.approx(5 / 6)
    # Precision 1/1 at the first positive, 2/3 at the second.
    assert metrics.pr_auc(scored) == pytest.approx((1 + 2 / 3) / 2)
    assert metrics.brier(scored) == pytest.approx((0.01 + 0.64 + 0.09 + 0.36 + 0.25) / 5)
    # Five rows: the top decile is the 0.9 row, a positive; base rate 2/5.
    assert metrics.top_decile_lift(scored) == pytest.approx(1 / 0.4)


def test_ties_count_half_and_degenerate_sets_give_nan(spark):
    tied = spark.createDataFrame([(0.5, 1), (0.5, 0), (0.2, 0)], "probability double, label int")
    assert metrics.roc_auc(tied) == pytest.approx((0.5 + 1) / 2)
    assert metrics.pr_auc(tied) == pytest.approx(0.5)
    only_negatives = spark.createDataFrame([(0.5, 0)], "probability double, label int")
    assert math.isnan(metrics.roc_auc(only_negatives))
    assert math.isnan(metrics.top_decile_lift(only_negatives))


def test_reliability_bins(scored):
    bins = {r["bin"]: r for r in metrics.reliability(scored, bins=2)}
    assert bins[1]["n"] == 5 and bins[1]["observed_rate"] == pytest.approx(0.4)
    assert bins[1]["mean_probability"] == pytest.approx(0.7)


def test_cumulative_lift_by_hand(scored):
    # Fifths of five rows, by score: 1, 0, 1, 0, 0; overall rate 2/5.
    curve = metrics.lift_curve(scored, points=5)
    assert [c["n"] for c in curve] == [1, 2, 3, 4, 5]
    assert [c["churners"] for c in curve] == [1, 1, 2, 2, 2]
    assert [c["share"] for c in curve] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    expected = [(1 / 1) / 0.4, (1 / 2) / 0.4, (2 / 3) / 0.4, (2 / 4) / 0.4, 1.0]
    assert [c["lift"] for c in curve] == pytest.approx(expected)


def test_adjusted_rand_index_by_hand(spark):
    from fanbase.models.metrics import adjusted_rand_index

    def ari(a, b):
        df = spark.createDataFrame(list(zip(a, b, strict=True)), "a string, b string")
        return adjusted_rand_index(df, "a", "b")

    # Same partition under other names: 1.
    assert ari(["x", "x", "y", "y"], ["1", "1", "2", "2"]) == pytest.approx(1.0)
    # Contingency {(x,1): 2, (y,2): 1, (y,3): 1}: index 1, expected 2*1/6, max 1.5,
    # so (1 - 1/3) / (1.5 - 1/3) = 4/7.
    assert ari(["x", "x", "y", "y"], ["1", "1", "2", "3"]) == pytest.approx(4 / 7)
    # Everything in one cluster against a split: 0 (no agreement beyond chance).
    assert ari(["x", "x", "x", "x"], ["1", "1", "2", "2"]) == pytest.approx(0.0)


def test_drift_histograms_equal_a_numpy_binning_of_the_same_edges(spark):
    import numpy as np
    from pyspark.sql import functions as F

    from fanbase.models import drift

    ref_x = [float(v) for v in range(100)] + [None] * 5
    cur_x = [float(v) for v in range(50, 150)]
    plans = ["monthly"] * 70 + ["annual"] * 35
    reference = spark.createDataFrame(list(zip(ref_x, plans, strict=True)), "x double, plan string")
    current = spark.createDataFrame(
        [(v, "monthly" if v < 140 else None) for v in cur_x], "x double, plan string"
    )
    got = drift.histograms(reference, current, ["x", "plan"], ["plan"])
    edges = drift.decile_edges(reference, ["x"])["x"]
    # The k-th tenth of 0..99 is the 10k-th smallest value; nulls are ignored.
    assert edges == [10.0 * k - 1 for k in range(1, 10)]
    # A null in another column does not hide a row from this column's cut points.
    other = reference.withColumn("z", F.when(F.col("x") < 50, None).otherwise(F.col("x")))
    both = drift.decile_edges(other, ["x", "z"])
    assert both["x"] == edges and both["z"] == [54.0 + 5 * k for k in range(9)]

    def oracle(values):
        out: dict = {}
        for v in values:
            key = drift.MISSING if v is None else str(int(np.searchsorted(edges, v, "left")))
            out[key] = out.get(key, 0) + 1
        return out

    assert got["x"] == (oracle(ref_x), oracle(cur_x))
    assert got["plan"] == ({"monthly": 70, "annual": 35}, {"monthly": 90, drift.MISSING: 10})
    measured = drift.measure(reference, current, ["x", "plan"], ["plan"])
    assert (measured.reference_rows, measured.current_rows) == (105, 100)
    scores = measured.feature_psi
    assert scores["x"] == pytest.approx(drift.psi(*got["x"]))
    assert scores["plan"] == pytest.approx(drift.psi(*got["plan"]))
    assert scores["x"] > 1.0  # half the current rows lie above every reference value
    # No current rows: the counts say so and there is no PSI to speak of.
    empty = drift.measure(reference, current.limit(0), ["x", "plan"], ["plan"])
    assert (empty.reference_rows, empty.current_rows, empty.feature_psi) == (105, 0, {})
