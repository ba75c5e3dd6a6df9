"""Survival analysis of one partition, in plain pandas (run per group by
``applyInPandas``, and unit-tested without Spark).

Rows are in counting-process form: each row is at risk from ``entry`` (exclusive) to
``duration`` (inclusive) on the tenure time scale, with ``event`` = 1 when the spell
ends in the event at ``duration``. One spell may be several rows (its covariates are
re-read every few days: time-varying covariates), and a spell first observed mid-way
enters late (left truncation). Kaplan-Meier, the log-rank test, Cox and the AFT models
all take the entry time, so both cases are handled by the same rows.

``fit_partition`` returns a plain dict: status, counts, Kaplan-Meier curves with
intervals and medians (overall and per group column), log-rank tests, the Cox model
(hazard ratios with intervals, p-values, a proportional-hazards check per covariate,
concordance, a daily baseline survival per stratum with an exponential tail), and the
AIC of the parametric models. A partition that cannot be fitted gives status
``failed`` and the reason instead of raising; one with fewer events than
``min_events`` gives ``skipped`` (too little data yet, not a failure).
"""

from __future__ import annotations

import functools
import json
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ALL = "all"  # the group column of the overall curve
MISSING = "(missing)"  # the level of a missing category


@dataclass(frozen=True)
class SurvivalSpec:
    covariates: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    strata: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # Kaplan-Meier curves and a log-rank test per column
    partition_by: tuple[str, ...] = ()
    algorithm: str = "cox"  # or kaplan_meier: curves only, no covariates
    parametric: tuple[str, ...] = ("weibull_aft", "log_logistic_aft")
    penalizer: float = 0.0
    min_events: int = 10
    # The daily baseline runs to the longest observed tenure plus this many days,
    # extrapolated with the average hazard of the latest stretch of observed tenure that
    # holds `tail_events` events and is at least `tail_days` long.
    extend_days: int = 730
    tail_days: int = 90
    tail_events: int = 100
    alpha: float = 0.05
    duration: str = "duration_days"
    event: str = "event"
    entry: str | None = "entry_days"
    subject: str | None = "subscription_id"


class PartitionError(Exception):
    """Why a partition cannot be fitted, in words for the status row."""


class TooFewEvents(PartitionError):
    """Too little data for a model yet: the partition is ``skipped``, not ``failed``."""


# ---- the entry point per partition ----------------------------------------------------
def fit_partition(pdf: pd.DataFrame, spec: SurvivalSpec) -> dict:
    """Every result of one partition; never raises for a data problem."""
    started = time.perf_counter()
    out: dict = {
        "status": "ok",
        "reason": None,
        "notes": [],
        "rows": len(pdf),
        "subjects": int(pdf[spec.subject].nunique()) if spec.subject in pdf else len(pdf),
        "events": int(pdf[spec.event].sum()) if len(pdf) else 0,
    }
    try:
        df = _clean(pdf, spec)
        if out["events"] < spec.min_events:
            raise TooFewEvents(f"{out['events']} events, fewer than min_events={spec.min_events}")
        out["curves"], out["medians"] = kaplan_meier_curves(df, spec)
        out["logrank"] = [logrank_test(df, spec, column) for column in spec.groups]
        if spec.algorithm == "cox":
            design, terms, notes = encode(df, spec)
            out["notes"] += notes
            cox = fit_cox(df, design, terms, spec)
            out["notes"] += cox.pop("notes")
            out.update(cox)
            out["parametric"] = fit_parametric(df, design, spec, out["notes"])
        else:
            out.update(kaplan_meier_baseline(df, spec))
    except TooFewEvents as err:
        out.update(status="skipped", reason=str(err))
    except PartitionError as err:
        out.update(status="failed", reason=str(err))
    except Exception as err:  # noqa: BLE001 - a numerical failure is this partition's status
        out.update(status="failed", reason=f"{type(err).__name__}: {_first_line(err)}")
    out["seconds"] = time.perf_counter() - started
    return out


def fit_group(pdf: pd.DataFrame, spec: SurvivalSpec) -> pd.DataFrame:
    """The ``applyInPandas`` function: one row per partition, its values as strings and
    the results as JSON (the schema is ``partition_by`` strings plus ``result``)."""
    row = {c: _key(pdf[c].iloc[0]) if len(pdf) else None for c in spec.partition_by}
    row["result"] = json.dumps(fit_partition(pdf, spec), default=_json_default)
    return pd.DataFrame([row], columns=[*spec.partition_by, "result"])


# ---- data ----------------------------------------------------------------------------
def _clean(pdf: pd.DataFrame, spec: SurvivalSpec) -> pd.DataFrame:
    df = pdf.copy()
    if df.empty:
        raise PartitionError("no rows")
    for column in (spec.duration, spec.event):
        missing = int(df[column].isna().sum())
        if missing:
            raise PartitionError(f"{missing} rows without a value in {column}")
    df[spec.duration] = df[spec.duration].astype(float)
    df[spec.event] = df[spec.event].astype(int)
    if spec.entry:
        df[spec.entry] = df[spec.entry].fillna(0.0).astype(float)
        if (df[spec.entry] >= df[spec.duration]).any():
            raise PartitionError("rows whose entry is not before their duration")
    if (df[spec.duration] <= 0).any():
        raise PartitionError("rows with a duration of zero or less")
    for column in {*spec.strata, *spec.groups}:
        df[column] = df[column].map(_key).fillna(MISSING)
    return df.reset_index(drop=True)


def encode(df: pd.DataFrame, spec: SurvivalSpec) -> tuple[pd.DataFrame, list[dict], list[str]]:
    """The design matrix: numbers (missing -> the median) and booleans as they are,
    categories as one column per level but the most frequent (missing -> a level of its
    own). Columns with one value are left out, with a note."""
    cols, terms, notes = {}, [], []
    for c in spec.covariates:
        if c in spec.categorical:
            values = df[c].map(_key).fillna(MISSING)
            counts = values.value_counts()
            reference = sorted(counts.index, key=lambda v: (-counts[v], v))[0]
            for level in sorted(counts.index):
                if level == reference:
                    continue
                name = f"{c}[{level}]"
                cols[name] = (values == level).astype(float)
                terms.append({"term": name, "covariate": c, "level": level, "fill_value": None})
            if len(counts) == 1:
                notes.append(f"{c}: one value ({reference}) in this partition, left out")
            continue
        x = _numeric(df[c])
        if x.isna().all():
            notes.append(f"{c}: no value in this partition, left out")
            continue
        fill = float(x.median())
        x = x.fillna(fill)
        if x.nunique() < 2:
            notes.append(f"{c}: one value ({x.iloc[0]:g}) in this partition, left out")
            continue
        cols[c] = x
        terms.append({"term": c, "covariate": c, "level": None, "fill_value": fill})
    return pd.DataFrame(cols, index=df.index), terms, notes


# ---- Kaplan-Meier and log-rank --------------------------------------------------------
def kaplan_meier_curves(df: pd.DataFrame, spec: SurvivalSpec) -> tuple[list, list]:
    """Daily curves (day 0 .. the longest observed tenure) with pointwise intervals,
    overall and per value of each group column; and each curve's median."""
    from lifelines import KaplanMeierFitter

    last = int(math.floor(df[spec.duration].max()))
    days = np.arange(last + 1, dtype=float)
    curves, medians = [], []
    parts = [(ALL, ALL, df)]
    for column in spec.groups:
        parts += [(column, value, g) for value, g in sorted(df.groupby(column), key=_by_key)]
    for column, value, g in parts:
        km = KaplanMeierFitter(alpha=spec.alpha)
        km.fit(
            g[spec.duration],
            g[spec.event],
            entry=g[spec.entry] if spec.entry else None,
        )
        timeline = km.timeline
        surv = _step(timeline, km.survival_function_.iloc[:, 0].to_numpy(), days)
        ci = km.confidence_interval_survival_function_
        lower = _step(timeline, ci.iloc[:, 0].to_numpy(), days)
        upper = _step(timeline, ci.iloc[:, 1].to_numpy(), days)
        median = km.median_survival_time_
        medians.append(
            {
                "group_column": column,
                "group_value": value,
                "median_days": float(median) if np.isfinite(median) else None,
                "subjects": int(g[spec.subject].nunique()) if spec.subject in g else len(g),
                "events": int(g[spec.event].sum()),
            }
        )
        curves.append(
            {
                "group_column": column,
                "group_value": value,
                "survival": surv.tolist(),
                "lower": lower.tolist(),
                "upper": upper.tolist(),
            }
        )
    return curves, medians


def logrank_test(df: pd.DataFrame, spec: SurvivalSpec, column: str) -> dict:
    """The log-rank test that every value of ``column`` has the same survival, on
    counting-process rows (at risk when entry < t <= duration), so late entries and
    split spells count correctly. Equals lifelines' test when every entry is 0."""
    entry = df[spec.entry].to_numpy() if spec.entry else np.zeros(len(df))
    stop, event = df[spec.duration].to_numpy(), df[spec.event].to_numpy().astype(bool)
    labels = df[column].to_numpy()
    levels = sorted(set(labels), key=str)
    result = {"group_column": column, "groups": len(levels)}
    if len(levels) < 2 or not event.any():
        return {**result, "statistic": None, "degrees_of_freedom": 0, "p_value": None}
    times = np.unique(stop[event])
    at_risk = np.empty((len(levels), len(times)))
    deaths = np.empty_like(at_risk)
    for i, level in enumerate(levels):
        mine = labels == level
        starts, stops = np.sort(entry[mine]), np.sort(stop[mine])
        at_risk[i] = np.searchsorted(starts, times, "left") - np.searchsorted(stops, times, "left")
        ends = np.sort(stop[mine & event])
        deaths[i] = np.searchsorted(ends, times, "right") - np.searchsorted(ends, times, "left")
    n, d = at_risk.sum(0), deaths.sum(0)
    ok = n > 0
    share = np.divide(at_risk, n, out=np.zeros_like(at_risk), where=ok)
    observed_minus_expected = (deaths - d * share).sum(1)
    factor = np.divide(d * (n - d), n - 1, out=np.zeros_like(n), where=n > 1)
    k = len(levels)
    variance = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            variance[i, j] = (factor * share[i] * ((i == j) - share[j])).sum()
    z, v = observed_minus_expected[:-1], variance[:-1, :-1]
    statistic = float(z @ np.linalg.pinv(v) @ z)
    return {
        **result,
        "statistic": statistic,
        "degrees_of_freedom": k - 1,
        "p_value": float(stats.chi2.sf(statistic, k - 1)),
    }


# ---- Cox ----------------------------------------------------------------------------
@functools.cache
def _stratified_cox_class():
    """lifelines' CoxPHFitter class, with each stratum's rows taken by position (built on
    first use: lifelines is imported lazily).

    lifelines takes a stratum's rows with ``.loc[[stratum]]`` on its non-unique strata
    index, which re-indexes the whole frame, for every stratum on every Newton step:
    16 of the 24 s of a fit on 844k daily rows in 20 strata (market x plan). Its rows
    are sorted by stratum, so the same rows, in the same order, are found once per call
    by position: the fit is unchanged (tests/test_survival_unit.py compares the two)."""
    from lifelines import CoxPHFitter
    from lifelines.fitters.coxph_fitter import SemiParametricPHFitter

    class PositionalStrata(SemiParametricPHFitter):
        def _partition_by_strata(self, X, T, E, entries, weights):
            # The same rows, order and arguments (weights and entries trade places in
            # lifelines' own) as SemiParametricPHFitter._partition_by_strata.
            grouped = X.groupby(self.strata)
            positions = {_as_tuple(k): rows for k, rows in grouped.indices.items()}
            for stratum, stratified_x in grouped:
                rows = positions[_as_tuple(stratum)]
                stratified = (
                    stratified_x,
                    T.iloc[rows],
                    E.iloc[rows],
                    weights.iloc[rows],
                    None if entries is None else entries.iloc[rows],
                )
                yield stratified, stratum

    class StratifiedCox(CoxPHFitter):
        # CoxPHFitter's Breslow fit is a SemiParametricPHFitter it builds itself.
        def _fit_model_breslow(self, *args, **kwargs):
            model = PositionalStrata(
                penalizer=self.penalizer,
                l1_ratio=self.l1_ratio,
                strata=self.strata,
                alpha=self.alpha,
                label=self._label,
            )
            model.fit(*args, **kwargs)
            return model

    return StratifiedCox


def _as_tuple(key) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def fit_cox(df: pd.DataFrame, design: pd.DataFrame, terms: list[dict], spec: SurvivalSpec) -> dict:
    if not terms:
        raise PartitionError("no covariate varies in this partition")
    data = design.copy()
    data["_duration"], data["_event"] = df[spec.duration], df[spec.event]
    if spec.entry:
        data["_entry"] = df[spec.entry]
    strata = list(spec.strata)
    for column in strata:
        data[column] = df[column]
    cph = _stratified_cox_class()(penalizer=spec.penalizer, alpha=spec.alpha)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cph.fit(
            data,
            "_duration",
            "_event",
            entry_col="_entry" if spec.entry else None,
            strata=strata or None,
        )
    notes = [_first_line(w.message) for w in caught if "Convergence" in type(w.message).__name__]
    summary = cph.summary
    ph = proportional_hazards_check(data, cph, list(design.columns), strata, spec)
    ratios, coefficients = [], []
    for t in terms:
        s = summary.loc[t["term"]]
        ratios.append(
            {
                **{k: t[k] for k in ("term", "covariate", "level")},
                "coef": float(s["coef"]),
                "se": float(s["se(coef)"]),
                "hazard_ratio": float(s["exp(coef)"]),
                "ci_lower": float(s[f"exp(coef) lower {100 * (1 - spec.alpha):g}%"]),
                "ci_upper": float(s[f"exp(coef) upper {100 * (1 - spec.alpha):g}%"]),
                "p_value": float(s["p"]),
                "ph_p_value": ph[t["term"]],
                "ph_violated": None if ph[t["term"]] is None else ph[t["term"]] < spec.alpha,
            }
        )
        coefficients.append(
            {**t, "coef": float(s["coef"]), "center": float(cph._norm_mean[t["term"]])}
        )
    # lifelines' own baseline ignores entry times (it counts a split spell once per
    # row), so the Breslow estimate is recomputed here with the right risk sets.
    columns = list(design.columns)
    lp = (design.to_numpy() - cph._norm_mean[columns].to_numpy()) @ cph.params_[columns].to_numpy()
    weight = np.exp(np.clip(lp, -50, 50))
    entry = df[spec.entry].to_numpy() if spec.entry else np.zeros(len(df))
    stop, event = df[spec.duration].to_numpy(), df[spec.event].to_numpy().astype(bool)
    if strata:
        codes = _stratum_codes(df, strata)
        masks = [codes == c for c in range(codes.max() + 1)]
    else:
        masks = [np.ones(len(df), dtype=bool)]
    strata_out = []
    for mask in masks:
        times, survival = breslow_survival(entry[mask], stop[mask], event[mask], weight[mask])
        first = df[mask].iloc[0]
        label = stratum_label(strata, [first[c] for c in strata]) if strata else ""
        strata_out.append(_baseline(times, survival, df[mask], label, spec))
    return {
        "hazard_ratios": ratios,
        "coefficients": coefficients,
        "strata": strata_out,
        "concordance": float(cph.concordance_index_),
        "aic_partial": float(cph.AIC_partial_),
        "log_likelihood": float(cph.log_likelihood_),
        "notes": notes,
    }


def breslow_survival(entry, stop, event, weight) -> tuple[np.ndarray, np.ndarray]:
    """Baseline survival exp(-H0) at each event time, H0 the Breslow estimate: at each
    event time s, the events there over the summed weights of the rows at risk
    (entry < s <= stop)."""
    times = np.unique(stop[event])
    if len(times) == 0:
        return np.array([0.0]), np.array([1.0])
    at_risk = _at_risk_sums(entry, stop, weight, times)
    ends = np.sort(stop[event])
    deaths = np.searchsorted(ends, times, "right") - np.searchsorted(ends, times, "left")
    return times, np.exp(-np.cumsum(deaths / at_risk))


def proportional_hazards_check(
    data: pd.DataFrame, cph, columns: list[str], strata: list[str], spec: SurvivalSpec
) -> dict:
    """Per covariate, the p-value that its scaled Schoenfeld residuals do not trend
    with the rank of event time (Grambsch and Therneau's idea; lifelines' own test does
    not take entry times). Risk sets are within the stratum and honour late entry."""
    beta = cph.params_[columns].to_numpy()
    x = data[columns].to_numpy() - cph._norm_mean[columns].to_numpy()
    start = data["_entry"].to_numpy() if "_entry" in data else np.zeros(len(data))
    stop, event = data["_duration"].to_numpy(), data["_event"].to_numpy().astype(bool)
    group = _stratum_codes(data, strata) if strata else None
    weight = np.exp(np.clip(x @ beta, -50, 50))
    members = (
        [np.arange(len(data))]
        if group is None
        else [np.flatnonzero(group == g) for g in np.unique(group)]
    )
    pieces = [_schoenfeld(start[r], stop[r], event[r], x[r], weight[r]) for r in members]
    residuals = np.concatenate([p[0] for p in pieces])
    times = np.concatenate([p[1] for p in pieces])
    if len(residuals) < 3:
        return {c: None for c in columns}
    scaled = residuals @ cph.variance_matrix_.loc[columns, columns].to_numpy()
    scaled = scaled * len(residuals) + beta
    rank = stats.rankdata(times)
    out = {}
    for j, c in enumerate(columns):
        if np.std(scaled[:, j]) == 0:
            out[c] = None
            continue
        out[c] = float(stats.pearsonr(rank, scaled[:, j]).pvalue)
    return out


def _stratum_codes(df: pd.DataFrame, strata: list[str]) -> np.ndarray:
    """Each row's stratum as 0, 1, ... in the sorted order of the strata's values."""
    return df.groupby([df[c].astype(str) for c in strata], sort=True).ngroup().to_numpy()


def _schoenfeld(start, stop, event, x, weight) -> tuple[np.ndarray, np.ndarray]:
    """Schoenfeld residuals of one stratum's events (in row order) and their times: an
    event's covariates less the weighted mean over the rows at risk then (start < t <=
    stop)."""
    events = np.flatnonzero(event)
    times = stop[events]
    sums = _at_risk_sums(start, stop, np.column_stack([weight, weight[:, None] * x]), times)
    return x[events] - sums[:, 1:] / sums[:, :1], times


def _at_risk_sums(start, stop, values, times) -> np.ndarray:
    """Per time t, the sums of ``values`` (one row, or one entry, per data row) over the
    rows at risk at t (start < t <= stop): running sums over the rows sorted by start
    less those over the rows sorted by stop, read at t. No pass over the rows per t."""
    by_start, by_stop = np.argsort(start, kind="stable"), np.argsort(stop, kind="stable")
    zero = np.zeros((1, *values.shape[1:]))
    entered = np.concatenate([zero, np.cumsum(values[by_start], axis=0)])
    left = np.concatenate([zero, np.cumsum(values[by_stop], axis=0)])
    entered_before = np.searchsorted(start[by_start], times, "left")  # start < t
    left_before = np.searchsorted(stop[by_stop], times, "left")  # stop < t
    return entered[entered_before] - left[left_before]


def _baseline(times, values, rows: pd.DataFrame, label: str, spec: SurvivalSpec) -> dict:
    """Baseline survival on every day 0..last observed + ``extend_days``: the step
    function where observed, then the constant hazard of its latest stretch. The stretch
    reaches back to the ``tail_events``-th latest event (at least ``tail_days``): the
    last few weeks alone hold too few people at risk to say much."""
    last = int(math.floor(rows[spec.duration].max())) if len(rows) else 0
    observed = _step(times, values, np.arange(last + 1, dtype=float))
    ends = np.sort(rows.loc[rows[spec.event] == 1, spec.duration].to_numpy())[::-1]
    since = int(ends[spec.tail_events - 1]) if len(ends) >= spec.tail_events else 0
    window = min(last, max(spec.tail_days, last - since))
    s_end, s_begin = observed[last], observed[last - window]
    if window > 0 and s_end > 0 and s_begin > 0:
        hazard = max(0.0, -math.log(s_end / s_begin) / window)
    else:
        hazard = 0.0
    tail = s_end * np.exp(-hazard * np.arange(1, spec.extend_days + 1))
    return {
        "stratum": label,
        "last_observed_day": last,
        "tail_hazard": hazard,
        "events": int(rows[spec.event].sum()),
        "baseline_survival": np.concatenate([observed, tail]).tolist(),
    }


def kaplan_meier_baseline(df: pd.DataFrame, spec: SurvivalSpec) -> dict:
    """For ``kaplan_meier`` entries: the curve of each stratum as its baseline, so
    values are scored the same way as from a Cox model with no covariates."""
    from lifelines import KaplanMeierFitter

    strata = list(spec.strata)
    pieces = df.groupby(strata) if strata else [((), df)]
    out = []
    for key, rows in pieces:
        values = _as_tuple(key)
        km = KaplanMeierFitter().fit(
            rows[spec.duration], rows[spec.event], entry=rows[spec.entry] if spec.entry else None
        )
        out.append(
            _baseline(
                km.timeline,
                km.survival_function_.iloc[:, 0].to_numpy(),
                rows,
                stratum_label(strata, values) if strata else "",
                spec,
            )
        )
    return {"hazard_ratios": [], "coefficients": [], "strata": out}


# ---- parametric ---------------------------------------------------------------------
def fit_parametric(df: pd.DataFrame, design: pd.DataFrame, spec: SurvivalSpec, notes) -> dict:
    """Each AFT model with the covariates (strata as indicator columns), by AIC; the
    one with the lowest is ``best``. A model that does not fit is a note, not a failure."""
    from lifelines import LogLogisticAFTFitter, WeibullAFTFitter

    fitters = {"weibull_aft": WeibullAFTFitter, "log_logistic_aft": LogLogisticAFTFitter}
    data = design.copy()
    for column in spec.strata:
        levels = sorted(df[column].unique(), key=str)
        for level in levels[1:]:
            data[f"{column}[{level}]"] = (df[column] == level).astype(float)
    data["_duration"], data["_event"] = df[spec.duration], df[spec.event]
    if spec.entry:
        data["_entry"] = df[spec.entry]
        if spec.subject in df:
            data = merge_unchanged_pieces(data, df[spec.subject], "_entry", "_duration", "_event")
    aic = {}
    for name in spec.parametric:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = fitters[name](penalizer=spec.penalizer).fit(
                    data, "_duration", "_event", entry_col="_entry" if spec.entry else None
                )
            aic[name] = float(model.AIC_)
        except Exception as err:  # noqa: BLE001 - reported, the Cox result still stands
            notes.append(f"{name} did not fit: {_first_line(err)}")
    best = min(aic, key=aic.get) if aic else None
    return {"aic": aic, "best": best}


def merge_unchanged_pieces(
    data: pd.DataFrame, subject: pd.Series, entry: str, stop: str, event: str
) -> pd.DataFrame:
    """Consecutive pieces of one spell whose other columns did not change, as one row.

    A spell is split into pieces (entry, stop] so its covariates can change; where they
    did not, the pieces (a, b] and (b, c] hold the likelihood of the one row (a, c] for
    any model whose likelihood with late entry is S(stop | x) / S(entry | x), times the
    hazard at an event (the AFT models: the cumulative hazards telescope). The demo's
    daily pieces are half unchanged, and the AFT fits' time is linear in rows. (lifelines
    minimises the likelihood averaged over rows, so with fewer rows its optimiser also
    stops nearer the optimum.) Pieces merge only where one starts exactly where the one
    before it stopped, without an event."""
    values = [c for c in data.columns if c not in (entry, stop, event)]
    d = data.assign(_subject=subject.to_numpy()).sort_values(["_subject", entry], kind="stable")
    before = d.shift()
    continues = (
        (d["_subject"] == before["_subject"]) & (d[entry] == before[stop]) & (before[event] == 0)
    )
    for c in values:
        continues &= (d[c] == before[c]) | (d[c].isna() & before[c].isna())
    firsts = np.flatnonzero(~continues.to_numpy())
    lasts = np.append(firsts[1:] - 1, len(d) - 1)
    merged = d.iloc[firsts].drop(columns="_subject")
    merged[stop] = d[stop].to_numpy()[lasts]
    merged[event] = d[event].to_numpy()[lasts]
    return merged.reset_index(drop=True)


# ---- scoring (the SQL in models/value.py does the same at scale) -----------------------
def survival_at(baseline: np.ndarray, days: np.ndarray, linear_predictor: float) -> np.ndarray:
    """S(day | x) = S0(day) ** exp(lp), days clipped to the baseline's last day."""
    idx = np.clip(np.asarray(days, dtype=int), 0, len(baseline) - 1)
    return np.power(np.asarray(baseline)[idx], math.exp(linear_predictor))


def linear_predictor(coefficients: list[dict], row: dict) -> float:
    """sum(coef * (x - center)); x of a level term is 1 when the row has that level."""
    total = 0.0
    for c in coefficients:
        value = row.get(c["covariate"])
        if c["level"] is not None:
            x = 1.0 if (MISSING if value is None else _key(value)) == c["level"] else 0.0
        else:
            x = c["fill_value"] if value is None or _isnan(value) else float(value)
        total += c["coef"] * (x - c["center"])
    return total


def stratum_label(strata: list[str] | tuple[str, ...], values) -> str:
    """``plan=annual`` (``a=x/b=y`` for several columns); empty without strata."""
    pairs = zip(strata, values, strict=True)
    return "/".join(f"{c}={MISSING if _key(v) is None else _key(v)}" for c, v in pairs)


# ---- helpers ------------------------------------------------------------------------
def _step(timeline: np.ndarray, values: np.ndarray, days: np.ndarray) -> np.ndarray:
    """A right-continuous step function at ``days``: the value at the last time <= day
    (1 before the first time)."""
    idx = np.searchsorted(np.asarray(timeline, dtype=float), days, side="right") - 1
    values = np.asarray(values, dtype=float)
    return np.where(idx >= 0, values[np.clip(idx, 0, None)], 1.0)


def _key(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return str(value)


def _numeric(series: pd.Series) -> pd.Series:
    """Numbers and booleans (Arrow gives nullable ones as objects) as floats, NaN if missing."""
    if series.dtype == object:
        return series.map(lambda v: np.nan if v is None or v is pd.NA else float(v)).astype(float)
    return series.astype(float)


def _by_key(item):
    return str(item[0])


def _isnan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _first_line(err) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
