"""Monitoring arithmetic without Spark: PSI against a worked example, calibration error,
and when an evaluation flags its model and why."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from fanbase.models.catalog import Entry
from fanbase.models.drift import FLOOR, psi
from fanbase.models.monitor import Evaluation, expected_calibration_error

pytestmark = pytest.mark.unit


def test_psi_of_a_worked_example():
    reference = {"a": 50, "b": 30, "c": 20}
    current = {"a": 20, "b": 30, "c": 50}
    expected = (0.2 - 0.5) * math.log(0.2 / 0.5) + (0.5 - 0.2) * math.log(0.5 / 0.2)
    assert psi(reference, current) == pytest.approx(expected)  # about 0.55
    assert psi(reference, reference) == 0.0
    assert psi(reference, {k: 3 * v for k, v in reference.items()}) == pytest.approx(0.0)


def test_a_bin_that_appears_counts_as_a_large_finite_shift():
    got = psi({"0": 100}, {"0": 50, "1": 50})
    expected = (0.5 - 1.0) * math.log(0.5) + (0.5 - FLOOR) * math.log(0.5 / FLOOR)
    assert got == pytest.approx(expected) and math.isfinite(got)
    assert math.isnan(psi({}, {"0": 1}))


def test_calibration_error_weights_each_bin_by_its_rows():
    bins = [
        {"n": 30, "mean_probability": 0.1, "observed_rate": 0.2},
        {"n": 10, "mean_probability": 0.5, "observed_rate": 0.5},
    ]
    assert expected_calibration_error(bins) == pytest.approx(30 * 0.1 / 40)


def _evaluation(kind="churn", **changes) -> Evaluation:
    monitor = {"max_psi": 0.25, "max_decay": 0.05, "action": changes.pop("action", "retrain")}
    entry = Entry(
        name="m",
        kind=kind,
        features=["x"],
        algorithm={"name": "logistic_regression" if kind == "churn" else "kmeans"},
        monitor=monitor,
        output="gold.out",
    )
    values = dict(
        entry=entry,
        partition="market=DE",
        registered_model="fanbase_m_de",
        version=1,
        training_window="2025-01-01..2025-03-01",
        training_value=0.80,
        scoring_as_of=dt.date(2025, 4, 1),
    )
    return Evaluation(**(values | changes))


def test_a_healthy_model_is_not_flagged():
    ev = _evaluation(feature_psi={"x": 0.1, "y": 0.02}, metrics={"roc_auc": 0.78})
    assert ev.drift_score == pytest.approx(0.1) and ev.decay == pytest.approx(0.02)
    assert ev.reasons() == [] and ev.row("r", dt.datetime(2025, 4, 2))[-3:] == (False, None, None)


def test_drift_and_decay_each_flag_the_model_with_the_reason():
    ev = _evaluation(
        feature_psi={"x": 0.6, "y": 0.3, "z": 0.01},
        metrics={"roc_auc": 0.79},
        matured_metrics={"roc_auc": 0.70},  # the larger of the two drops counts
        action="alert",
    )
    assert ev.drifted_features == ["x", "y"] and ev.decay == pytest.approx(0.10)
    reasons = ev.reasons()
    assert reasons[0] == "feature drift (PSI > 0.25): x 0.60, y 0.30"
    assert reasons[1].startswith("roc_auc fell 0.100 below its test value 0.800")
    row = ev.row("r", dt.datetime(2025, 4, 2))
    assert row[-3] is True and row[-1] == "alert"


def test_a_retrain_waits_while_there_is_no_newer_data():
    drifted = {"feature_psi": {"x": 0.6}, "metrics": {"roc_auc": 0.8}}
    assert _evaluation(**drifted).action == "retrain"
    assert _evaluation(**drifted, newer_data=False).action == "hold"
    assert _evaluation(**drifted, newer_data=False, action="alert").action == "alert"
    assert _evaluation(feature_psi={"x": 0.01}, newer_data=False).action is None


def test_segment_shares_moving_flag_a_segmentation_model():
    ev = _evaluation(
        kind="segmentation", training_value=0.4, share_psi=0.3, metrics={"silhouette": 0.39}
    )
    assert ev.drift_score == pytest.approx(0.3)
    assert ev.reasons() == ["segment shares moved (PSI 0.30 > 0.25)"]


def test_survival_concordance_counts_the_pairs_the_risk_orders_right():
    import pandas as pd

    from fanbase.models.monitor import concordance_of

    def frame(duration, event, risk, stratum=None):
        return pd.DataFrame(
            {
                "partition": "p",
                "stratum": stratum or [""] * len(duration),
                "duration": duration,
                "event": event,
                "risk": risk,
            }
        )

    # Comparable pairs: (a, b) with a's event before b's time. Higher risk should go
    # first: (1 before 2) right, (1 before 3) right, (2 before 3) wrong -> 2/3.
    got = concordance_of(frame([1.0, 2.0, 3.0], [1, 1, 0], [3.0, 1.0, 2.0]))
    assert got.to_dict("records") == [
        {"partition": "p", "rows": 3, "events": 2, "unmatched": 0, "concordance": 2 / 3}
    ]
    # A tie in risk counts half; a row without a model is left out and counted.
    got = concordance_of(frame([1.0, 2.0, 5.0], [1, 0, 1], [2.0, 2.0, None])).iloc[0]
    assert (got["rows"], got["unmatched"], got["concordance"]) == (2, 1, 0.5)
    # Strata: pairs only within one. Apart, a: 1 right of 1, b: 0 right of 1 -> 1/2;
    # pooled, the cross pairs would add 2 right of 3 more.
    got = concordance_of(
        frame([1.0, 2.0, 1.5, 3.0], [1, 0, 1, 0], [2.0, 1.0, 0.5, 1.5], ["a", "a", "b", "b"])
    ).iloc[0]
    assert got["concordance"] == 0.5
    # No event: no comparable pair, no value.
    got = concordance_of(frame([1.0, 2.0], [0, 0], [1.0, 2.0])).iloc[0]
    assert got["concordance"] is None or math.isnan(got["concordance"])
