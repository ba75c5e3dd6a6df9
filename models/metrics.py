"""Classifier metrics on a scored DataFrame (``label`` 0/1, ``probability`` in [0, 1]),
computed in Spark with small results only: nothing that grows with the rows comes back
to the driver. The rankings use one global sort (a test set, not a whole table).

ROC-AUC uses the rank-sum (Mann-Whitney) form, with ties counted half, so it equals the
probability that a random positive scores above a random negative. Lift in the top
decile is the churn rate among the 10 % highest scores over the overall rate.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def roc_auc(scored: DataFrame, label: str = "label", score: str = "probability") -> float:
    ranked = scored.select(
        F.col(label).cast("int").alias("y"),
        # Average rank of tied scores: ties count half.
        F.avg(F.row_number().over(Window.orderBy(score)).cast("double"))
        .over(Window.partitionBy(score))
        .alias("rank"),
    )
    row = ranked.agg(
        F.sum(F.when(F.col("y") == 1, F.col("rank"))).alias("rank_sum"),
        F.sum("y").alias("pos"),
        F.count("*").alias("n"),
    ).first()
    pos, neg = row["pos"] or 0, (row["n"] or 0) - (row["pos"] or 0)
    if pos == 0 or neg == 0:
        return float("nan")
    return (row["rank_sum"] - pos * (pos + 1) / 2.0) / (pos * neg)


def pr_auc(scored: DataFrame, label: str = "label", score: str = "probability") -> float:
    """Average precision: the mean over positives of the precision at their score
    (rows tied on a score share one threshold, so the result does not depend on order)."""
    order = Window.orderBy(F.col(score).desc()).rangeBetween(Window.unboundedPreceding, 0)
    running = scored.select(
        F.col(label).cast("int").alias("y"),
        F.sum(F.col(label).cast("int")).over(order).alias("tp"),
        F.count("*").over(order).alias("k"),
    )
    row = running.agg(F.avg(F.when(F.col("y") == 1, F.col("tp") / F.col("k"))).alias("ap")).first()
    return float("nan") if row["ap"] is None else float(row["ap"])


def brier(scored: DataFrame, label: str = "label", score: str = "probability") -> float:
    value = scored.agg(F.avg((F.col(score) - F.col(label)) ** 2)).first()[0]
    return float("nan") if value is None else float(value)


def top_decile_lift(scored: DataFrame, label: str = "label", score: str = "probability") -> float:
    decile = F.ntile(10).over(Window.orderBy(F.col(score).desc()))
    row = (
        scored.select(F.col(label).cast("double").alias("y"), decile.alias("d"))
        .agg(F.avg("y").alias("base"), F.avg(F.when(F.col("d") == 1, F.col("y"))).alias("top"))
        .first()
    )
    if not row["base"]:
        return float("nan")
    return float(row["top"] / row["base"])


def reliability(
    scored: DataFrame, bins: int = 10, label: str = "label", score: str = "probability"
) -> list[dict]:
    """Calibration curve: per equal-width probability bin, mean score and observed rate."""
    b = F.least(F.floor(F.col(score) * bins), F.lit(bins - 1)).cast("int")
    rows = (
        scored.groupBy(b.alias("bin"))
        .agg(
            F.count("*").alias("n"),
            F.avg(score).alias("mean_probability"),
            F.avg(F.col(label).cast("double")).alias("observed_rate"),
        )
        .orderBy("bin")
        .collect()
    )
    return [r.asDict() for r in rows]


def lift_curve(
    scored: DataFrame, points: int = 10, label: str = "label", score: str = "probability"
) -> list[dict]:
    """Cumulative lift: for the top 1..``points`` tenths of rows by score, the share of
    rows targeted, the churn rate among them over the overall rate, and how many rows
    and churners they hold. The last point is always lift 1."""
    tile = F.ntile(points).over(Window.orderBy(F.col(score).desc()))
    per_tile = (
        scored.select(F.col(label).cast("long").alias("y"), tile.alias("tile"))
        .groupBy("tile")
        .agg(F.count("*").alias("n"), F.sum("y").alias("churners"))
        .orderBy("tile")
        .collect()
    )
    total = sum(r["n"] for r in per_tile)
    churners = sum(r["churners"] for r in per_tile)
    out, n, hits = [], 0, 0
    for r in per_tile:
        n, hits = n + r["n"], hits + r["churners"]
        lift = (hits / n) / (churners / total) if churners else float("nan")
        out.append({"tile": r["tile"], "share": n / total, "lift": lift, "n": n, "churners": hits})
    return out


def classification_report(scored: DataFrame, **columns) -> dict[str, float]:
    return {
        "roc_auc": roc_auc(scored, **columns),
        "pr_auc": pr_auc(scored, **columns),
        "brier": brier(scored, **columns),
        "top_decile_lift": top_decile_lift(scored, **columns),
    }


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
