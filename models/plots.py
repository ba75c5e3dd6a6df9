"""Figures logged with each model run. Matplotlib's object API only (no pyplot), so
models trained in parallel threads do not share global figure state."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402


def reliability(bins: list[dict], title: str) -> Figure:
    """Mean predicted probability against the observed churn rate, per bin; the
    diagonal is perfect calibration. Marker area shows how many rows a bin holds."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    if bins:
        top = max(b["n"] for b in bins)
        ax.scatter(
            [b["mean_probability"] for b in bins],
            [b["observed_rate"] for b in bins],
            s=[20 + 200 * b["n"] / top for b in bins],
        )
        ax.plot([b["mean_probability"] for b in bins], [b["observed_rate"] for b in bins])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title(title, fontsize=9)
    return fig


def importances(values: dict[str, float], title: str, top: int = 15) -> Figure:
    """The largest coefficients or importances by absolute value."""
    items = sorted(values.items(), key=lambda kv: -abs(kv[1]))[:top][::-1]
    fig = Figure(figsize=(6, 0.3 * len(items) + 1.2))
    ax = fig.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def segment_sizes(profiles: list[dict], title: str) -> Figure:
    fig = Figure(figsize=(6, 0.4 * len(profiles) + 1.2))
    ax = fig.add_subplot()
    ax.barh(
        [f"{p['segment_id']}: {p['segment_name']}" for p in profiles][::-1],
        [p["share"] for p in profiles][::-1],
    )
    ax.set_xlabel("share of subscribers")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def survival_curves(curves: list[dict], title: str, max_groups: int = 8) -> Figure:
    """Kaplan-Meier curves: the overall one with its interval, and the curves of the
    first group column (e.g. plan) beside it."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    overall = next(c for c in curves if c["group_column"] == "all")
    days = range(len(overall["survival"]))
    ax.step(days, overall["survival"], where="post", color="black", label="all")
    ax.fill_between(days, overall["lower"], overall["upper"], step="post", alpha=0.15, color="grey")
    first = next((c["group_column"] for c in curves if c["group_column"] != "all"), None)
    for c in [c for c in curves if c["group_column"] == first][:max_groups]:
        ax.step(
            range(len(c["survival"])),
            c["survival"],
            where="post",
            label=f"{first}={c['group_value']}",
        )
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("tenure (days)")
    ax.set_ylabel("share still subscribed")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig
