"""Models against the truths the generator planted (``<raw>/_truth/``).

- Churn: on the truth's as-of dates inside a model's test period, the model's ROC-AUC
  next to the ROC-AUC of the TRUE churn probabilities, on the same rows and the same
  labels. The truth is the best any model can do, up to noise; the gap says how much
  of it a model recovers.
- Segments: the adjusted Rand index between the segments a model assigns and the
  latent segments users were drawn from.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fanbase.models import metrics


def truth_dir(raw_root: str | Path) -> Path:
    return Path(raw_root) / "_truth"


def churn_truth(spark, raw_root: str | Path) -> DataFrame:
    return spark.read.json(str(truth_dir(raw_root) / "churn_probability.jsonl.gz")).select(
        "user_id", F.to_date("as_of_date").alias("as_of_date"), "p_churn"
    )


def latent_segments(spark, raw_root: str | Path) -> DataFrame:
    return spark.read.json(str(truth_dir(raw_root) / "users.jsonl.gz")).select(
        "user_id", F.col("segment").alias("true_segment")
    )


def churn_auc_vs_truth(
    spark,
    raw_root,
    builder,
    entry,
    model,
    first: dt.date,
    last: dt.date | None = None,
    where=None,
) -> dict:
    """ROC-AUC of ``model`` (a fitted churn pipeline) and of the true probabilities on
    the truth's as-of dates in ``[first, last]``, on the rows both have (``where``: a
    filter on them, e.g. one market for a per-market model)."""
    truth = churn_truth(spark, raw_root)
    dates = sorted(r[0] for r in truth.select("as_of_date").distinct().collect())
    dates = [d for d in dates if d >= first and (last is None or d <= last)]
    if not dates:
        raise ValueError(f"no truth as-of date from {first} to {last}")
    frame = builder.churn_frame(entry, dates)
    rows = frame.df if where is None else frame.df.where(where)
    scored = model.transform(rows).select("user_id", "as_of_date", "label", "churn_probability")
    both = scored.join(truth, ["user_id", "as_of_date"]).cache()
    out = {
        "dates": [str(d) for d in dates],
        "rows": both.count(),
        "churners": both.agg(F.sum("label")).first()[0],
        "model_roc_auc": metrics.roc_auc(both, score="churn_probability"),
        "truth_roc_auc": metrics.roc_auc(both, score="p_churn"),
    }
    both.unpersist()
    out["gap"] = out["truth_roc_auc"] - out["model_roc_auc"]
    return out


def segments_ari(spark, raw_root, assigned: DataFrame, column: str = "segment_id") -> dict:
    """Adjusted Rand index of ``assigned`` (user_id, ``column``) against the latent
    segments."""
    both = assigned.select("user_id", column).join(latent_segments(spark, raw_root), "user_id")
    return {
        "rows": both.count(),
        "ari": metrics.adjusted_rand_index(both, column, "true_segment"),
    }
