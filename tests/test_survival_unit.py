"""The per-partition survival function in plain pandas (no Spark): lifelines' own fits
as oracles, hand-made counting-process data, and partitions that cannot be fitted."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter, LogLogisticAFTFitter, WeibullAFTFitter
from lifelines.datasets import load_rossi
from lifelines.statistics import multivariate_logrank_test, proportional_hazard_test

from fanbase.models import survival as sv
from fanbase.models.survival_pyfunc import score

ROSSI_COVARIATES = ("fin", "age", "race", "wexp", "mar", "paro", "prio")


def _rossi_spec(**kw) -> sv.SurvivalSpec:
    base = dict(
        covariates=ROSSI_COVARIATES,
        groups=("race",),
        duration="week",
        event="arrest",
        entry=None,
        subject=None,
    )
    return sv.SurvivalSpec(**{**base, **kw})


def _split(df: pd.DataFrame, every: float, duration="week", event="arrest") -> pd.DataFrame:
    """Each row as consecutive (entry, stop] pieces of ``every`` (counting process)."""
    rows = []
    for _, r in df.iterrows():
        t0 = 0.0
        while t0 < r[duration]:
            t1 = min(t0 + every, r[duration])
            piece = dict(r)
            piece.update(entry=t0, **{duration: t1, event: int(r[event] and t1 == r[duration])})
            rows.append(piece)
            t0 = t1
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return load_rossi()


def test_cox_on_rossi_equals_lifelines_own_fit(rossi):
    out = sv.fit_partition(rossi, _rossi_spec())
    assert out["status"] == "ok", out["reason"]
    reference = CoxPHFitter().fit(rossi, "week", "arrest")
    ours = {h["term"]: h for h in out["hazard_ratios"]}
    assert set(ours) == set(ROSSI_COVARIATES)
    for term in ROSSI_COVARIATES:
        assert ours[term]["coef"] == pytest.approx(reference.params_[term], abs=1e-6)
        assert ours[term]["se"] == pytest.approx(reference.standard_errors_[term], abs=1e-6)
        assert ours[term]["p_value"] == pytest.approx(reference.summary.loc[term, "p"], abs=1e-6)
    assert out["concordance"] == pytest.approx(reference.concordance_index_, abs=1e-9)
    assert out["aic_partial"] == pytest.approx(reference.AIC_partial_, abs=1e-6)


def test_the_proportional_hazards_check_flags_what_lifelines_flags_on_rossi(rossi):
    out = sv.fit_partition(rossi, _rossi_spec())
    flagged = {h["term"] for h in out["hazard_ratios"] if h["ph_violated"]}
    reference = proportional_hazard_test(
        CoxPHFitter().fit(rossi, "week", "arrest"), rossi, time_transform="rank"
    ).summary["p"]
    assert flagged == set(reference[reference < 0.05].index) == {"age", "wexp"}


def test_schoenfeld_residuals_from_running_sums_equal_a_pass_over_each_risk_set(rossi):
    pieces = _split(rossi, 10.0)
    start, stop = pieces["entry"].to_numpy(), pieces["week"].to_numpy()
    event = pieces["arrest"].to_numpy().astype(bool)
    x = pieces[list(ROSSI_COVARIATES)].to_numpy(dtype=float)
    weight = np.random.default_rng(5).uniform(0.2, 3.0, len(pieces))
    residuals, times = sv._schoenfeld(start, stop, event, x, weight)
    # The oracle: each event's risk set (start < t <= stop) taken row by row.
    expected = []
    for i in np.flatnonzero(event):
        risk = (start < stop[i]) & (stop >= stop[i])
        expected.append(x[i] - weight[risk] @ x[risk] / weight[risk].sum())
    assert len(residuals) == event.sum() == 114
    np.testing.assert_allclose(residuals, np.array(expected), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(times, stop[event])


def test_the_breslow_baseline_with_late_entry_equals_a_pass_over_each_risk_set(rossi):
    pieces = _split(rossi, 10.0)
    entry, stop = pieces["entry"].to_numpy(), pieces["week"].to_numpy()
    event = pieces["arrest"].to_numpy().astype(bool)
    weight = np.random.default_rng(7).uniform(0.2, 3.0, len(pieces))
    times, survival = sv.breslow_survival(entry, stop, event, weight)
    # The oracle: at each event time, its events over the weights at risk (entry < t <= stop).
    hazard, expected = 0.0, []
    for t in np.unique(stop[event]):
        risk = (entry < t) & (stop >= t)
        hazard += (event & (stop == t)).sum() / weight[risk].sum()
        expected.append(math.exp(-hazard))
    np.testing.assert_array_equal(times, np.unique(stop[event]))
    np.testing.assert_allclose(survival, expected, rtol=1e-12)


def test_split_spells_with_late_entry_give_the_same_fit_as_whole_spells(rossi):
    whole = sv.fit_partition(rossi, _rossi_spec())
    pieces = _split(rossi, 10.0)
    assert len(pieces) > 3 * len(rossi)
    split = sv.fit_partition(pieces, _rossi_spec(entry="entry"))
    for a, b in zip(whole["hazard_ratios"], split["hazard_ratios"], strict=True):
        assert a["coef"] == pytest.approx(b["coef"], abs=1e-9)
    assert whole["logrank"][0]["statistic"] == pytest.approx(split["logrank"][0]["statistic"])
    assert whole["curves"][0]["survival"] == pytest.approx(split["curves"][0]["survival"])
    assert whole["parametric"]["aic"]["weibull_aft"] == pytest.approx(
        split["parametric"]["aic"]["weibull_aft"], rel=1e-6
    )


@pytest.mark.parametrize("strata", [["wexp"], ["wexp", "mar"]])
def test_the_stratified_cox_fits_exactly_what_lifelines_own_fits(rossi, strata):
    # Split spells with late entry, in shuffled order: lifelines sorts them by stratum,
    # and the subclass must find each stratum's rows (entries, weights) as it does.
    pieces = _split(rossi, 10.0).sample(frac=1.0, random_state=3).reset_index(drop=True)
    pieces["w"] = 1.0 + (pieces.index % 3) / 2
    data = pieces[[*ROSSI_COVARIATES, "entry", "week", "arrest", "w"]]
    args = dict(duration_col="week", event_col="arrest", entry_col="entry", strata=strata)
    ours = sv._stratified_cox_class()().fit(data, weights_col="w", robust=True, **args)
    theirs = CoxPHFitter().fit(data, weights_col="w", robust=True, **args)
    assert type(ours) is not CoxPHFitter
    pd.testing.assert_series_equal(ours.params_, theirs.params_, rtol=0, atol=0)
    pd.testing.assert_frame_equal(ours.variance_matrix_, theirs.variance_matrix_, rtol=0, atol=0)
    assert ours.log_likelihood_ == theirs.log_likelihood_
    assert ours.concordance_index_ == theirs.concordance_index_
    pd.testing.assert_frame_equal(
        ours.baseline_cumulative_hazard_, theirs.baseline_cumulative_hazard_, rtol=0, atol=0
    )


def test_unchanged_consecutive_pieces_of_a_spell_merge_into_one_row():
    data = pd.DataFrame(
        {
            "x": [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 3.0, 3.0, 3.0],
            "_entry": [0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 0.0, 2.0, 3.0],
            "_duration": [1.0, 2.0, 3.0, 4.0, 1.0, 2.5, 1.0, 3.0, 4.0],
            "_event": [0, 0, 0, 1, 0, 1, 1, 0, 0],
        }
    )
    # a: x changes at day 2; b: two unchanged pieces, the event at the end; c: a gap
    # after day 1 (and an event before it), so nothing merges.
    subject = pd.Series(["a", "a", "a", "a", "b", "b", "c", "c", "c"])
    shuffled = data.sample(frac=1.0, random_state=1)
    merged = sv.merge_unchanged_pieces(
        shuffled, subject[shuffled.index], "_entry", "_duration", "_event"
    )
    assert merged.to_dict("list") == {
        "x": [1.0, 2.0, 1.0, 3.0, 3.0],
        "_entry": [0.0, 2.0, 0.0, 0.0, 2.0],
        "_duration": [2.0, 4.0, 2.5, 1.0, 4.0],
        "_event": [0, 1, 1, 1, 0],
    }


def test_merging_unchanged_pieces_leaves_the_aft_fits_as_they_were(rossi):
    # Weekly pieces with a covariate that changes (prio rises from week 20 on), so the
    # merge keeps two rows for some spells and one for the rest.
    pieces = _split(rossi, 1.0)
    pieces["prio"] = pieces["prio"] + (pieces["entry"] >= 20)
    subject = pd.Series(np.repeat(np.arange(len(rossi)), rossi["week"].astype(int).to_numpy()))
    assert len(subject) == len(pieces)
    data = pieces[[*ROSSI_COVARIATES, "entry", "week", "arrest"]]
    merged = sv.merge_unchanged_pieces(data, subject, "entry", "week", "arrest")
    spells_past_20 = int((rossi["week"] > 20).sum())
    assert len(merged) == len(rossi) + spells_past_20
    assert merged["arrest"].sum() == rossi["arrest"].sum()
    # The likelihood is the same. lifelines minimises it averaged over rows, so on the
    # weekly rows its optimiser may stop short: the merged fit is never worse.
    weibull = [
        WeibullAFTFitter().fit(d, "week", "arrest", entry_col="entry") for d in (data, merged)
    ]
    assert weibull[1].AIC_ == pytest.approx(weibull[0].AIC_, rel=1e-6)
    errors = weibull[0].standard_errors_
    assert (abs(weibull[1].params_ - weibull[0].params_) < 0.05 * errors).all()
    split, whole = (
        LogLogisticAFTFitter().fit(d, "week", "arrest", entry_col="entry") for d in (data, merged)
    )
    assert whole.AIC_ <= split.AIC_ * (1 + 1e-9)


def test_logrank_equals_lifelines_when_everyone_enters_at_zero(rossi):
    rossi = rossi.assign(prio_band=pd.cut(rossi.prio, [-1, 1, 3, 99]).astype(str))
    spec = _rossi_spec(groups=("race", "prio_band"))
    out = sv.fit_partition(rossi, spec)
    for test in out["logrank"]:
        reference = multivariate_logrank_test(rossi.week, rossi[test["group_column"]], rossi.arrest)
        assert test["statistic"] == pytest.approx(reference.test_statistic, rel=1e-9)
        assert test["p_value"] == pytest.approx(reference.p_value, rel=1e-6)
        assert test["degrees_of_freedom"] == rossi[test["group_column"]].nunique() - 1


def test_kaplan_meier_curve_with_late_entry_on_a_hand_worked_example():
    # Four spells; B enters at 2 (first observed mid-spell), so it is not at risk at 1.
    df = pd.DataFrame(
        {
            "subscription_id": ["A", "B", "C", "D"],
            "entry_days": [0.0, 2.0, 0.0, 0.0],
            "duration_days": [1.5, 3.5, 3.5, 5.0],
            "event": [1, 1, 0, 1],
        }
    )
    spec = sv.SurvivalSpec(algorithm="kaplan_meier", min_events=1)
    out = sv.fit_partition(df, spec)
    curve = out["curves"][0]
    # Day 1.5: 3 at risk (A, C, D), 1 event -> 2/3. Day 3.5: B, C, D at risk, 1 event
    # -> 2/3 * 2/3. Day 5: D alone, event -> 0.
    expected = [1.0, 1.0, 2 / 3, 2 / 3, 4 / 9, 0.0]
    assert curve["survival"] == pytest.approx(expected)
    assert out["medians"][0]["median_days"] == pytest.approx(3.5)
    km = KaplanMeierFitter().fit(df.duration_days, df.event, entry=df.entry_days)
    assert km.predict(4.0) == pytest.approx(4 / 9)
    # A kaplan_meier entry's baseline is the curve itself, extended by its tail hazard.
    baseline = out["strata"][0]["baseline_survival"]
    assert baseline[:6] == pytest.approx(expected)


def test_categories_are_encoded_against_the_most_frequent_level_and_missing_is_a_level():
    df = pd.DataFrame(
        {
            "channel": ["organic"] * 5 + ["search"] * 3 + [None] * 2,
            "x": [1.0, None, 3.0, 4.0, 5.0, 6.0, 7.0, None, 9.0, 10.0],
            "flag": [True, False, None, True, True, False, True, False, True, False],
            "constant": [2.0] * 10,
        }
    )
    spec = sv.SurvivalSpec(
        covariates=("channel", "x", "flag", "constant"), categorical=("channel",)
    )
    design, terms, notes = sv.encode(df, spec)
    assert list(design.columns) == ["channel[(missing)]", "channel[search]", "x", "flag"]
    assert design["channel[(missing)]"].tolist() == [0] * 8 + [1, 1]
    assert design["x"].tolist()[1] == 5.5 and terms[2]["fill_value"] == 5.5  # the median
    assert design["flag"].tolist()[2] == 1.0  # median of the booleans
    assert notes == ["constant: one value (2) in this partition, left out"]


def _planted(n: int, seed: int, beta: dict[str, float], h0: float = 0.01) -> pd.DataFrame:
    """Exponential times with hazard h0 * exp(b.x), censored at 150 days."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.integers(0, 2, n).astype(float), "b": rng.uniform(0, 1, n)})
    rate = h0 * np.exp(sum(beta[k] * x[k] for k in beta))
    t = rng.exponential(1 / rate)
    return x.assign(
        subscription_id=[f"s{i}" for i in range(n)],
        duration_days=np.minimum(t, 150.0),
        event=(t <= 150.0).astype(int),
        entry_days=0.0,
        plan=np.where(rng.uniform(size=n) < 0.5, "monthly", "annual"),
    )


def test_planted_hazard_ratios_are_recovered_and_the_model_card_scores_like_lifelines():
    beta = {"a": math.log(2.0), "b": math.log(0.4)}
    df = _planted(4000, seed=1, beta=beta)
    spec = sv.SurvivalSpec(covariates=("a", "b"), strata=("plan",), groups=("plan",))
    out = sv.fit_partition(df, spec)
    ratios = {h["term"]: h for h in out["hazard_ratios"]}
    for term, b in beta.items():
        assert ratios[term]["hazard_ratio"] == pytest.approx(math.exp(b), rel=0.15)
        assert ratios[term]["ci_lower"] < math.exp(b) < ratios[term]["ci_upper"]
    assert {s["stratum"] for s in out["strata"]} == {"plan=annual", "plan=monthly"}
    # The card (coefficients, centers, daily baseline) reproduces lifelines' model:
    # its partial hazard, and its baseline step function on whole days.
    reference = CoxPHFitter().fit(
        df[["a", "b", "plan", "duration_days", "event"]], "duration_days", "event", strata=["plan"]
    )
    rows = df.head(5)
    log_hazard = reference.predict_log_partial_hazard(rows[["a", "b", "plan"]])
    card = {"coefficients": out["coefficients"], "strata": out["strata"]}
    baselines = {s["stratum"]: s["baseline_survival"] for s in card["strata"]}
    days = np.array([0, 30, 60, 149])
    for i, row in enumerate(rows.to_dict("records")):
        lp = sv.linear_predictor(card["coefficients"], row)
        assert lp == pytest.approx(log_hazard.iloc[i], abs=1e-9)
        s0 = reference.baseline_survival_[row["plan"]]
        step = [s0[s0.index <= d].iloc[-1] if (s0.index <= d).any() else 1.0 for d in days]
        ours = sv.survival_at(baselines[f"plan={row['plan']}"], days, lp)
        assert ours == pytest.approx(np.power(step, math.exp(log_hazard.iloc[i])), rel=1e-9)
    # The pyfunc model scores from the same card.
    scored = score(
        {**card, "strata_columns": ["plan"]},
        rows.assign(tenure_days=0.0)[["a", "b", "plan", "tenure_days"]],
    )
    first = rows.iloc[0]
    lp = sv.linear_predictor(card["coefficients"], dict(first))
    s = sv.survival_at(baselines[f"plan={first['plan']}"], np.arange(0, 366), lp)
    assert scored["survival_30d"].iloc[0] == pytest.approx(s[30])
    assert scored["expected_remaining_days_365"].iloc[0] == pytest.approx(s[1:].sum())


def test_the_baseline_continues_with_the_hazard_of_its_last_days():
    df = _planted(3000, seed=2, beta={"a": 0.0, "b": 0.0}, h0=0.01)
    out = sv.fit_partition(df, sv.SurvivalSpec(algorithm="kaplan_meier", extend_days=100))
    stratum = out["strata"][0]
    last = stratum["last_observed_day"]
    assert last == 150  # censored at 150.0
    assert stratum["tail_hazard"] == pytest.approx(0.01, rel=0.25)  # the planted hazard
    base = stratum["baseline_survival"]
    assert len(base) == last + 1 + 100
    assert base[last + 100] == pytest.approx(base[last] * math.exp(-100 * stratum["tail_hazard"]))


@pytest.mark.parametrize(
    "rows, reason",
    [
        (pd.DataFrame(columns=["duration_days", "event", "entry_days"]), "no rows"),
        (
            pd.DataFrame({"duration_days": [1.0, 2.0, 3.0], "event": [1, 0, 0], "entry_days": 0.0}),
            "1 events, fewer than min_events=10",
        ),
        (
            pd.DataFrame({"duration_days": [1.0, 2.0], "event": [1, 1], "entry_days": [1.0, 0.0]}),
            "rows whose entry is not before their duration",
        ),
        (
            pd.DataFrame({"duration_days": [1.0, None], "event": [1, 1], "entry_days": 0.0}),
            "1 rows without a value in duration_days",
        ),
    ],
)
def test_a_partition_that_cannot_be_fitted_is_a_status_with_the_reason(rows, reason):
    out = sv.fit_partition(rows, sv.SurvivalSpec(algorithm="kaplan_meier", subject=None))
    # Too few events is too little data yet (skipped); the others are failures.
    status = "skipped" if "min_events" in reason else "failed"
    assert out["status"] == status and out["reason"] == reason


def test_a_numerical_failure_is_a_status_row_not_an_exception():
    # Perfect separation: every event has x = 1, so the Cox coefficient runs off.
    n = 60
    df = pd.DataFrame(
        {
            "x": [1.0] * 30 + [0.0] * 30,
            "duration_days": np.linspace(1, 60, n),
            "event": [1] * 30 + [0] * 30,
            "entry_days": 0.0,
        }
    )
    out = sv.fit_partition(df, sv.SurvivalSpec(covariates=("x",), subject=None))
    if out["status"] == "ok":  # lifelines may converge to a huge ratio with a warning
        assert out["hazard_ratios"][0]["hazard_ratio"] > 1e3 and out["notes"]
    else:
        assert out["reason"]


def test_fit_group_returns_one_json_row_with_the_partition_values(rossi):
    rows = rossi.assign(market="DE")
    frame = sv.fit_group(rows, _rossi_spec(partition_by=("market",)))
    assert list(frame.columns) == ["market", "result"] and len(frame) == 1
    assert frame["market"].iloc[0] == "DE"
    assert json.loads(frame["result"].iloc[0])["status"] == "ok"


def test_a_quiet_end_of_the_curve_does_not_stop_the_tail_hazard():
    # 40 events on days 1..40, then 60 spells censored on day 200: the last 90 days
    # hold no event, so the tail reaches back to the 30th-latest event (day 11).
    df = pd.DataFrame(
        {
            "duration_days": [float(d) for d in range(1, 41)] + [200.0] * 60,
            "event": [1] * 40 + [0] * 60,
            "entry_days": 0.0,
        }
    )
    spec = sv.SurvivalSpec(algorithm="kaplan_meier", subject=None, tail_events=30)
    stratum = sv.fit_partition(df, spec)["strata"][0]
    s11, s200 = 89 / 100, 60 / 100  # Kaplan-Meier with 100 at risk at the start
    assert stratum["tail_hazard"] == pytest.approx(math.log(s11 / s200) / 189)


def test_the_baseline_honours_late_entry_where_lifelines_does_not(rossi):
    """Split spells predict the survival of whole spells (lifelines' own baseline counts
    a split spell once per piece, so it is far too flat). The baselines sit at each
    fit's mean covariates, so predictions for one person are compared."""
    whole = sv.fit_partition(rossi, _rossi_spec())
    split = sv.fit_partition(_split(rossi, 10.0), _rossi_spec(entry="entry"))
    days = np.arange(53)
    for person in rossi.head(3).to_dict("records"):
        a, b = (
            sv.survival_at(
                out["strata"][0]["baseline_survival"],
                days,
                sv.linear_predictor(out["coefficients"], person),
            )
            for out in (whole, split)
        )
        assert a == pytest.approx(b, rel=1e-9)
    reference = CoxPHFitter().fit(rossi, "week", "arrest").baseline_survival_.iloc[:, 0]
    assert whole["strata"][0]["baseline_survival"][52] == pytest.approx(reference.loc[52.0])
