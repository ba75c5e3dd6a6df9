"""The report's figures: small pandas frames in, matplotlib Figures out. Object API only
(no pyplot), as in models/plots.py, so no global figure state is shared."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

SMALL = 7


def _grid(n: int, cols: int = 3, width: float = 4.0, height: float = 2.6):
    """A figure with ``n`` panels, ``cols`` to a row; unused panels are hidden."""
    rows = max(1, math.ceil(n / cols))
    cols = min(cols, max(n, 1))
    fig = Figure(figsize=(width * cols, height * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def attention(rows: pd.DataFrame, title: str) -> Figure:
    """Drift score per model, flagged models in red (columns model, drift_score,
    flagged), largest at the top."""
    rows = rows.iloc[::-1]
    fig = Figure(figsize=(7, 0.28 * len(rows) + 1.4))
    ax = fig.add_subplot()
    colours = np.where(rows["flagged"].to_numpy(dtype=bool), "tab:red", "tab:blue")
    ax.barh(rows["model"], rows["drift_score"].fillna(0.0), color=colours)
    for x, style in ((0.1, ":"), (0.25, "--")):
        ax.axvline(x, color="grey", linestyle=style, linewidth=1)
    ax.set_xlabel("drift score (largest feature PSI); lines at 0.1 and 0.25")
    ax.set_title(f"{title}: flagged in red", fontsize=9)
    ax.tick_params(axis="y", labelsize=SMALL)
    fig.tight_layout()
    return fig


def survival_lines(curves: pd.DataFrame, title: str) -> Figure:
    """Kaplan-Meier curves, one step line per ``label`` (columns label, day, survival)."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    for label, rows in curves.groupby("label", sort=False):
        rows = rows.sort_values("day")
        ax.step(rows["day"], rows["survival"], where="post", label=label, linewidth=1.2)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("tenure (days)")
    ax.set_ylabel("share still subscribed")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=SMALL, ncol=2)
    fig.tight_layout()
    return fig


def forest(ratios: pd.DataFrame, title: str) -> Figure:
    """Hazard ratios with their intervals on a log axis, one row per term; several
    partitions are drawn side by side within a row (columns term, series, hazard_ratio,
    ci_lower, ci_upper)."""
    terms = list(dict.fromkeys(ratios["term"]))
    series = list(dict.fromkeys(ratios["series"]))
    fig = Figure(figsize=(7, 0.45 * len(terms) * max(1, len(series)) ** 0.5 + 1.5))
    ax = fig.add_subplot()
    step = 0.7 / max(len(series), 1)
    for i, name in enumerate(series):
        rows = ratios[ratios["series"] == name]
        y = np.array([terms.index(t) for t in rows["term"]]) + (i - (len(series) - 1) / 2) * step
        hr = rows["hazard_ratio"].to_numpy()
        err = [hr - rows["ci_lower"].to_numpy(), rows["ci_upper"].to_numpy() - hr]
        ax.errorbar(hr, y, xerr=err, fmt="o", markersize=3, capsize=2, label=name or "pooled")
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(range(len(terms)), terms, fontsize=SMALL)
    ax.invert_yaxis()
    ax.set_xlabel("hazard ratio (log scale; > 1 leaves sooner)")
    ax.set_title(title, fontsize=9)
    if len(series) > 1:
        ax.legend(fontsize=SMALL - 1, ncol=min(len(series), 5), loc="best")
    fig.tight_layout()
    return fig


def lift_and_calibration(curves: pd.DataFrame, title: str) -> Figure:
    """Two panels per churn entry: cumulative lift against the share of customers
    targeted, and observed churn rate against mean predicted probability (columns
    label, curve, point, x, y, n)."""
    fig = Figure(figsize=(10, 4))
    lift_ax, cal_ax = fig.subplots(1, 2)
    for label, rows in curves.groupby("label", sort=False):
        lift = rows[rows["curve"] == "lift"].sort_values("point")
        lift_ax.plot(lift["x"], lift["y"], marker="o", markersize=2, linewidth=1, label=label)
        cal = rows[rows["curve"] == "reliability"].sort_values("point")
        cal_ax.plot(cal["x"], cal["y"], marker="o", markersize=2, linewidth=1, label=label)
    lift_ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    lift_ax.set_xlabel("share of customers targeted, highest risk first")
    lift_ax.set_ylabel("lift (churn rate / overall rate)")
    lift_ax.set_xlim(0, 1)
    cal = curves[curves["curve"] == "reliability"]
    top = min(1.0, 1.1 * max(cal["x"].max(), cal["y"].max(), 0.01))
    cal_ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1)
    cal_ax.set_xlabel("mean predicted churn probability")
    cal_ax.set_ylabel("observed churn rate")
    for ax, name in ((lift_ax, "lift"), (cal_ax, "calibration")):
        ax.set_title(f"{title}: {name}", fontsize=9)
        ax.grid(alpha=0.3)
    lift_ax.legend(fontsize=SMALL - 1, ncol=2)
    fig.tight_layout()
    return fig


def segment_shares(profiles: pd.DataFrame, title: str) -> Figure:
    """Per partition, each segment's share of subscribers, labelled by its name
    (columns series, segment_name, share)."""
    series = list(dict.fromkeys(profiles["series"]))
    fig, axes = _grid(len(series), cols=2, width=5.5, height=2.4)
    for ax, name in zip(axes, series, strict=True):
        rows = profiles[profiles["series"] == name].sort_values("share")
        ax.barh(rows["segment_name"], rows["share"], color="tab:blue")
        ax.set_xlim(0, 1)
        ax.set_title(name or title, fontsize=8)
        ax.tick_params(axis="y", labelsize=SMALL - 1)
        ax.tick_params(axis="x", labelsize=SMALL)
    fig.suptitle(f"{title}: share of subscribers per segment", fontsize=9)
    fig.tight_layout()
    return fig


def top_fixtures(rows: pd.DataFrame, title: str) -> Figure:
    """Per market, the top fixtures by attributed signups (columns market, fixture,
    attributed_signups)."""
    markets = list(dict.fromkeys(rows["market"]))
    fig, axes = _grid(len(markets), cols=2, width=5.5, height=2.2)
    for ax, market in zip(axes, markets, strict=True):
        mine = rows[rows["market"] == market].iloc[::-1]
        ax.barh(mine["fixture"], mine["attributed_signups"], color="tab:green")
        ax.set_title(market, fontsize=8)
        ax.tick_params(axis="y", labelsize=SMALL - 1)
        ax.tick_params(axis="x", labelsize=SMALL)
    fig.suptitle(f"{title}: attributed signups", fontsize=9)
    fig.tight_layout()
    return fig


def sentiment_over_time(daily: pd.DataFrame, title: str) -> Figure:
    """Per market, daily post volume (bars, spikes in red) and mean sentiment (line,
    right axis, from -1 to 1) (columns market, post_date, posts, mean_sentiment, spike)."""
    markets = list(dict.fromkeys(daily["market"]))
    fig, axes = _grid(len(markets), cols=2, width=6, height=2.4)
    for ax, market in zip(axes, markets, strict=True):
        rows = daily[daily["market"] == market].sort_values("post_date")
        dates = pd.to_datetime(rows["post_date"])
        spike = rows["spike"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        ax.bar(dates, rows["posts"], color=np.where(spike, "tab:red", "lightgrey"), width=1.0)
        ax.set_ylabel("posts", fontsize=SMALL)
        right = ax.twinx()
        right.plot(dates, rows["mean_sentiment"], color="tab:blue", linewidth=0.8)
        right.set_ylim(-1, 1)
        right.set_ylabel("sentiment", fontsize=SMALL)
        ax.set_title(f"{market}: {int(spike.sum())} spike days", fontsize=8)
        for a in (ax, right):
            a.tick_params(labelsize=SMALL - 1)
    fig.suptitle(f"{title}: posts per day (spikes red) and mean sentiment", fontsize=9)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
