"""Models against the truths the generator planted (``<raw>/_truth/``).

- Churn: on the truth's as-of dates inside a model's test period, the model's ROC-AUC
  next to the ROC-AUC of the TRUE churn probabilities, on the same rows and the same
  labels. The truth is the best any model can do, up to noise; the gap says how much
  of it a model recovers.
- Segments: the adjusted Rand index between the segments a model assigns and the
  latent segments users were drawn from.
- Survival: the Cox hazard ratios of the churn drivers against the multipliers the
  generator plants (``demo/churn.py``), fitted once on the store's features and once
  with the favourite competition's season taken from the user's latent favourite.
- Attribution: per market, precision at 20 and rank correlation of the attributed
  signups against the extra signups planted per fixture.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fanbase.demo import churn
from fanbase.models import metrics

# Feature -> the multiplier of the daily churn hazard the generator plants for it. The
# store measures "in season"; the generator plants "off season", so its inverse.
PLANTED_HAZARD_RATIOS = {
    "high_buffering_14d": math.exp(churn.BETA["high_buffering"]),
    "live_share_28d": math.exp(churn.BETA["live_share_28d"]),
    "failed_payments_30d": math.exp(churn.BETA["failed_payment_last_30d"]),
    "favourite_competition_in_season": math.exp(-churn.BETA["favourite_competition_off_season"]),
}
IN_SEASON = "favourite_competition_in_season"


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


def latent_in_season(spark, raw_root, fixtures: DataFrame, rows: DataFrame, radius_days: int = 7):
    """``rows`` (user_id, as_of_date, ...) with ``IN_SEASON`` recomputed as the
    generator defines it: the user's LATENT favourite competition has a fixture within
    ``radius_days`` of the date (UTC kickoff dates, as the generator counts days). A
    competition with no fixture at all never counts as off season there, nor here."""
    favourite = spark.read.json(str(truth_dir(raw_root) / "users.jsonl.gz")).select(
        "user_id", F.col("favourite_competition").alias("_competition")
    )
    offsets = F.sequence(F.lit(-radius_days), F.lit(radius_days))
    season_days = (
        fixtures.select("competition", F.to_date("kickoff").alias("d"))
        .distinct()
        .select(
            F.col("competition").alias("_competition"),
            F.explode(F.transform(offsets, lambda k: F.date_add("d", k))).alias("as_of_date"),
        )
        .distinct()
        .withColumn("_in", F.lit(True))
    )
    scheduled = (
        fixtures.select(F.col("competition").alias("_competition"))
        .distinct()
        .withColumn("_scheduled", F.lit(True))
    )
    return (
        rows.drop(IN_SEASON)
        .join(favourite, "user_id", "left")
        .join(scheduled, "_competition", "left")
        .join(season_days, ["_competition", "as_of_date"], "left")
        .withColumn(IN_SEASON, F.coalesce("_in", F.lit(False)) | F.col("_scheduled").isNull())
        .drop("_competition", "_in", "_scheduled")
    )


def survival_vs_truth(spark, raw_root, builder, entry, extend_days: int = 30) -> dict:
    """Fit a survival entry's Cox model on its rows twice, with the store's features and
    with the latent favourite's season, and compare each planted hazard ratio.
    Relative error = fitted / planted - 1."""
    from fanbase.models import survival_fit

    frames = builder.survival_frames(entry)
    spec = survival_fit.spec_for(entry, frames.fit, extend_days)
    out: dict = {"entry": entry.name, "planted": dict(PLANTED_HAZARD_RATIOS)}
    variants = {"store_features": frames.fit.df}
    if IN_SEASON in frames.fit.features:
        fixtures = builder.lake.read("silver.fixtures")
        variants["latent_favourite"] = latent_in_season(spark, raw_root, fixtures, frames.fit.df)
    for name, df in variants.items():
        frames.fit.df = df
        results = survival_fit.fit_partitions(frames.fit, spec)
        fitted = {}
        for part in results:
            key = "/".join(part.values) or "all"
            ratios = {h["term"]: h for h in part.result.get("hazard_ratios", [])}
            fitted[key] = {
                term: {
                    "hazard_ratio": ratios[term]["hazard_ratio"],
                    "ci": [ratios[term]["ci_lower"], ratios[term]["ci_upper"]],
                    "relative_error": ratios[term]["hazard_ratio"] / planted - 1,
                }
                for term, planted in PLANTED_HAZARD_RATIOS.items()
                if term in ratios
            }
            fitted[key]["events"] = part.result["events"]
        out[name] = fitted
    return out


def attribution_vs_truth(
    spark, raw_root, attribution: DataFrame, model: str, method: str = "lift", k: int = 20
) -> dict:
    """Per market: precision at ``k`` and Spearman rank correlation of one method's
    attributed signups against the planted lifts (``_truth/fixture_lift.jsonl``).

    The truth is the extra signups the generator planted per (fixture, market), the
    realised Poisson draws: the expected lifts are also reported, but Poisson noise
    alone keeps a perfect estimator away from them when lifts are a few signups.
    A hit at k is an estimated top-k fixture whose planted lift is at least the k-th
    largest planted (ties count); k shrinks to the pairs that planted anything. The
    rank correlation is over the pairs that planted at least one signup, with fixtures
    the method gave no row counting as 0.
    """
    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    truth = pd.read_json(truth_dir(raw_root) / "fixture_lift.jsonl", lines=True)
    est = (
        attribution.where((F.col("model") == model) & (F.col("method") == method))
        .select("market", "fixture_id", "attributed_signups", "lift_lower", "lift_upper")
        .toPandas()  # one row per (fixture, market): bounded by the calendar
    )
    merged = truth.merge(est, on=["market", "fixture_id"], how="left").fillna(
        {"attributed_signups": 0.0}
    )
    out = {}
    for market, rows in merged.groupby("market"):
        top = min(k, int((rows["realised_extra"] > 0).sum()))
        if top == 0:
            continue
        kth = np.sort(rows["realised_extra"].to_numpy())[-top]
        ranked = est[est["market"] == market].nlargest(top, "attributed_signups")
        planted = dict(zip(rows["fixture_id"], rows["realised_extra"]))
        hits = sum(planted.get(f, 0) >= kth and planted.get(f, 0) > 0 for f in ranked["fixture_id"])
        by_expected = set(rows.nlargest(top, "expected_lift")["fixture_id"])
        some = rows[rows["realised_extra"] > 0]
        out[market] = {
            "pairs": int(len(rows)),
            "planted_signups": int(rows["realised_extra"].sum()),
            "attributed_signups": float(rows["attributed_signups"].sum()),
            "precision_at_k": hits / top,
            "precision_at_k_expected": len(by_expected & set(ranked["fixture_id"])) / top,
            "rank_correlation": float(
                spearmanr(some["attributed_signups"], some["realised_extra"]).statistic
            )
            if len(some) > 2
            else math.nan,
            "rank_correlation_expected": float(
                spearmanr(rows["attributed_signups"], rows["expected_lift"]).statistic
            ),
            # Share of the planted pairs whose interval holds the planted extra signups.
            "interval_coverage": float(
                (
                    (rows["lift_lower"] <= rows["realised_extra"])
                    & (rows["realised_extra"] <= rows["lift_upper"])
                ).mean()
            )
            if rows["lift_lower"].notna().any()
            else math.nan,
        }
    return out


def social_vs_truth(spark, raw_root, scored: DataFrame, entity_names: dict[str, list[str]]) -> dict:
    """``gold.social_posts_scored`` against the planted truth of every post
    (``_truth/social_posts.jsonl.gz``): sentiment accuracy and macro F1 per language
    (over all posts, labelled or not), entity precision and recall of (post, type,
    name) mentions, and the recall of the mentions the calendar could name (squad
    players are in no reference data), and each topic's share of its main planted
    topic (match or service talk), per language.
    """
    from fanbase.models.social_text import confusion_from_counts

    truth = spark.read.json(str(truth_dir(raw_root) / "social_posts.jsonl.gz"))
    joined = scored.select("post_id", "language", "sentiment", "entities", "topic").join(
        truth.select(
            "post_id",
            F.col("sentiment").alias("true_sentiment"),
            F.col("entities").alias("true_entities"),
            F.col("topic").alias("true_topic"),
        ),
        "post_id",
    )
    out: dict = {"posts": joined.count(), "sentiment": {}, "topics": {}}
    pairs = joined.groupBy("language", "true_sentiment", "sentiment").count().collect()
    for language in sorted({r.language for r in pairs}):
        counts = {
            (r.true_sentiment, r.sentiment): r["count"] for r in pairs if r.language == language
        }
        labels = sorted({t for t, _ in counts})
        c = confusion_from_counts(counts, labels)
        out["sentiment"][language] = {
            "accuracy": c["accuracy"],
            "macro_f1": c["macro_f1"],
            "posts": c["rows"],
        }
    found = joined.select("post_id", F.explode("entities").alias("e")).select(
        "post_id", "e.type", "e.name"
    )
    planted = (
        joined.select("post_id", F.explode("true_entities").alias("e"))
        .select("post_id", "e.type", "e.name")
        .distinct()
    )
    known = spark.createDataFrame(
        [(kind, name) for kind, names in entity_names.items() for name in names],
        "type string, name string",
    )
    findable = planted.join(known, ["type", "name"], "left_semi")
    hits = found.join(planted, ["post_id", "type", "name"], "left_semi").count()
    found_n, planted_n, findable_n = found.count(), planted.count(), findable.count()
    findable_hits = found.join(findable, ["post_id", "type", "name"], "left_semi").count()
    out["entities"] = {
        "found": found_n,
        "planted": planted_n,
        "precision": hits / found_n if found_n else float("nan"),
        "recall": hits / planted_n if planted_n else float("nan"),
        "findable": findable_n,
        "recall_findable": findable_hits / findable_n if findable_n else float("nan"),
    }
    by_topic = (
        joined.where(F.col("topic").isNotNull()).groupBy("language", "topic", "true_topic").count()
    )
    for r in by_topic.collect():
        row = out["topics"].setdefault(r.language, {}).setdefault(str(r.topic), {})
        row[r.true_topic] = r["count"]
    return out
