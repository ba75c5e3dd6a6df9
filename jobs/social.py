"""Social listening: sentiment, entities and topics of social posts, per market.

Every active ``kind: sentiment`` and ``kind: topics`` entry of the catalog trains one
Spark NLP pipeline per language (``models/social_text.py``), measured on a held-out
split, logged and registered in MLflow as ``<prefix>_<entry>_<language>`` with the
champion alias when its gates pass. A sentiment entry learns from the labelled posts
(``silver.sentiment_labels``), or from any table with text and labels an analyst names
in ``source``; it then scores that table into its ``output``.

The posts are scored by the champions, reloaded from the registry: sentiment from the
posts' sentiment entry, the dominant topic from the posts' topics entry (the ones
without ``source``; at most one of each), and the teams, players, competitions and the
service they mention, matched from the fixture calendar (``social_entities.py``). That
is ``gold.social_posts_scored``; ``gold.social_daily`` sums it per market, day and
entity with a spike flag, and ``gold.social_topics`` lists every topic's top terms.

Silver is read at the versions current when the job starts; the tables are rewritten
whole (an entry's rows of the shared tables), so a rerun replaces what a crash left.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from fanbase.jobs._runner import JobContext, main_for

NAME = "social"
HELP = "social listening: sentiment, entities and topics of posts, per market and day"
SILVER = ("social_posts", "sentiment_labels", "fixtures")
KINDS = ("sentiment", "topics")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", action="append", default=[], metavar="NAME", help="only this entry"
    )


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    import sparknlp  # noqa: F401  (registers Spark NLP's classes for reloading pipelines)

    from fanbase.jobs.train import load_entries, selected
    from fanbase.models import social_output as out
    from fanbase.models.catalog import CatalogError
    from fanbase.models.registry import Registry

    every = [e for e in load_entries(ctx.config) if e.kind in KINDS]  # the active ones
    entries = selected(every, args.model)
    for entry in entries:
        posts_tables = (out.POSTS_SCORED, out.DAILY, out.TOPICS)
        if entry.kind == "sentiment" and entry.source is not None and entry.output in posts_tables:
            raise CatalogError(
                f"model '{entry.name}': key 'output': {entry.output} holds the posts' scores; "
                "an entry with a `source` writes its own table"
            )
    lake = ctx.lakehouse
    for table, schema, comment in (
        (out.POSTS_SCORED, out.POSTS_SCHEMA, "Social posts with sentiment, entities, topic"),
        (out.DAILY, out.DAILY_SCHEMA, "Social volume and sentiment per market, day, entity"),
        (out.TOPICS, out.TOPICS_SCHEMA, "Topics of social posts and their top terms"),
    ):
        lake.create(table, schema, comment=comment, replace_if_changed=True)
    if not entries:
        ctx.log.warning("no active sentiment or topics entries in the catalog")
        return {"models": 0, "rows_out": 0}
    registry = Registry(ctx.configure_mlflow(), ctx.config.models.registry_prefix)
    data = Inputs.load(ctx)
    runs: list[tuple] = []
    summary = {"models": 0, "languages": {}, "input_tables": json.loads(data.input_tables)}
    from fanbase.models.train import record_model_runs

    try:
        for entry in entries:
            fitted = train_entry(ctx, registry, entry, data, runs)
            summary["models"] += 1
            summary["languages"][entry.name] = sorted(fitted)
    finally:  # the models registered before a failure keep their rows
        record_model_runs(lake, ctx.spark, runs)
    posts_sentiment = _posts_entry(every, "sentiment")
    posts_topics = _posts_entry(every, "topics")
    readers = {e.name for e in (posts_sentiment, posts_topics) if e is not None}
    if not readers & {e.name for e in entries}:
        # Only entries reading an analyst's table ran: the posts' models are unchanged.
        return summary
    scored = score_posts(ctx, registry, data, posts_sentiment, posts_topics)
    summary.update(scored)
    summary["rows_in"] = scored["posts"]
    summary["rows_out"] = scored["posts"] + scored["daily_rows"]
    return summary


def _posts_entry(entries, kind: str):
    """The active entry of ``kind`` that learns from and scores the posts (no source)."""
    from fanbase.models.catalog import CatalogError

    found = [e for e in entries if e.kind == kind and e.source is None]
    if len(found) > 1:
        names = ", ".join(e.name for e in found)
        raise CatalogError(
            f"{len(found)} active {kind} entries read the posts ({names}): keep one active, "
            "or give the others a `source`"
        )
    return found[0] if found else None


class Inputs:
    """Silver social posts, labels and fixtures at the versions current at the start."""

    def __init__(self, ctx: JobContext, versions: dict[str, int]):
        self.versions = versions
        self.tables = {n: ctx.lakehouse.read(f"silver.{n}", v) for n, v in versions.items()}

    @classmethod
    def load(cls, ctx: JobContext) -> Inputs:
        lake = ctx.lakehouse
        missing = [n for n in SILVER if not lake.exists(f"silver.{n}")]
        if missing:
            raise RuntimeError(f"silver.{missing[0]} does not exist: run `fanbase ingest` first")
        return cls(ctx, {n: lake.version(f"silver.{n}") for n in SILVER})

    @property
    def input_tables(self) -> str:
        return json.dumps({f"silver.{k}": v for k, v in self.versions.items()}, sort_keys=True)

    def labelled_posts(self):
        """Posts with their hand label: key, language, text, label."""
        from pyspark.sql import functions as F

        labels = self.tables["sentiment_labels"].select(
            "post_id", F.col("sentiment").alias("label")
        )
        return (
            self.tables["social_posts"]
            .join(labels, "post_id")
            .select(F.col("post_id").alias("key"), "language", "text", "label")
        )


def entry_rows(ctx: JobContext, entry, data: Inputs):
    """The rows an entry learns from: key, language, text and (sentiment) label."""
    from pyspark.sql import functions as F

    from fanbase.models.frames import FrameError, filtered, read_table_source

    opts = _options(entry)
    if entry.source is None:
        if entry.kind == "sentiment":
            return data.labelled_posts()
        return data.tables["social_posts"].select(F.col("post_id").alias("key"), "language", "text")
    src = entry.source
    df, where = read_table_source(ctx.spark, src)
    wanted = [src.text_column, src.label_column, src.language_column]
    missing = [c for c in wanted if c and c not in df.columns]
    if missing:
        raise FrameError(
            f"model '{entry.name}': {where} has no column(s) {missing}; it has {df.columns}"
        )
    df = filtered(df, entry)
    language = F.col(src.language_column) if src.language_column else F.lit(opts.languages[0])
    columns = [
        F.sha2(F.concat_ws("\u0001", *[F.col(c).cast("string") for c in df.columns]), 256).alias(
            "key"
        ),
        language.alias("language"),
        F.col(src.text_column).cast("string").alias("text"),
    ]
    if src.label_column:
        columns.append(F.col(src.label_column).cast("string").alias("label"))
    rows = df.select(*columns).where(F.col("text").isNotNull())
    if src.label_column:
        rows = rows.where(F.col("label").isNotNull())
    return rows


def _options(entry):
    from fanbase.models.catalog import SocialOptions

    return entry.social or SocialOptions()


def train_entry(ctx: JobContext, registry, entry, data: Inputs, runs: list) -> dict:
    """Fit, log and register the entry's pipeline per language; {language: (Registered,
    Fitted)} of the languages that got a model."""
    from fanbase.models import social_text as text
    from fanbase.models.registry import registered_name
    from fanbase.models.train import model_run_row
    from fanbase.parallel import in_parallel

    opts = _options(entry)
    seed = ctx.config.models.seed
    rows = entry_rows(ctx, entry, data).persist()
    counts = {r.language: r["count"] for r in rows.groupBy("language").count().collect()}
    lineage = {"input_tables": json.loads(data.input_tables)}
    if entry.source is not None:
        lineage["source"] = entry.source.table or entry.source.path
    unlisted = sorted(set(counts) - set(opts.languages))
    if unlisted:
        ctx.log.warning(
            "%s: rows in %s, not in social.languages: no model for them", entry.name, unlisted
        )

    def fit(language: str):
        """(Registered, Fitted) of one language, or None when it has too few rows."""
        name = registered_name(registry.prefix, entry, (language,))
        partition = f"language={language}"
        have = counts.get(language, 0)
        if have < opts.min_rows:
            reason = f"{have} rows in language {language}, fewer than min_rows {opts.min_rows}"
            ctx.log.warning("%s: %s: no model", entry.name, reason)
            runs.append(
                model_run_row(ctx.run_id, entry, partition, name, error=reason, skipped=True)
            )
            return None
        started = time.perf_counter()
        train, test = text.held_out_split(
            rows.where(rows.language == language), "key", opts.test_fraction, seed
        )
        if entry.kind == "sentiment":
            fitted = text.fit_sentiment(
                train, test, language, entry.algorithm.name, entry.algorithm.grid, opts, seed
            )
        else:
            fitted = text.fit_topics(train, test, language, opts, seed)
        reg = registry.log_language_model(entry, fitted, lineage, ctx.run_id)
        seconds = time.perf_counter() - started
        runs.append(
            model_run_row(
                ctx.run_id,
                entry,
                partition,
                name,
                reg,
                fitted.metrics,
                int(fitted.metrics["rows_train"]),
                seconds,
            )
        )
        ctx.log.info("%s", format_fit(entry, fitted, reg, seconds))
        return reg, fitted

    present = [lang for lang in opts.languages if counts.get(lang)]
    for language in sorted(set(opts.languages) - set(present)):
        ctx.log.info("%s: no rows in language %s", entry.name, language)
    # Languages side by side: each fit is many small Spark jobs (see fanbase.parallel).
    fits = in_parallel(fit, present, ctx.config.models.workers, entry.name)
    done = {lang: got for lang, got in zip(present, fits, strict=True) if got is not None}
    if entry.kind == "topics":
        write_topics(ctx, entry, done, rows, data)
    elif entry.source is not None:
        write_source_scores(ctx, registry, entry, rows, data)
    rows.unpersist()
    return done


def format_fit(entry, fitted, reg, seconds: float) -> str:
    shown = {k: round(v, 4) for k, v in fitted.metrics.items() if not k.startswith("rows")}
    gates = "gates passed" if not reg.failed_gates else "; ".join(reg.failed_gates)
    return (
        f"{entry.name} [{fitted.language}] v{reg.version} {reg.alias}: {shown} "
        f"({gates}; {seconds:.1f} s)"
    )


def write_topics(ctx: JobContext, entry, done: dict, rows, data: Inputs) -> None:
    """The entry's rows of gold.social_topics: top terms per topic and the posts whose
    dominant topic it is (scored by the pipeline just fitted)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    from fanbase.models import social_output as out

    lake = ctx.lakehouse
    table_rows = []
    for language, (reg, fitted) in done.items():
        assigned = out.topic_columns(fitted.model, rows.where(rows.language == language))
        counts = {r.topic: r["count"] for r in assigned.groupBy("topic").count().collect()}
        for row in out.topic_rows(fitted.extra["topic_terms"], counts):
            table_rows.append((entry.name, language, *row, reg.name, reg.version, reg.run_id))
    lineage = ("input_tables", "run_id")
    schema = StructType([f for f in out.TOPICS_SCHEMA.fields if f.name not in lineage])
    df = ctx.spark.createDataFrame(table_rows, schema)
    df = df.withColumn("input_tables", F.lit(data.input_tables)).withColumn(
        "run_id", F.lit(ctx.run_id)
    )
    lake.replace_where(out.TOPICS, out.conform(df, out.TOPICS_SCHEMA), f"model = '{entry.name}'")


def write_source_scores(ctx: JobContext, registry, entry, rows, data: Inputs) -> None:
    """An analyst's table scored by the entry's champions, per language, into its output."""
    from pyspark.sql import functions as F

    from fanbase.models import social_output as out
    from fanbase.models import social_text as text
    from fanbase.models.registry import registered_name

    opts = _options(entry)
    parts = []
    for language in opts.languages:
        name = registered_name(registry.prefix, entry, (language,))
        loaded = registry.load_champion(name)
        if loaded is None:
            continue
        model, version = loaded
        _, test = text.held_out_split(rows, "key", opts.test_fraction, ctx.config.models.seed)
        held = test.select("key").distinct().withColumn("held_out", F.lit(True))
        scored = model.transform(rows.where(rows.language == language)).join(held, "key", "left")
        parts.append(
            scored.select(
                F.lit(entry.name).alias("model"),
                "language",
                "text",
                "label",
                "predicted",
                F.coalesce("held_out", F.lit(False)).alias("held_out"),
                F.lit(name).alias("registered_model"),
                F.lit(int(version.version)).alias("model_version"),
                F.lit(data.input_tables).alias("input_tables"),
                F.lit(ctx.run_id).alias("run_id"),
            )
        )
    ctx.lakehouse.create(entry.output, out.SOURCE_SCHEMA, comment=f"Scored by {entry.name}")
    if parts:
        combined = parts[0]
        for part in parts[1:]:
            combined = combined.unionByName(part)
        ctx.lakehouse.replace_where(
            entry.output, out.conform(combined, out.SOURCE_SCHEMA), f"model = '{entry.name}'"
        )


def score_posts(ctx: JobContext, registry, data: Inputs, sentiment_entry, topics_entry) -> dict:
    """gold.social_posts_scored and gold.social_daily from the champions."""
    from pyspark.sql import functions as F

    from fanbase.models import social_daily as daily
    from fanbase.models import social_entities as ents
    from fanbase.models import social_output as out

    spark, lake, social = ctx.spark, ctx.lakehouse, ctx.config.social
    posts = data.tables["social_posts"].select(
        "post_id", "ts", "post_date", "market", "language", "platform", "text"
    )
    names = ents.calendar_names(data.tables["fixtures"], social.team_sports, social.service_names)
    languages = sorted(r[0] for r in posts.select("language").distinct().collect())
    if not languages:
        ctx.log.warning("silver.social_posts is empty: nothing to score")
        return {"posts": 0, "scored_posts": 0, "mentions": 0, "daily_rows": 0, "spikes": 0}
    with tempfile.TemporaryDirectory(prefix="fanbase-entities-") as workdir:
        matcher = ents.matcher(spark, names, workdir)
        parts = [
            _score_language(
                registry,
                posts.where(F.col("language") == lang),
                lang,
                sentiment_entry,
                topics_entry,
            )
            for lang in languages
        ]
        combined = parts[0]
        for part in parts[1:]:
            combined = combined.unionByName(part)
        combined = ents.with_entities(matcher, combined, names)
        final = combined.withColumn("input_tables", F.lit(data.input_tables)).withColumn(
            "run_id", F.lit(ctx.run_id)
        )
        lake.replace_where(out.POSTS_SCORED, out.conform(final, out.POSTS_SCHEMA), "true")
    scored = lake.read(out.POSTS_SCORED)
    days = daily.with_spikes(daily.daily(scored), social)
    days = days.withColumn("input_tables", F.lit(data.input_tables)).withColumn(
        "run_id", F.lit(ctx.run_id)
    )
    lake.replace_where(out.DAILY, out.conform(days, out.DAILY_SCHEMA), "true")
    written = lake.read(out.DAILY)
    stats = scored.agg(
        F.count("*").alias("posts"),
        F.count("sentiment").alias("scored"),
        F.sum(F.size("entities")).alias("mentions"),
    ).first()
    spikes = written.where("spike").count()
    ctx.log.info(
        "%d posts (%d with sentiment, %d entity mentions); %d daily rows, %d spikes",
        stats.posts,
        stats.scored,
        stats.mentions or 0,
        written.count(),
        spikes,
    )
    return {
        "posts": stats.posts,
        "scored_posts": stats.scored,
        "mentions": int(stats.mentions or 0),
        "daily_rows": written.count(),
        "spikes": spikes,
    }


def _score_language(registry, posts, language: str, sentiment_entry, topics_entry):
    """One language's posts with sentiment and topic columns from the champions (null
    columns and the reason when a model is missing)."""
    from pyspark.sql import functions as F

    from fanbase.models import social_output as out
    from fanbase.models.registry import registered_name

    reasons = []
    scored = posts
    nulls = {
        "sentiment": "string",
        "sentiment_score": "double",
        "p_negative": "double",
        "p_neutral": "double",
        "p_positive": "double",
    }
    model_columns = {}
    loaded = None
    if sentiment_entry is not None:
        name = registered_name(registry.prefix, sentiment_entry, (language,))
        loaded = _champion(registry, sentiment_entry, name, language, reasons)
        model_columns.update(sentiment_model=sentiment_entry.name, sentiment_registered=name)
    else:
        reasons.append("no active sentiment entry reads the posts")
    if loaded is not None:
        model, version = loaded
        labels = list(model.stages[-1].getLabels())
        scored = out.sentiment_columns(model, scored, labels)
        model_columns["sentiment_version"] = int(version.version)
    else:
        for column, kind in nulls.items():
            scored = scored.withColumn(column, F.lit(None).cast(kind))
    loaded = None
    if topics_entry is not None:
        name = registered_name(registry.prefix, topics_entry, (language,))
        loaded = _champion(registry, topics_entry, name, language, reasons)
        model_columns["topics_model"] = topics_entry.name
    if loaded is not None:
        model, version = loaded
        scored = out.topic_columns(model, scored)
        model_columns["topics_version"] = int(version.version)
    else:
        scored = scored.withColumn("topic", F.lit(None).cast("int")).withColumn(
            "topic_weight", F.lit(None).cast("double")
        )
    for column in (
        "sentiment_model",
        "sentiment_registered",
        "sentiment_version",
        "topics_model",
        "topics_version",
    ):
        value = model_columns.get(column)
        scored = scored.withColumn(column, F.lit(value))
    reason = "; ".join(reasons) or None
    return scored.withColumn("unscored_reason", F.lit(reason).cast("string"))


def _champion(registry, entry, name: str, language: str, reasons: list[str]):
    """The champion pipeline of ``name``, or None with the reason appended."""
    if language not in _options(entry).languages:
        reasons.append(f"language {language} is not in social.languages of {entry.name}")
        return None
    loaded = registry.load_champion(name)
    if loaded is None:
        reasons.append(f"{name} has no champion (too few rows, or its gates failed)")
    return loaded


if __name__ == "__main__":
    main_for(__name__)
