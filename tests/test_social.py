"""Social listening: entity matching and text stages on hand-written posts, and the job
on generated posts against the planted sentiment and mentions, with the pipelines
reloaded from MLflow, an analyst's own labelled table, and a rerun."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import copy_lake
from pyspark.sql import functions as F

from fanbase.jobs import social as social_job
from fanbase.jobs._runner import build_parser, run_job
from fanbase.lakehouse import Lakehouse
from fanbase.models import social_entities as ents
from fanbase.models.social_daily import flag_spikes

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[1]


def test_entities_are_matched_in_every_script_and_spelling(spark, tmp_path):
    names = ents.entity_names(
        [
            ("football", "Getafe CF"),
            ("football", "Club Atlético de Madrid"),
            ("football", "1. FC Köln"),
            ("football", "Dundee FC"),
            ("football", "Inter"),
            ("tennis", "Jannik Sinner"),
        ],
        ["Deutsche 2. Bundesliga", "Deutsche Bundesliga"],
        ["football"],
        ["fanbase", "the fanbase app"],
    )
    posts = spark.createDataFrame(
        [
            ("ja", "Getafe CF相手にClub Atlético de Madrid情けない、最悪の試合"),
            ("de", "1. FC Köln verliert in der Deutsche 2. Bundesliga. Enttäuschend"),
            (
                "en",
                "Anyone know if Owen is fit for Dundee FC's next game? Watching on the fanbase app",
            ),
            ("en", "jannik sinner!! what a match. Interior design is not Inter"),
            ("en", "Nothing to see here"),
        ],
        "language string, text string",
    )
    model = ents.matcher(spark, names, tmp_path)
    got = [
        [(e.type, e.name) for e in r.entities]
        for r in ents.with_entities(model, posts, names).collect()
    ]
    assert got == [
        [("team", "Getafe CF"), ("team", "Club Atlético de Madrid")],
        # The longest competition wins; the shorter one inside it is not also found.
        [("team", "1. FC Köln"), ("competition", "Deutsche 2. Bundesliga")],
        [("team", "Dundee FC"), ("service", "fanbase")],
        [("team", "Inter"), ("player", "Jannik Sinner")],
        [],
    ]


def test_text_stages_keep_negations_and_pair_japanese_characters(spark):
    from pyspark.ml import Pipeline

    from fanbase.models.social_text import TERMS, text_stages

    en = spark.createDataFrame([("Not a bad day at all for Dundee FC fans",)], "text string")
    terms = Pipeline(stages=text_stages("en", 2)).fit(en).transform(en).first()[TERMS]
    assert terms[:5] == ["not", "bad", "day", "dundee", "fc"]  # "a", "at", "all", "for": stop
    assert "not bad" in terms and "bad day" in terms
    ja = spark.createDataFrame([("最悪の試合",)], "text string")
    stages = text_stages("ja", 2, cumulative=False)
    # "の" is a stop word: the characters left are paired across it.
    assert Pipeline(stages=stages).fit(ja).transform(ja).first()[TERMS] == [
        "最 悪",
        "悪 試",
        "試 合",
    ]


def _reviews(path: Path) -> Path:
    """An analyst's labelled table: 80 reviews in each of English and German."""
    rng = random.Random(5)
    words = {
        ("en", "happy"): ["love", "great", "smooth", "brilliant"],
        ("en", "unhappy"): ["hate", "awful", "laggy", "broken"],
        ("de", "happy"): ["liebe", "super", "flüssig", "toll"],
        ("de", "unhappy"): ["hasse", "furchtbar", "ruckelt", "kaputt"],
    }
    things = ["app", "stream", "picture", "player", "menu", "sound"]
    lines = ["review,mood,lang"]
    for (lang, mood), said in words.items():
        for _ in range(40):
            lines.append(
                f"{rng.choice(said)} the {rng.choice(things)} {rng.choice(said)},{mood},{lang}"
            )
    path.write_text("\n".join(lines) + "\n")
    return path


def _catalog(folder: Path, reviews: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog.yml").write_text("files: [social.yml, reviews.yml]\n")
    (folder / "social.yml").write_text((REPO / "conf/models/social.yml").read_text())
    (folder / "reviews.yml").write_text(
        f"""
models:
  - name: reviews
    kind: sentiment
    source: {{path: {reviews}, format: csv, text_column: review, label_column: mood,
              language_column: lang}}
    social: {{languages: [en, de], ngrams: 1, min_df: 1}}
    algorithm: {{name: naive_bayes}}
    gates: {{accuracy: {{min: 0.9}}}}
    output: gold.review_sentiment
"""
    )
    return folder


@pytest.fixture(scope="module")
def social(spark, settings, model_store, tmp_path_factory):
    root = copy_lake(model_store, tmp_path_factory.mktemp("lake-social"))
    mlflow_home = tmp_path_factory.mktemp("mlflow-social")
    reviews = _reviews(tmp_path_factory.mktemp("reviews") / "reviews.csv")
    catalog = _catalog(tmp_path_factory.mktemp("catalog-social") / "models", reviews)
    lake = Lakehouse(spark, settings.lakehouse.model_copy(update={"root": str(root)}))
    # One post in a language no entry has a model for: kept, unscored, with the reason.
    french = lake.read("silver.social_posts").limit(1)
    lake.append(
        "silver.social_posts",
        french.withColumn("post_id", F.lit("p-fr-1")).withColumn("language", F.lit("fr")),
    )
    sets = [
        f"lakehouse.root={root}",
        f"mlflow.tracking_uri=sqlite:///{mlflow_home}/mlflow.db",
        f"mlflow.artifact_root={mlflow_home}/artifacts",
        f"models.catalog_dir={catalog}",
    ]

    def run(*argv):
        extra = [x for s in sets for x in ("--set", s)]
        return run_job(
            social_job, build_parser(social_job).parse_args([*argv, *extra]), spark=spark
        )

    summary = run()
    return {"lake": lake, "summary": summary, "run": run, "mlflow": mlflow_home, "sets": sets}


def _runs(lake, entry):
    import json

    rows = lake.read("ops.model_runs").where(F.col("entry") == entry).collect()
    return {r.partition: {**r.asDict(), "metrics": json.loads(r.metrics or "{}")} for r in rows}


def test_sentiment_is_registered_per_language_and_meets_the_targets(social):
    runs = _runs(social["lake"], "social_sentiment")
    # The test markets (DE, GB, US) write German and English.
    assert set(runs) == {"language=de", "language=en"}
    for partition, run in runs.items():
        m = run["metrics"]
        assert m["accuracy"] >= 0.85 and m["macro_f1"] >= 0.85, (partition, m)
        assert m["rows_test"] >= 50, (partition, m)
        assert run["alias"] == "champion" and run["gates_passed"]
        assert run["registered_model"] == f"fanbase_social_sentiment_{partition[-2:]}"
    assert social["summary"]["languages"] == {
        "social_sentiment": ["de", "en"],
        "social_topics": ["de", "en"],
        "reviews": ["de", "en"],
    }


def test_scored_posts_recover_the_planted_sentiment_and_mentions(
    spark, social, model_raw, settings
):
    from fanbase.demo.checks import social_vs_truth

    lake = social["lake"]
    scored = lake.read("gold.social_posts_scored")
    assert scored.count() == lake.read("silver.social_posts").count()
    s = settings.social
    names = ents.calendar_names(lake.read("silver.fixtures"), s.team_sports, s.service_names)
    got = social_vs_truth(spark, model_raw, scored, names)
    for language in ("de", "en"):
        s = got["sentiment"][language]
        assert s["accuracy"] >= 0.85 and s["macro_f1"] >= 0.85, (language, s)
    e = got["entities"]
    assert e["precision"] >= 0.95 and e["recall_findable"] >= 0.95, e
    # Squad players are in no reference data: all mentions are not findable.
    assert e["findable"] < e["planted"]
    french = scored.where("post_id = 'p-fr-1'").first()
    assert french.sentiment is None and french.topic is None
    assert "language fr is not in social.languages of social_sentiment" in french.unscored_reason
    assert scored.where("language != 'fr' AND unscored_reason IS NOT NULL").count() == 0


def test_the_reloaded_champion_scores_as_the_table_says(spark, social):
    import mlflow

    from fanbase.models.registry import Registry
    from fanbase.models.social_output import sentiment_columns

    mlflow.set_tracking_uri(f"sqlite:///{social['mlflow']}/mlflow.db")
    model, version = Registry("0", "fanbase").load_champion("fanbase_social_sentiment_en")
    lake = social["lake"]
    table = lake.read("gold.social_posts_scored").where("language = 'en'").limit(40)
    posts = table.select("post_id", "text")
    again = sentiment_columns(model, posts, list(model.stages[-1].getLabels()))
    expected = {r.post_id: (r.sentiment, round(r.p_positive, 9)) for r in table.collect()}
    got = {r.post_id: (r.sentiment, round(r.p_positive, 9)) for r in again.collect()}
    assert got == expected
    assert {r.sentiment_version for r in table.collect()} == {int(version.version)}


def test_daily_rows_add_up_and_flag_spikes_as_the_pandas_oracle(social, settings):
    lake = social["lake"]
    scored = lake.read("gold.social_posts_scored")
    daily = lake.read("gold.social_daily")
    totals = {r.market: r["count"] for r in scored.groupBy("market").count().collect()}
    whole = daily.where("entity_type = '*'").groupBy("market").agg(F.sum("posts").alias("n"))
    assert {r.market: r.n for r in whole.collect()} == totals
    mentions = (
        scored.select("market", F.explode("entities").alias("e"))
        .groupBy("market", "e.type", "e.name")
        .count()
    )
    by_entity = (
        daily.where("entity_type != '*'")
        .groupBy("market", "entity_type", "entity")
        .agg(F.sum("posts").alias("n"))
    )
    assert {(r.market, r.type, r.name): r["count"] for r in mentions.collect()} == {
        (r.market, r.entity_type, r.entity): r.n for r in by_entity.collect()
    }
    # The busiest series against flag_spikes on its collected days.
    series = daily.where("market = 'DE' AND entity_type = '*'").toPandas()
    s = settings.social
    oracle = flag_spikes(
        series[["post_date", "posts"]],
        s.baseline_days,
        s.min_history_days,
        s.spike_min_posts,
        s.spike_score,
    )
    got = series.sort_values("post_date").reset_index(drop=True)
    assert got["spike"].astype("boolean").equals(oracle["spike"])
    assert daily.where("spike").count() == social["summary"]["spikes"]


def test_topics_list_top_terms_and_count_every_post(social):
    lake = social["lake"]
    topics = lake.read("gold.social_topics").where("model = 'social_topics'")
    for language in ("de", "en"):
        rows = topics.where(F.col("language") == language)
        assert rows.select("topic").distinct().count() == 6
        assert rows.where("term_rank = 1").count() == 6
        assert rows.groupBy("topic").count().agg(F.min("count")).first()[0] == 10
        per_topic = rows.select("topic", "posts").distinct().agg(F.sum("posts")).first()[0]
        posts = lake.read("silver.social_posts").where(F.col("language") == language).count()
        assert per_topic == posts


def test_an_analysts_labelled_table_is_trained_and_scored(social):
    lake = social["lake"]
    runs = _runs(lake, "reviews")
    assert set(runs) == {"language=de", "language=en"}
    assert all(r["metrics"]["accuracy"] >= 0.9 for r in runs.values()), runs
    out = lake.read("gold.review_sentiment")
    assert out.count() == 160  # every row of the CSV, duplicates too
    held = out.where("held_out").count()
    assert 10 <= held <= 60
    assert out.where("predicted = label").count() >= 0.9 * 160
    assert {r.registered_model for r in out.collect()} == {
        "fanbase_reviews_de",
        "fanbase_reviews_en",
    }


def test_a_rerun_replaces_the_rows(social):
    lake = social["lake"]
    before = lake.read("gold.social_posts_scored").count()
    topics_before = lake.read("gold.social_topics").count()
    # The topics entry reads the posts: they are scored again, by the new champions.
    summary = social["run"]("--model", "social_topics", "--model", "reviews")
    assert summary["languages"] == {"social_topics": ["de", "en"], "reviews": ["de", "en"]}
    scored = lake.read("gold.social_posts_scored")
    assert scored.count() == before
    rows = scored.where("language != 'fr'").select("run_id", "topics_version").distinct()
    assert {tuple(r) for r in rows.collect()} == {(summary["run_id"], 2)}
    assert lake.read("gold.social_topics").count() == topics_before
    assert lake.read("gold.review_sentiment").count() == 160
    versions = {
        r.registered_model: r.model_version for r in lake.read("gold.review_sentiment").collect()
    }
    assert versions == {"fanbase_reviews_de": 2, "fanbase_reviews_en": 2}


def test_monitor_measures_sentiment_on_labels_that_arrive_after_training(spark, social):
    """New hand labels arrive: English ones agree with the champion's predictions, every
    German one disagrees (as if German fans' language had moved on). Monitoring measures
    each champion on exactly those labels and flags German only."""
    from fanbase.jobs import monitor
    from fanbase.models.monitor import EVALUATIONS

    lake = social["lake"]
    labels = lake.read("silver.sentiment_labels")
    fresh = (
        lake.read("gold.social_posts_scored")
        .where("language IN ('de', 'en') AND sentiment IS NOT NULL")
        .join(labels.select("post_id"), "post_id", "left_anti")
    )
    rotate = {"positive": "negative", "negative": "neutral", "neutral": "positive"}
    wrong = F.create_map(*[F.lit(x) for pair in rotate.items() for x in pair])
    new = fresh.select(
        "post_id",
        "language",
        F.when(F.col("language") == "de", wrong[F.col("sentiment")])
        .otherwise(F.col("sentiment"))
        .alias("sentiment"),
        F.lit(None).cast("date").alias("landing_date"),
        F.lit("labels/late.jsonl").alias("source_file"),
        F.monotonically_increasing_id().alias("line_number"),
    ).cache()
    arrived = {r.language: r["count"] for r in new.groupBy("language").count().collect()}
    lake.append("silver.sentiment_labels", new.select(*labels.columns))
    argv = [x for s in social["sets"] for x in ("--set", s)]
    summary = run_job(monitor, build_parser(monitor).parse_args(argv), spark=spark)
    rows = lake.read(EVALUATIONS).where(F.col("evaluation_run_id") == summary["run_id"])
    got = {r.partition: r for r in rows.collect() if r.entry == "social_sentiment"}
    assert set(got) == {"language=de", "language=en"}
    for language, accuracy in (("en", 1.0), ("de", 0.0)):
        r = got[f"language={language}"]
        metrics = json.loads(r.metrics)
        assert r.labelled_rows == metrics["rows"] == arrived[language] > 200
        assert metrics["accuracy"] == accuracy, (language, metrics)
    assert not got["language=en"].flagged
    de = got["language=de"]
    assert de.flagged and de.action == "retrain" and de.decay >= 0.85
    assert de.reasons.startswith("accuracy fell")
