"""The gold tables of social listening, and how a reloaded pipeline scores posts.

``gold.social_posts_scored``: one row per post: sentiment (with class probabilities and
a score, P(positive) - P(negative)), the entities mentioned, the dominant topic, and
which registered pipeline version did it; a post in a language without a model keeps
its row, unscored, with the reason. ``gold.social_daily``: per market, day and entity
(``*``: the whole market), volume, sentiment and a spike flag (``social_daily.py``).
``gold.social_topics``: each language's topics with their top terms and weights.
A sentiment entry reading an analyst's own table writes its scored rows to its
``output`` (``SOURCE_SCHEMA``). Every table carries its lineage.
"""

from __future__ import annotations

from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from fanbase.models.social_text import SENTIMENTS
from fanbase.models.survival_fit import _f, conform  # noqa: F401  (conform: for the job)

POSTS_SCORED = "gold.social_posts_scored"
DAILY = "gold.social_daily"
TOPICS = "gold.social_topics"

LINEAGE = [
    _f("input_tables", StringType(), False, "silver tables and Delta versions read (JSON)"),
    _f("run_id", StringType(), False, "the social job run that wrote the row"),
]
ENTITY = StructType([StructField("type", StringType()), StructField("name", StringType())])
POSTS_SCHEMA = StructType(
    [
        _f("post_id", StringType(), False),
        _f("ts", TimestampType(), False, "post time (UTC)"),
        _f("post_date", DateType(), False, "date of ts (UTC)"),
        _f("market", StringType(), False),
        _f("language", StringType(), False, "ISO 639-1"),
        _f("platform", StringType(), False),
        _f("text", StringType(), False, "the post's text"),
        _f("sentiment", StringType(), True, "negative, neutral or positive; null: unscored"),
        _f("sentiment_score", DoubleType(), True, "P(positive) - P(negative), -1..1"),
        _f("p_negative", DoubleType(), True),
        _f("p_neutral", DoubleType(), True),
        _f("p_positive", DoubleType(), True),
        _f("entities", ArrayType(ENTITY), False, "teams, players, competitions, service"),
        _f("topic", IntegerType(), True, "dominant topic of the language's topic model"),
        _f("topic_weight", DoubleType(), True, "its weight in the post, 0..1"),
        _f("unscored_reason", StringType(), True, "why sentiment or topic is null"),
        _f("sentiment_model", StringType(), True, "catalog entry that scored sentiment"),
        _f("sentiment_registered", StringType(), True, "MLflow registered pipeline"),
        _f("sentiment_version", LongType(), True, "its version"),
        _f("topics_model", StringType(), True, "catalog entry that assigned topics"),
        _f("topics_version", LongType(), True, "registered version of the topic pipeline"),
        *LINEAGE,
    ]
)
DAILY_SCHEMA = StructType(
    [
        _f("market", StringType(), False),
        _f("post_date", DateType(), False),
        _f("entity_type", StringType(), False, "team, player, competition, service or *"),
        _f("entity", StringType(), False, "canonical name; * with entity_type *: all posts"),
        _f("posts", LongType(), False, "posts that day"),
        _f("scored_posts", LongType(), False, "of which scored for sentiment"),
        _f("mean_sentiment", DoubleType(), True, "mean sentiment_score of the scored posts"),
        _f("negative_share", DoubleType(), True, "share of scored posts negative"),
        _f("positive_share", DoubleType(), True, "share of scored posts positive"),
        _f("usual_posts", DoubleType(), True, "median of the active days before; null: no history"),
        _f("spike_score", DoubleType(), True, "(posts - usual) / spread of the days before"),
        _f("spike", BooleanType(), True, "volume far above the usual level; null: no history"),
        *LINEAGE,
    ]
)
TOPICS_SCHEMA = StructType(
    [
        _f("model", StringType(), False, "catalog entry"),
        _f("language", StringType(), False),
        _f("topic", IntegerType(), False),
        _f("term_rank", IntegerType(), False, "1 = the topic's heaviest term"),
        _f("term", StringType(), False),
        _f("weight", DoubleType(), False, "the term's weight in the topic"),
        _f("posts", LongType(), False, "posts whose dominant topic this is"),
        _f("registered_model", StringType(), False, "MLflow registered pipeline"),
        _f("model_version", LongType(), False),
        _f("mlflow_run_id", StringType(), False),
        *LINEAGE,
    ]
)
SOURCE_SCHEMA = StructType(
    [
        _f("model", StringType(), False, "catalog entry"),
        _f("language", StringType(), False),
        _f("text", StringType(), True),
        _f("label", StringType(), True, "the analyst's label"),
        _f("predicted", StringType(), True, "the entry's predicted label"),
        _f("held_out", BooleanType(), False, "in the test split the metrics come from"),
        _f("registered_model", StringType(), False),
        _f("model_version", LongType(), False),
        *LINEAGE,
    ]
)


def sentiment_columns(model, posts, labels: list[str]):
    """``posts`` (with ``text``) scored by a reloaded sentiment pipeline: ``sentiment``,
    the probability of each of ``labels`` and the score."""
    from pyspark.ml.functions import vector_to_array

    scored = model.transform(posts)
    probability = vector_to_array("_probability")
    probs = {label: probability[i] for i, label in enumerate(labels)}
    zero = F.lit(0.0)
    out = scored.select(
        *posts.columns,
        F.col("predicted").alias("sentiment"),
        *[probs.get(s, F.lit(None)).cast("double").alias(f"p_{s}") for s in SENTIMENTS],
    )
    return out.withColumn(
        "sentiment_score",
        F.coalesce(F.col("p_positive"), zero) - F.coalesce(F.col("p_negative"), zero),
    )


def topic_columns(model, posts):
    """``posts`` with the dominant ``topic`` of a reloaded topic pipeline and its weight."""
    from pyspark.ml.functions import vector_to_array

    scored = model.transform(posts).withColumn("_weights", vector_to_array("_topics"))
    return scored.select(
        *posts.columns,
        (F.expr("array_position(_weights, array_max(_weights))") - 1).cast("int").alias("topic"),
        F.array_max("_weights").alias("topic_weight"),
    )


def topic_rows(terms: list[dict], counts: dict[int, int]) -> list[tuple]:
    """(topic, term_rank, term, weight, posts) rows of one language's topics."""
    return [
        (t["topic"], rank, term, weight, counts.get(t["topic"], 0))
        for t in terms
        for rank, (term, weight) in enumerate(zip(t["terms"], t["weights"], strict=True), 1)
    ]
