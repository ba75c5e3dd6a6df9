"""Bronze, silver and quarantine tables: schemas with column comments, keys,
partitioning and Delta CHECK constraints. One place, so a reader finds every
column's meaning next to its type."""

from __future__ import annotations

from dataclasses import dataclass, field

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

from fanbase.ingest.contract import CHANNELS, DEVICES, MODES, PAYMENT_STATUSES, PLANS

MONTH_COMMENT = "first day of the month of {}; the partition column"


def col(name: str, dtype, comment: str, nullable: bool = True) -> StructField:
    return StructField(name, dtype, nullable, {"comment": comment})


def _in(column: str, values) -> str:
    listed = ", ".join(f"'{v}'" for v in sorted(values))
    return f"{column} IS NULL OR {column} IN ({listed})"


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: StructType
    keys: tuple[str, ...]
    comment: str
    partition_by: tuple[str, ...] = ()
    constraints: dict[str, str] = field(default_factory=dict)
    change_feed: bool = True
    # Fact tables: the date column whose month is the partition column. Monthly, not
    # daily, partitions: a day of a service's events is far smaller than the file size
    # Delta reads well, and a daily partition per table made ingest write ~370 small
    # files each (twice as slow). MERGEs prune by month and skip files by date.
    date_column: str | None = None
    # The columns Delta keeps min/max statistics of (for skipping files when reading);
    # empty: Delta's default, the first 32. Wide tables name the columns queries filter
    # on: statistics of every column of every row written, the raw line among them,
    # were about a tenth of the executors' JVM time in a profile of ingest.
    stats_columns: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return self.schema.fieldNames()

    def properties(self) -> dict[str, str]:
        props = {"delta.enableChangeDataFeed": "true"} if self.change_feed else {}
        if self.stats_columns:
            props["delta.dataSkippingStatsColumns"] = ",".join(self.stats_columns)
        return props


LINE_KEY = (
    col(
        "landing_date",
        DateType(),
        "landing (arrival) date of the raw file, from date=; null for reference files",
    ),
    col("source_file", StringType(), "raw file, relative to the raw root", nullable=False),
    col("line_number", LongType(), "1-based line number in the raw file", nullable=False),
)

BRONZE_LINES = TableSpec(
    name="bronze.raw_lines",
    schema=StructType(
        [
            col("source", StringType(), "events, social, labels, fixtures or markets", False),
            *LINE_KEY,
            col(
                "line",
                StringType(),
                "the line as landed (bytes that are not UTF-8 shown as U+FFFD)",
            ),
            col(
                "valid_utf8", BooleanType(), "false if the line had bytes that are not UTF-8", False
            ),
            col("ingest_run_id", StringType(), "ingest run that first landed the line", False),
            col("ingested_at", TimestampType(), "when that run landed it (UTC)", False),
        ]
    ),
    keys=("source_file", "line_number"),
    comment="Raw lines as landed, append only: replay silver from here.",
    partition_by=("source",),
    change_feed=False,
    stats_columns=("landing_date", "source_file", "line_number"),
)

QUARANTINE = TableSpec(
    name="silver.quarantine",
    schema=StructType(
        [
            col("source", StringType(), "events, social, labels, fixtures or markets", False),
            *LINE_KEY,
            col("line", StringType(), "the rejected line as landed"),
            col("reason", StringType(), "reason code, see fanbase.ingest.contract.REASONS", False),
            col("detail", StringType(), "what exactly was wrong, for a person"),
            col("replayable", BooleanType(), "may clear once reference data catches up", False),
            col("run_id", StringType(), "ingest run that quarantined the line", False),
            col("quarantined_at", TimestampType(), "when (UTC)", False),
            col("resolved_run_id", StringType(), "run that later accepted the line, if any"),
        ]
    ),
    keys=("source_file", "line_number"),
    comment="Every rejected raw line with its reason; nothing is dropped silently.",
    partition_by=("source",),
    stats_columns=("landing_date", "source_file", "line_number", "reason"),
)

EVENTS = TableSpec(
    name="silver.events",
    schema=StructType(
        [
            col("event_id", StringType(), "unique event id; redeliveries are merged away", False),
            col("event_type", StringType(), "signup, cancel, payment, playback or app_open", False),
            col("ts", TimestampType(), "event time (UTC)", False),
            col("event_date", DateType(), "date of ts (UTC)", False),
            col("event_month", DateType(), MONTH_COMMENT.format("event_date"), False),
            col("user_id", StringType(), "pseudonymous subscriber id", False),
            col("market", StringType(), "ISO 3166-1 alpha-2 market of the subscription", False),
            col("subscription_id", StringType(), "subscription spell (signup, cancel, payment)"),
            col("plan", StringType(), "signup: monthly or annual"),
            col("price", DoubleType(), "signup: price per billing period, local currency"),
            col("currency", StringType(), "signup, payment: ISO 4217 currency"),
            col("device", StringType(), "signup, playback, app_open: device class"),
            col("acquisition_channel", StringType(), "signup: acquisition channel"),
            col("promo_code", StringType(), "signup: promo code, null if none"),
            col(
                "effective_at", TimestampType(), "cancel: when access ends (UTC); null means at ts"
            ),
            col("cancel_reason", StringType(), "cancel: stated reason, null if none"),
            col("amount", DoubleType(), "payment: amount, local currency"),
            col("status", StringType(), "payment: succeeded, failed or refunded"),
            col("session_id", StringType(), "playback: session id"),
            col("fixture_id", StringType(), "playback: fixture watched, null for other content"),
            col("mode", StringType(), "playback: live, catchup or highlights"),
            col("watch_seconds", LongType(), "playback: seconds watched"),
            col("buffering_seconds", LongType(), "playback: seconds spent buffering"),
            *LINE_KEY,
        ]
    ),
    keys=("event_id",),
    comment="Typed, validated, de-duplicated product events (all types); one row per event_id.",
    partition_by=("event_month",),
    date_column="event_date",
    stats_columns=(
        "event_id",
        "event_type",
        "ts",
        "event_date",
        "user_id",
        "market",
        "subscription_id",
        "fixture_id",
    ),
    constraints={
        "known_event_type": _in(
            "event_type", ["signup", "cancel", "payment", "playback", "app_open"]
        ),
        "known_device": _in("device", DEVICES),
        "known_plan": _in("plan", PLANS),
        "known_mode": _in("mode", MODES),
        "known_status": _in("status", PAYMENT_STATUSES),
        "known_channel": _in("acquisition_channel", CHANNELS),
        "non_negative_price": "price IS NULL OR price >= 0",
        "non_negative_amount": "amount IS NULL OR amount >= 0",
        "non_negative_watch": "watch_seconds IS NULL OR watch_seconds >= 0",
        "non_negative_buffering": "buffering_seconds IS NULL OR buffering_seconds >= 0",
        "event_date_of_ts": "event_date = to_date(ts)",
        "event_month_of_date": "event_month = trunc(event_date, 'MM')",
    },
)

PLAYBACK = TableSpec(
    name="silver.playback_sessions",
    schema=StructType(
        [
            col("event_id", StringType(), "the playback event", False),
            col("session_id", StringType(), "playback session id", False),
            col("user_id", StringType(), "pseudonymous subscriber id", False),
            col("market", StringType(), "market of the subscription", False),
            col("ts", TimestampType(), "session time (UTC)", False),
            col("event_date", DateType(), "date of ts (UTC)", False),
            col("event_month", DateType(), MONTH_COMMENT.format("event_date"), False),
            col("device", StringType(), "device class", False),
            col("mode", StringType(), "live, catchup or highlights", False),
            col("watch_seconds", LongType(), "seconds watched", False),
            col("buffering_seconds", LongType(), "seconds spent buffering", False),
            col("fixture_id", StringType(), "fixture watched; null for non-fixture content"),
            col("sport", StringType(), "sport of the fixture"),
            col("competition", StringType(), "competition of the fixture"),
            col("tier", StringType(), "marquee or standard"),
            col("kickoff", TimestampType(), "fixture kickoff (UTC)"),
        ]
    ),
    keys=("event_id",),
    comment="Playback sessions joined to their fixture's sport and competition.",
    partition_by=("event_month",),
    date_column="event_date",
    stats_columns=("event_id", "user_id", "market", "ts", "event_date", "fixture_id", "sport"),
    constraints={
        "event_month_of_date": "event_month = trunc(event_date, 'MM')",
        "known_device": _in("device", DEVICES),
        "known_mode": _in("mode", MODES),
        "non_negative_watch": "watch_seconds >= 0",
        "non_negative_buffering": "buffering_seconds >= 0",
    },
)

SUBSCRIPTIONS = TableSpec(
    name="silver.subscriptions",
    schema=StructType(
        [
            col("subscription_id", StringType(), "subscription spell id", False),
            col("user_id", StringType(), "pseudonymous subscriber id", False),
            col("market", StringType(), "market of the subscription", False),
            col(
                "spell_number",
                IntegerType(),
                "1 for the user's first spell, 2 after a win-back",
                False,
            ),
            col("plan", StringType(), "monthly or annual; null if the signup was never seen"),
            col("price", DoubleType(), "price per billing period, local currency"),
            col("currency", StringType(), "ISO 4217 currency"),
            col("device", StringType(), "device used to sign up"),
            col("acquisition_channel", StringType(), "acquisition channel"),
            col("promo_code", StringType(), "promo code, null if none"),
            col("started_at", TimestampType(), "signup time (UTC); null if left-truncated"),
            col("cancelled_at", TimestampType(), "when the cancel was requested (UTC)"),
            col(
                "ended_at",
                TimestampType(),
                "when access ended (UTC): effective_at, else cancel time",
            ),
            col("cancel_reason", StringType(), "stated cancel reason"),
            col(
                "churned",
                BooleanType(),
                "true if cancelled, false if still running (censored)",
                False,
            ),
            col(
                "left_truncated",
                BooleanType(),
                "true if the signup precedes the data (first seen mid-spell)",
                False,
            ),
            col("first_seen_at", TimestampType(), "earliest event of the spell (UTC)", False),
        ]
    ),
    keys=("subscription_id",),
    comment="Subscription spells: one row per subscription_id, churned or censored.",
    constraints={
        "known_plan": _in("plan", PLANS),
        "ended_after_start": "ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at",
    },
)

SOCIAL = TableSpec(
    name="silver.social_posts",
    schema=StructType(
        [
            col("post_id", StringType(), "unique post id; repeats are merged away", False),
            col("ts", TimestampType(), "post time (UTC)", False),
            col("post_date", DateType(), "date of ts (UTC)", False),
            col("post_month", DateType(), MONTH_COMMENT.format("post_date"), False),
            col("platform", StringType(), "twitter, instagram, facebook, reddit, ...", False),
            col("market", StringType(), "market the post is attributed to", False),
            col("language", StringType(), "ISO 639-1 language", False),
            col("text", StringType(), "the post's text", False),
            col(
                "author_hash",
                StringType(),
                "hashed author handle; never joined to subscribers",
                False,
            ),
            *LINE_KEY,
        ]
    ),
    keys=("post_id",),
    comment="Social-network posts from the listening feed, de-duplicated.",
    partition_by=("post_month",),
    date_column="post_date",
    stats_columns=("post_id", "ts", "post_date", "platform", "market", "language"),
    constraints={"post_month_of_date": "post_month = trunc(post_date, 'MM')"},
)

LABELS = TableSpec(
    name="silver.sentiment_labels",
    schema=StructType(
        [
            col("post_id", StringType(), "labelled post", False),
            col("sentiment", StringType(), "positive, neutral or negative", False),
            *LINE_KEY,
        ]
    ),
    keys=("post_id",),
    comment="Hand-labelled sentiment of a sample of posts.",
    constraints={"known_sentiment": "sentiment IN ('positive', 'neutral', 'negative')"},
)

FIXTURES = TableSpec(
    name="silver.fixtures",
    schema=StructType(
        [
            col("fixture_id", StringType(), "fixture (live event) id", False),
            col("sport", StringType(), "sport", False),
            col("competition", StringType(), "competition or tournament", False),
            col("home", StringType(), "home side or first competitor", False),
            col("away", StringType(), "away side or second competitor", False),
            col("kickoff", TimestampType(), "kickoff (UTC)", False),
            col("duration_minutes", IntegerType(), "scheduled duration in minutes", False),
            col("markets", ArrayType(StringType()), "markets where it is broadcast", False),
            col("tier", StringType(), "marquee or standard", False),
            *LINE_KEY,
        ]
    ),
    keys=("fixture_id",),
    comment="The fixture calendar.",
    constraints={"known_tier": "tier IN ('marquee', 'standard')"},
)

MARKETS = TableSpec(
    name="silver.markets",
    schema=StructType(
        [
            col("market", StringType(), "ISO 3166-1 alpha-2 market", False),
            col("currency", StringType(), "ISO 4217 currency", False),
            col("monthly_price", DoubleType(), "monthly price, local currency", False),
            col("annual_price", DoubleType(), "annual price, local currency", False),
            col("launched_on", DateType(), "launch date of the service in the market", False),
            *LINE_KEY,
        ]
    ),
    keys=("market",),
    comment="Markets, currencies and prices.",
    constraints={"non_negative_prices": "monthly_price >= 0 AND annual_price >= 0"},
)

INGEST_RUNS = TableSpec(
    name="ops.ingest_runs",
    schema=StructType(
        [
            col("run_id", StringType(), "ingest run", False),
            col("source", StringType(), "events, social, labels, fixtures, markets", False),
            col("landing_dates", StringType(), "landing dates processed (first..last, count)"),
            col("lines_read", LongType(), "raw lines read", False),
            col(
                "accepted",
                LongType(),
                "lines accepted as the canonical delivery of a record",
                False,
            ),
            col(
                "duplicates", LongType(), "valid lines that repeat a record already accepted", False
            ),
            col("quarantined", LongType(), "lines rejected to silver.quarantine", False),
            col(
                "reconciled",
                BooleanType(),
                "lines_read = accepted + duplicates + quarantined",
                False,
            ),
            col("silver_version", LongType(), "version of the silver table after the run"),
            col("started_at", TimestampType(), "run start (UTC)", False),
            col("finished_at", TimestampType(), "run end (UTC)", False),
        ]
    ),
    keys=("run_id", "source"),
    comment="One row per ingest run and source: the reconciliation log.",
    change_feed=False,
)

INGEST_FILES = TableSpec(
    name="ops.ingest_files",
    schema=StructType(
        [
            col("source", StringType(), "events, social, labels, fixtures, markets", False),
            col("landing_date", DateType(), "the file's date= folder; null for reference files"),
            col("source_file", StringType(), "raw file, relative to the raw root", False),
            col("size_bytes", LongType(), "file size when it was ingested", False),
            col("modified_ms", LongType(), "its modification time then (epoch ms)", False),
            col("ingest_run_id", StringType(), "the run that completed it", False),
            col("completed_at", TimestampType(), "when that run finished (UTC)", False),
        ]
    ),
    keys=("source_file",),
    comment=(
        "Raw files fully ingested (recorded only when a run reconciled): a run without "
        "landing dates skips files seen here with the same size and modification time."
    ),
    change_feed=False,
)

SILVER_BY_SOURCE = {
    "events": EVENTS,
    "social": SOCIAL,
    "labels": LABELS,
    "fixtures": FIXTURES,
    "markets": MARKETS,
}
ALL_TABLES = (
    BRONZE_LINES,
    QUARANTINE,
    MARKETS,
    FIXTURES,
    EVENTS,
    PLAYBACK,
    SUBSCRIPTIONS,
    SOCIAL,
    LABELS,
    INGEST_RUNS,
    INGEST_FILES,
)
