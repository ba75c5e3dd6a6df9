"""Classifier metrics against values worked out by hand."""

from __future__ import annotations

import json
import math

import pytest

from fanbase.models import metrics

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def scored(spark):
    rows = [(0.9, 1), (0.8, 0), (0.7, 1), (0.6, 0), (0.5, 0)]
    return spark.createDataFrame(rows, "probability double, label int")


def test_hand_worked_values(scored):
    report = metrics.evaluate(scored).report
    # Positive > negative in 5 of the 6 pairs.
    assert report["roc_auc"] == pytest.approx(5 / 6)
    assert metrics.roc_auc(scored) == pytest.approx(5 / 6)
    # Precision 1/1 at the first positive, 2/3 at the second.
    assert report["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)
    assert report["brier"] == pytest.approx((0.01 + 0.64 + 0.09 + 0.36 + 0.25) / 5)
    # Five rows: the top decile is the 0.9 row, a positive; base rate 2/5.
    assert report["top_decile_lift"] == pytest.approx(1 / 0.4)


def test_ties_count_half_and_degenerate_sets_give_nan(spark):
    tied = spark.createDataFrame([(0.5, 1), (0.5, 0), (0.2, 0)], "probability double, label int")
    report = metrics.evaluate(tied).report
    assert report["roc_auc"] == pytest.approx((0.5 + 1) / 2)
    assert metrics.roc_auc(tied) == pytest.approx((0.5 + 1) / 2)
    assert report["pr_auc"] == pytest.approx(0.5)
    only_negatives = spark.createDataFrame([(0.5, 0)], "probability double, label int")
    degenerate = metrics.evaluate(only_negatives).report
    assert math.isnan(degenerate["roc_auc"]) and math.isnan(metrics.roc_auc(only_negatives))
    assert math.isnan(degenerate["top_decile_lift"]) and math.isnan(degenerate["pr_auc"])


def test_reliability_bins(scored):
    bins = {r["bin"]: r for r in metrics.evaluate(scored, bins=2).reliability}
    assert list(bins) == [1]  # no score below 0.5
    assert bins[1]["n"] == 5 and bins[1]["observed_rate"] == pytest.approx(0.4)
    assert bins[1]["mean_probability"] == pytest.approx(0.7)


def test_cumulative_lift_by_hand(scored):
    # Fifths of five rows, by score: 1, 0, 1, 0, 0; overall rate 2/5.
    curve = metrics.evaluate(scored, points=5).lift
    assert [c["n"] for c in curve] == [1, 2, 3, 4, 5]
    assert [c["churners"] for c in curve] == [1, 1, 2, 2, 2]
    assert [c["share"] for c in curve] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    expected = [(1 / 1) / 0.4, (1 / 2) / 0.4, (2 / 3) / 0.4, (2 / 4) / 0.4, 1.0]
    assert [c["lift"] for c in curve] == pytest.approx(expected)


def test_rows_tied_at_a_tile_cut_share_its_churners(spark):
    # 12 rows: ntile(10) gives the first two tiles 2 rows. The top three rows tie with
    # two churners among them, so the top tile holds 2 of 3 tied rows: 4/3 churners.
    rows = [(0.9, 1), (0.9, 1), (0.9, 0)] + [(0.1 * i / 10, i % 3 == 0) for i in range(9)]
    df = spark.createDataFrame([(p, int(y)) for p, y in rows], "probability double, label int")
    ev = metrics.evaluate(df)
    positives = sum(int(y) for _, y in rows)
    assert ev.lift[0]["n"] == 2 and ev.lift[0]["churners"] == pytest.approx(4 / 3)
    assert ev.report["top_decile_lift"] == pytest.approx((4 / 3 / 2) / (positives / 12))
    assert ev.lift[-1]["n"] == 12 and ev.lift[-1]["lift"] == pytest.approx(1.0)


def _brute_force(rows: list[tuple[float, int]], bins: int, points: int) -> dict:
    """The metrics straight from their definitions, row by row (the oracle)."""
    pos = [p for p, y in rows if y]
    neg = [p for p, y in rows if not y]
    pairs = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    precision = [sum(y for q, y in rows if q >= p) / sum(1 for q, _ in rows if q >= p) for p in pos]
    by_bin: dict[int, list] = {}
    for p, y in rows:
        by_bin.setdefault(min(int(p * bins), bins - 1), []).append((p, y))
    ranked = sorted(rows, key=lambda r: -r[0])
    n, rate = len(rows), len(pos) / len(rows)

    def churners_in_top(k: int) -> float:
        cut = ranked[k - 1][0] if k else None
        above = sum(y for p, y in rows if k and p > cut)
        tied = [y for p, y in rows if k and p == cut]
        taken = k - sum(1 for p, _ in rows if k and p > cut)
        return above + sum(tied) * taken / len(tied) if k else 0.0

    sizes = [n // points + (1 if t < n % points else 0) for t in range(points)]
    tops = [sum(sizes[: t + 1]) for t in range(min(points, n))]
    first_tenth = n // 10 + min(1, n % 10)
    return {
        "roc_auc": pairs / (len(pos) * len(neg)),
        "pr_auc": sum(precision) / len(pos),
        "brier": sum((p - y) ** 2 for p, y in rows) / n,
        "top_decile_lift": churners_in_top(first_tenth) / first_tenth / rate,
        "reliability": {
            b: (len(v), sum(p for p, _ in v) / len(v), sum(y for _, y in v) / len(v))
            for b, v in by_bin.items()
        },
        "lift": [(k, churners_in_top(k) / k / rate) for k in tops],
    }


@pytest.mark.parametrize("n", [7, 230])
def test_one_pass_evaluation_equals_the_definitions_row_by_row(spark, n):
    import random

    rng = random.Random(n)
    # Scores on a coarse grid, so many rows tie, and a score of exactly 1.0 (last bin).
    rows = [(rng.randint(0, 20) / 20, int(rng.random() < 0.3)) for _ in range(n)]
    rows += [(1.0, 1), (0.0, 0)]
    df = spark.createDataFrame(rows, "probability double, label int")
    ev = metrics.evaluate(df, bins=10, points=10)
    want = _brute_force(rows, bins=10, points=10)
    for key in ("roc_auc", "pr_auc", "brier", "top_decile_lift"):
        assert ev.report[key] == pytest.approx(want[key]), key
    assert metrics.roc_auc(df) == pytest.approx(want["roc_auc"])
    got_bins = {
        r["bin"]: (r["n"], r["mean_probability"], r["observed_rate"]) for r in ev.reliability
    }
    assert got_bins.keys() == want["reliability"].keys()
    for b, (count, mean, observed) in want["reliability"].items():
        assert got_bins[b][0] == count
        assert got_bins[b][1:] == pytest.approx((mean, observed))
    assert [c["n"] for c in ev.lift] == [k for k, _ in want["lift"]]
    assert [c["lift"] for c in ev.lift] == pytest.approx([lift for _, lift in want["lift"]])


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
    made = drift.profile(reference, ["x", "plan"], ["plan"])
    now = drift.bin_counts(current, ["x", "plan"], made["edges"])
    got = {f: (made["counts"][f], now[f]) for f in ("x", "plan")}
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

    # The profile train keeps (through JSON, as MLflow stores it) holds the reference
    # side: the same cut points and counts, and the same drift against current rows.
    kept = json.loads(json.dumps(drift.profile(reference, ["x", "plan"], ["plan"])))
    assert kept["edges"] == {"x": edges, "plan": None} and kept["rows"] == 105
    assert kept["counts"] == {"x": oracle(ref_x), "plan": {"monthly": 70, "annual": 35}}
    assert drift.measure_against(kept, current) == measured
    # It is only read for the features it was made for, binned the same way.
    assert drift.fits(kept, ["x", "plan"], ["plan"])
    assert not drift.fits(kept, ["x", "plan", "y"], ["plan"])
    assert not drift.fits(kept, ["x", "plan"], [])
    assert not drift.fits(kept | {"version": drift.PROFILE_VERSION + 1}, ["x", "plan"], ["plan"])


def test_drift_of_every_partition_at_once_equals_each_partition_alone(spark):
    """profile_each / measure_each (one aggregation for all partitions) against profile
    and measure_against on each partition's rows: the same cut points, bins and PSI.
    Values sit on the cut points (ties go to the lower bin), a partition value is
    null, one partition has no current rows and one key matches no row at all."""
    import random

    from pyspark.sql import functions as F

    from fanbase.models import drift

    rnd = random.Random(3)

    def rows(n, shift):
        out = []
        for i in range(n):
            market = ["DE", "GB", None][i % 3]
            x = None if i % 17 == 0 else float(rnd.randint(0, 20) + shift * (market == "GB"))
            out.append((market, x, rnd.choice(["monthly", "annual", None])))
        return out

    schema = "market string, x double, plan string"
    reference = spark.createDataFrame(rows(300, 0), schema)
    current = spark.createDataFrame(rows(240, 6), schema).where(~F.col("market").eqNullSafe("DE"))
    keys = [("DE",), ("GB",), (None,), ("FR",)]
    features, categorical = ["x", "plan"], ["plan"]

    def alone(df, values):
        col = F.col("market")
        return df.where(col.isNull() if values[0] is None else col == values[0])

    profiles = drift.profile_each(reference, ["market"], keys, features, categorical)
    singles = [drift.profile(alone(reference, k), features, categorical) for k in keys]
    assert profiles == singles
    assert [p["rows"] for p in profiles] == [100, 100, 100, 0]
    measured = drift.measure_each(profiles, current, ["market"], keys)
    assert measured == [drift.measure_against(p, alone(current, k)) for p, k in zip(profiles, keys)]
    assert [m.current_rows for m in measured] == [0, 80, 80, 0]
    assert measured[1].feature_psi["x"] > measured[2].feature_psi["x"]  # GB moved up by 6
    # Without features, only the rows are counted.
    bare = drift.profile_each(reference, ["market"], keys, [], [])
    assert [b["rows"] for b in bare] == [100, 100, 100, 0]
    assert [m.current_rows for m in drift.measure_each(bare, current, ["market"], keys)] == [
        0,
        80,
        80,
        0,
    ]
    with pytest.raises(ValueError, match="same features"):
        drift.measure_each([profiles[0], bare[1]], current, ["market"], keys[:2])
