"""Daily volume and sentiment per market and entity, with a spike flag.

A day is a spike for its series (market, entity) when its volume is far above the
series' usual level: the median volume of its active days in the ``baseline_days``
before, in units of their spread (1.4826 x the median absolute deviation, at least the
Poisson sqrt(usual)). Medians of active days, not means of all days: a team posted about
on match days only is not spiking every match day, one big day does not raise the
level of the next weeks much, and busy weekends widen the spread instead of spiking.
Each series is one pandas frame (``applyInPandas``); the flagging is plain pandas
(``flag_spikes``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# The whole market's row of a day: every post, whatever it mentions.
ALL = "*"
SERIES = ["market", "entity_type", "entity"]


def flag_spikes(
    pdf: pd.DataFrame, baseline_days: int, min_history: int, min_posts: int, min_score: float
) -> pd.DataFrame:
    """Adds ``usual_posts``, ``spike_score`` and ``spike`` to one series' days
    (``post_date``, ``posts``). Without ``min_history`` active days in the window before,
    all three are null: there is no usual level to be above."""
    out = pdf.sort_values("post_date").reset_index(drop=True)
    dates = pd.to_datetime(out["post_date"]).to_numpy()
    posts = out["posts"].to_numpy(dtype=float)
    window = np.timedelta64(baseline_days, "D")
    usual = np.full(len(out), np.nan)
    spread = np.full(len(out), np.nan)
    first = 0
    for i, day in enumerate(dates):
        while dates[first] < day - window:
            first += 1
        before = posts[first:i]
        if len(before) >= min_history:
            usual[i] = np.median(before)
            mad = 1.4826 * np.median(np.abs(before - usual[i]))
            spread[i] = max(mad, np.sqrt(usual[i]))
    with np.errstate(invalid="ignore"):
        score = (posts - usual) / spread
    out["usual_posts"] = usual
    out["spike_score"] = score
    spike = pd.array((posts >= min_posts) & (score >= min_score), dtype="boolean")
    spike[np.isnan(usual)] = pd.NA
    out["spike"] = spike
    return out


def daily(scored):
    """Per market, day and mentioned entity (and ``*``: every post of the market): volume,
    mean sentiment score of the scored posts, negative and positive shares."""
    from pyspark.sql import functions as F

    mentions = scored.select(
        "market",
        "post_date",
        "sentiment",
        "sentiment_score",
        F.explode(
            F.array_union(
                F.array(F.struct(F.lit(ALL).alias("type"), F.lit(ALL).alias("name"))),
                F.coalesce("entities", F.array().cast("array<struct<type:string,name:string>>")),
            )
        ).alias("e"),
    )
    return mentions.groupBy(
        "market", "post_date", F.col("e.type").alias("entity_type"), F.col("e.name").alias("entity")
    ).agg(
        F.count("*").alias("posts"),
        F.count("sentiment").alias("scored_posts"),
        F.avg("sentiment_score").alias("mean_sentiment"),
        (F.sum((F.col("sentiment") == "negative").cast("int")) / F.count("sentiment")).alias(
            "negative_share"
        ),
        (F.sum((F.col("sentiment") == "positive").cast("int")) / F.count("sentiment")).alias(
            "positive_share"
        ),
    )


def with_spikes(days, settings):
    """``daily`` rows with the spike columns, one pandas frame per series."""
    from pyspark.sql.types import BooleanType, DoubleType, StructField, StructType

    schema = StructType(
        [
            *days.schema.fields,
            StructField("usual_posts", DoubleType()),
            StructField("spike_score", DoubleType()),
            StructField("spike", BooleanType()),
        ]
    )
    args = (
        settings.baseline_days,
        settings.min_history_days,
        settings.spike_min_posts,
        settings.spike_score,
    )

    def one_series(pdf: pd.DataFrame) -> pd.DataFrame:
        return flag_spikes(pdf, *args)

    return days.groupBy(*SERIES).applyInPandas(one_series, schema)
