"""Classifier metrics on a scored DataFrame (``label`` 0/1, ``probability`` in [0, 1]),
computed in Spark with small results only: nothing that grows with the rows comes back
to the driver.

The rows are first grouped by distinct score, highest first, with running totals (one
sort of a test set, not of a whole table); every metric is then a sum over that table,
so ``evaluate`` gives them all, the calibration and the lift curve in one Spark job
(a per-market model's evaluation was a dozen jobs, most of them sorts).

ROC-AUC uses the rank-sum (Mann-Whitney) form, with ties counted half, so it equals the
probability that a random positive scores above a random negative. Lift in the top
decile is the churn rate among the 10 % highest scores over the overall rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


@dataclass
class Evaluation:
    """A classifier's test metrics, calibration curve and cumulative lift curve."""

    report: dict[str, float]
    reliability: list[dict]
    lift: list[dict]


def _score_table(scored: DataFrame, label: str, score: str) -> DataFrame:
    """One row per distinct score, highest first: rows ``n`` and positives ``pos`` at
    that score, and the running totals ``cum_n``, ``cum_pos`` of the rows scoring at
    least as high. Every metric below is a sum over this table, so they all come from
    one Spark job; it has at most one row per test row, and never leaves Spark."""
    grouped = scored.groupBy(F.col(score).alias("s")).agg(
        F.count("*").alias("n"), F.sum(F.col(label).cast("long")).alias("pos")
    )
    down = Window.orderBy(F.desc("s")).rowsBetween(Window.unboundedPreceding, 0)
    return grouped.select(
        "s",
        "n",
        "pos",
        F.sum("n").over(down).alias("cum_n"),
        F.sum("pos").over(down).alias("cum_pos"),
        F.sum("n").over(Window.partitionBy()).alias("total"),
    )


def _rank_sums() -> list:
    """Aggregates for ROC-AUC in rank-sum (Mann-Whitney) form: a positive scored at
    ``s`` ranks, ascending, after the ``total - cum_n`` rows below ``s``, at the mean
    rank of its ties (ties count half)."""
    rank = F.col("total") - F.col("cum_n") + (F.col("n") + 1) / 2.0
    return [
        F.sum(F.col("pos") * rank).alias("rank_sum"),
        F.sum("pos").alias("P"),
        F.sum("n").alias("N"),
    ]


def _auc(row) -> float:
    pos, neg = row["P"] or 0, (row["N"] or 0) - (row["P"] or 0)
    if pos == 0 or neg == 0:
        return float("nan")
    return (row["rank_sum"] - pos * (pos + 1) / 2.0) / (pos * neg)


def roc_auc(scored: DataFrame, label: str = "label", score: str = "probability") -> float:
    """The probability that a random positive scores above a random negative (ties
    count half); NaN without both classes."""
    return _auc(_score_table(scored, label, score).agg(*_rank_sums()).first())


def _top_rows(points: int, t: int):
    """How many rows the first ``t`` of ``points`` tiles hold: ``ntile``'s sizes, the
    first ``total % points`` tiles one row larger."""
    base = F.floor(F.col("total") / points)
    return F.lit(t) * base + F.least(F.lit(t), F.col("total") % points)


def _positives_in_top(rows) -> F.Column:
    """Positives among the ``rows`` highest-scored rows. Rows tied at the cut share it:
    each tied row counts its share of the group's positives, so the result does not
    depend on the order Spark happens to give ties."""
    before = F.col("cum_n") - F.col("n")
    taken = F.greatest(F.lit(0.0), F.least(F.col("n").cast("double"), rows - before))
    return F.sum(F.col("pos") * taken / F.col("n"))


def _lift(hits, rows: int, rate: float | None) -> float:
    return (hits / rows) / rate if rate and rows else float("nan")


def evaluate(
    scored: DataFrame,
    bins: int = 10,
    points: int = 10,
    label: str = "label",
    score: str = "probability",
) -> Evaluation:
    """Everything the training and the monitor report of a churn model's scored rows,
    in one Spark job.

    - ``roc_auc``: rank-sum form, ties half.
    - ``pr_auc``: average precision, the mean over positives of the precision at their
      score (rows tied on a score share one threshold).
    - ``brier``: mean squared error of the probability.
    - ``top_decile_lift``: the churn rate among the 10 % highest scores over the
      overall rate (the first tenth as ``ntile(10)`` cuts it).
    - reliability: per equal-width probability bin (of ``bins``, only those with
      rows), rows, mean probability and observed rate.
    - lift: for the top 1..``points`` tiles by score (``ntile``'s sizes, fewer points
      when there are fewer rows), the share targeted, the churn rate among them over
      the overall rate, rows and churners; the last point is lift 1.
    """
    table = _score_table(scored, label, score)
    s, n, pos = F.col("s"), F.col("n"), F.col("pos")
    b = F.least(F.floor(s * bins), F.lit(bins - 1)).cast("int")
    aggs = [
        *_rank_sums(),
        F.sum(pos * F.col("cum_pos") / F.col("cum_n")).alias("ap_sum"),
        F.sum(pos * (s - 1) ** 2 + (n - pos) * s**2).alias("sq_sum"),
    ]
    for i in range(bins):
        here = b == i
        aggs += [
            F.sum(F.when(here, n)).alias(f"bin{i}_n"),
            F.sum(F.when(here, n * s)).alias(f"bin{i}_s"),
            F.sum(F.when(here, pos)).alias(f"bin{i}_pos"),
        ]
    aggs += [_positives_in_top(_top_rows(points, t)).alias(f"top{t}") for t in range(1, points + 1)]
    aggs.append(_positives_in_top(_top_rows(10, 1)).alias("top_decile"))
    row = table.agg(*aggs).first()

    total, positives = row["N"] or 0, row["P"] or 0
    rate = positives / total if total else None
    reliability = [
        {
            "bin": i,
            "n": row[f"bin{i}_n"],
            "mean_probability": row[f"bin{i}_s"] / row[f"bin{i}_n"],
            "observed_rate": row[f"bin{i}_pos"] / row[f"bin{i}_n"],
        }
        for i in range(bins)
        if row[f"bin{i}_n"]
    ]
    lift = []
    for t in range(1, min(points, total) + 1):
        rows = t * (total // points) + min(t, total % points)
        hits = float(row[f"top{t}"])
        lift.append(
            {
                "tile": t,
                "share": rows / total,
                "lift": _lift(hits, rows, rate),
                "n": rows,
                "churners": hits,
            }
        )
    report = {
        "roc_auc": _auc(row),
        "pr_auc": row["ap_sum"] / positives if positives else float("nan"),
        "brier": row["sq_sum"] / total if total else float("nan"),
        "top_decile_lift": _lift(row["top_decile"], total // 10 + min(1, total % 10), rate),
    }
    return Evaluation(report, reliability, lift)


def adjusted_rand_index(df: DataFrame, a: str, b: str) -> float:
    """Agreement of two labelings of the same rows, corrected for chance (1 = identical
    partitions, about 0 = independent). Only the contingency table (clusters x
    clusters) comes to the driver."""
    from math import comb

    cells = df.groupBy(a, b).count().collect()
    rows: dict = {}
    cols: dict = {}
    for c in cells:
        rows[c[a]] = rows.get(c[a], 0) + c["count"]
        cols[c[b]] = cols.get(c[b], 0) + c["count"]
    n = sum(rows.values())
    if n < 2:
        return float("nan")
    index = sum(comb(c["count"], 2) for c in cells)
    sum_rows = sum(comb(v, 2) for v in rows.values())
    sum_cols = sum(comb(v, 2) for v in cols.values())
    expected = sum_rows * sum_cols / comb(n, 2)
    maximum = (sum_rows + sum_cols) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)
