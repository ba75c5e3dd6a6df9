"""One ingest run: raw lines -> bronze -> validated -> silver and quarantine, with
reconciliation. Every write is a Delta MERGE or an append of lines not yet landed,
so a rerun (also after a crash part-way) converges on the same tables."""

from __future__ import annotations

import datetime as dt
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fanbase.ingest.contract import REPLAYABLE, Reference
from fanbase.ingest.parse import (
    LINE_COLUMNS,
    SOURCE_DIRS,
    RawFile,
    flag_unknown_fixtures,
    list_raw_files,
    read_lines,
    read_whole,
    validate_lines,
)
from fanbase.ingest.silver import (
    classify_deliveries,
    contested_keys,
    playback_sessions,
    subscription_spells,
    tally_deliveries,
    update_condition,
)
from fanbase.ingest.tables import (
    ALL_TABLES,
    BRONZE_LINES,
    EVENTS,
    FIXTURES,
    INGEST_FILES,
    INGEST_RUNS,
    MARKETS,
    PLAYBACK,
    QUARANTINE,
    SILVER_BY_SOURCE,
    SUBSCRIPTIONS,
    TableSpec,
)
from fanbase.lakehouse import Lakehouse, sql_in, sql_literal
from fanbase.parallel import WRITERS, in_parallel
from fanbase.session import sql_conf

log = logging.getLogger(__name__)

# Reference first: validation of events needs markets, the fixture check needs fixtures.
SOURCES = ("markets", "fixtures", "events", "social", "labels")
# After the markets, two lanes load side by side: events wait for the calendar, social
# posts and labels need only the markets. Much of each source's time is fixed driver
# work (planning, Delta commits) that the other lane's Spark jobs fill.
LANES = (("fixtures", "events"), ("social", "labels"))
# Reference data: the newest delivery of a key wins. Facts: the first delivery wins.
PREFER_LATEST = {"markets", "fixtures"}
# The events a subscription spell is made of.
SPELL_EVENTS = ("signup", "cancel", "payment")
# Contested keys (redelivered or already in silver) up to this many are joined to a
# batch by broadcast; more are joined by shuffle (a bulk replay, say).
BROADCAST_ROWS = 200_000
# Sources with lines that may be quarantined for a replayable reason (unknown_fixture).
REPLAYABLE_SOURCES = {"events"}
# A source's validated lines are cached and read by each later phase, then dropped. Kept
# uncompressed: to compress, Spark picks an encoding per column by hashing every value,
# most of it wasted on columns like the raw line, where nearly every value is new. The
# 1x demo's whole run after a warm-up, two pairs in turn, same hour: executor tasks took
# 42.9 and 45.5 s of CPU compressed, 37.6 and 41.0 s not (wall 66.8/69.6 -> 63.8/69.4 s).
RUN_SQL_CONF = {"spark.sql.inMemoryColumnarStorage.compressed": "false"}


@contextmanager
def _phase(source: str, name: str):
    """Log how long a phase of a source took: where an ingest run spends its time."""
    started = time.perf_counter()
    yield
    log.info("%s: %s %.1fs", source, name, time.perf_counter() - started)


class ReconciliationError(Exception):
    """Lines read do not equal accepted + duplicates + quarantined."""


@dataclass
class SourceCounts:
    source: str
    lines_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    new_lines: int = 0
    changed: int = 0
    silver_version: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def reconciled(self) -> bool:
        return self.lines_read == self.accepted + self.duplicates + self.quarantined


class IngestRun:
    def __init__(
        self,
        lake: Lakehouse,
        raw_root: str,
        run_id: str,
        landing_dates: list[dt.date] | None,
        from_bronze: bool = False,
    ):
        self.lake = lake
        self.spark = lake.spark
        self.raw_root = raw_root
        self.run_id = run_id
        self.landing_dates = landing_dates
        self.from_bronze = from_bronze
        self.started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.counts: list[SourceCounts] = []
        # Per source, the raw files this run reads (recorded as complete at its end)
        # and the landing dates it read (None: all).
        self.files: dict[str, list[RawFile]] = {}
        self.read_dates: dict[str, list[dt.date] | None] = {}
        self._completed_files: dict[str, set[tuple]] | None = None

    # ---- the run -----------------------------------------------------------
    def run(self) -> list[SourceCounts]:
        with sql_conf(self.spark, RUN_SQL_CONF):
            return self._run()

    def _run(self) -> list[SourceCounts]:
        in_parallel(self._create, ALL_TABLES, WRITERS, name="ingest-create")
        done = {"markets": self._ingest_source("markets", None)}
        reference = self._reference()
        # Side by side (LANES): each lane writes its own silver tables and its own
        # partitions of bronze and quarantine, so their Delta commits never conflict.
        lanes = in_parallel(lambda lane: self._lane(lane, reference), LANES, len(LANES), "ingest")
        for lane in lanes:
            done.update(lane)
        self.counts = [done[source] for source in SOURCES]
        self.counts.append(self._replay_quarantine(reference))
        self._log_run()
        broken = [c for c in self.counts if not c.reconciled]
        if broken:
            raise ReconciliationError(
                "; ".join(
                    f"{c.source}: read {c.lines_read} != accepted {c.accepted} + duplicates "
                    f"{c.duplicates} + quarantined {c.quarantined}"
                    for c in broken
                )
            )
        self._record_files()
        return self.counts

    def _lane(self, sources: tuple[str, ...], reference: Reference) -> dict[str, SourceCounts]:
        done = {}
        for source in sources:
            if source == "events":
                self._catch_up_derived()
            done[source] = self._ingest_source(source, reference)
        return done

    def _create(self, spec: TableSpec) -> None:
        self.lake.create(
            spec.name,
            spec.schema,
            spec.comment,
            spec.partition_by,
            spec.constraints,
            spec.properties(),
        )

    # ---- which files ---------------------------------------------------------
    def _dates(self, source: str) -> list[dt.date] | None:
        """The landing dates to read of a source; None: all of it. Given landing dates
        are read as asked. Without them a source is read only where its files changed
        since a completed run: the landing dates holding a new or changed file (every
        file of such a date is read again, so the date converges as a whole), or a
        whole reference source when any of its files changed. A run killed part-way
        recorded nothing, so its files are read again."""
        dated = SOURCE_DIRS[source][1]
        if self.from_bronze:
            return self.landing_dates if dated else None
        if self.landing_dates is not None:
            if dated:
                wanted = set(self.landing_dates)
                self.files[source] = [
                    f
                    for f in list_raw_files(self.spark, self.raw_root, source)
                    if f.landing_date in wanted
                ]
                return self.landing_dates
            self.files[source] = list_raw_files(self.spark, self.raw_root, source)
            return None
        listed = list_raw_files(self.spark, self.raw_root, source)
        done = self._completed().get(source, set())
        changed = [f for f in listed if (f.source_file, f.size_bytes, f.modified_ms) not in done]
        if not dated:
            self.files[source] = listed if changed else []
            return None if changed else []
        days = sorted({f.landing_date for f in changed})
        self.files[source] = [f for f in listed if f.landing_date in set(days)]
        return days

    def _completed(self) -> dict[str, set[tuple]]:
        """Per source, the (file, size, modified) of every raw file completed before,
        read once per run: one row per raw file, growing with files, not lines."""
        if self._completed_files is None:
            rows = (
                self.lake.read(INGEST_FILES.name)
                .select("source", "source_file", "size_bytes", "modified_ms")
                .collect()
            )
            self._completed_files = {}
            for r in rows:
                self._completed_files.setdefault(r["source"], set()).add(
                    (r["source_file"], r["size_bytes"], r["modified_ms"])
                )
        return self._completed_files

    def _record_files(self) -> None:
        """Mark every file this run read as complete (after it reconciled)."""
        files = [f for listed in self.files.values() for f in listed]
        if not files:
            return
        finished = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rows = [
            (
                f.source,
                f.landing_date,
                f.source_file,
                f.size_bytes,
                f.modified_ms,
                self.run_id,
                finished,
            )
            for f in files
        ]
        df = self.spark.createDataFrame(rows, INGEST_FILES.schema)
        self.lake.merge(INGEST_FILES.name, df, list(INGEST_FILES.keys))

    def _reference(self) -> Reference:
        markets = self.lake.read(MARKETS.name).select("market", "launched_on").collect()
        return Reference(market_launch={r.market: r.launched_on for r in markets})

    # ---- one source --------------------------------------------------------
    def _parsed(self, source: str, dates: list[dt.date] | None, reference: Reference):
        """The lines of the source (for these landing dates), validated."""
        if self.from_bronze:
            lines = self.lake.read(BRONZE_LINES.name).where(F.col("source") == source)
            if dates is not None:
                lines = lines.where(sql_in("landing_date", dates))
            return validate_lines(lines.select(*LINE_COLUMNS), source, reference)
        # Files read whole by one task are numbered as they are read; others need a sort.
        whole = read_whole(self.spark, self.files[source])
        lines = read_lines(self.spark, self.raw_root, source, dates, numbered_later=whole)
        if whole:
            # Many small files make many small tasks, and each Python task has a fixed
            # cost; coalescing concatenates them in order, so each file stays in one.
            tasks = 2 * self.spark.sparkContext.defaultParallelism
            if lines.rdd.getNumPartitions() > tasks:
                lines = lines.coalesce(tasks)
        return validate_lines(lines, source, reference, number=whole)

    def _ingest_source(self, source: str, reference: Reference | None) -> SourceCounts:
        counts = SourceCounts(source)
        dates = self.read_dates[source] = self._dates(source)
        if dates == []:
            log.info("%s: no new or changed raw files", source)
            return counts
        # Every line gives one parsed row with its raw text, so bronze is written from the
        # parsed rows: the lines are read and held once.
        parsed = self._parsed(source, dates, reference or Reference({}))
        if source == "events":
            parsed = flag_unknown_fixtures(parsed, self.lake.read(FIXTURES.name))
        parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            with _phase(source, "read and validate"):
                survey = _survey(parsed, SILVER_BY_SOURCE[source])
            counts.lines_read = sum(survey.per_file.values())
            if not self.from_bronze:
                with _phase(source, "bronze"):
                    counts.new_lines = self._land_bronze(source, parsed, survey.per_file)
            self._load_parsed(source, parsed, survey, counts)
        finally:
            parsed.unpersist()
        log.info(
            "%s: read %d, accepted %d, duplicates %d, quarantined %d %s",
            source,
            counts.lines_read,
            counts.accepted,
            counts.duplicates,
            counts.quarantined,
            counts.reasons,
        )
        return counts

    def _land_bronze(self, source: str, parsed: DataFrame, per_file: dict[str, int]) -> int:
        """Append the lines of files bronze has not seen; bronze is never rewritten. (An
        append is one commit, so a file is in bronze whole or not at all.)"""
        landed = {
            r["source_file"]
            for r in self.lake.read(BRONZE_LINES.name)
            .where((F.col("source") == source) & sql_in("source_file", sorted(per_file)))
            .select("source_file")
            .distinct()
            .collect()
        }  # at most the files of this run
        new = parsed.where(~sql_in("source_file", sorted(landed))) if landed else parsed
        count = sum(n for f, n in per_file.items() if f not in landed)
        if count:
            rows = new.select(
                F.lit(source).alias("source"),
                *LINE_COLUMNS,
                F.lit(self.run_id).alias("ingest_run_id"),
                F.lit(self.started_at).cast("timestamp").alias("ingested_at"),
            )
            # One source is one partition of bronze: each task writes its own file.
            self.lake.append(BRONZE_LINES.name, rows.select(*BRONZE_LINES.columns), spread=True)
        return count

    def _load_parsed(
        self, source: str, parsed: DataFrame, survey: Survey, counts: SourceCounts
    ) -> None:
        spec = SILVER_BY_SOURCE[source]
        rejected = parsed.where(F.col("reject_reason").isNotNull())
        valid = parsed.where(F.col("reject_reason").isNull())

        counts.reasons = survey.reasons
        counts.quarantined = sum(counts.reasons.values())
        if counts.quarantined:
            with _phase(source, "quarantine"):
                self._quarantine(source, rejected)

        key = spec.keys[0]
        silver = self._with_derived(spec, valid)
        partitions = survey.dates if spec.date_column else None
        existing = self.lake.read(spec.name)
        if partitions is not None:
            existing = existing.where(_in_partitions(spec, partitions, alias=None))
        partition_filter = None if partitions is None else _in_partitions(spec, partitions, "t")
        prefer_latest = source in PREFER_LATEST
        with _phase(source, "classify"):
            contested = self._materialize(contested_keys(silver, existing, key, prefer_latest))
            valid_rows = counts.lines_read - counts.quarantined
            tally = tally_deliveries(contested, valid_rows, prefer_latest)
        counts.accepted, counts.duplicates = tally.accepted, tally.duplicates
        counts.changed = tally.changed
        # It reads the parsed rows and the materialized contested keys, not silver:
        # writing silver cannot change which rows it has.
        classified = classify_deliveries(silver, contested, key, prefer_latest)
        changed = classified.where("_changed").select(*spec.columns)
        if counts.changed:
            with _phase(source, "merge"):
                counts.silver_version = self.lake.merge(
                    spec.name,
                    changed,
                    list(spec.keys),
                    update_condition=update_condition(prefer_latest),
                    partition_filter=partition_filter,
                ).version
        else:
            counts.silver_version = self.lake.version(spec.name)
        if source in REPLAYABLE_SOURCES:
            self._resolve_quarantine(source, valid)
        if source == "events" and counts.changed:
            with _phase(source, "spells and sessions"):
                self._derive_from_events(changed, partitions)

    def _materialize(self, small: DataFrame) -> DataFrame:
        """A DataFrame computed now, cut from what it was read from: brought to the
        driver when it has at most ``BROADCAST_ROWS`` rows (then joined by broadcast,
        without moving the other side), else computed again and checkpointed on the
        executors."""
        rows = small.limit(BROADCAST_ROWS + 1).collect()
        if len(rows) > BROADCAST_ROWS:
            return small.localCheckpoint()
        return self.spark.createDataFrame(rows, small.schema)

    @staticmethod
    def _with_derived(spec: TableSpec, valid: DataFrame) -> DataFrame:
        if spec.date_column:
            day = F.to_date("ts")
            valid = valid.withColumn(spec.date_column, day)
            valid = valid.withColumn(spec.partition_by[0], F.trunc(day, "MM"))
        return valid.select(*spec.columns)

    # ---- quarantine --------------------------------------------------------
    def _quarantine(self, source: str, rejected: DataFrame) -> None:
        rows = rejected.select(
            F.lit(source).alias("source"),
            "landing_date",
            "source_file",
            "line_number",
            "line",
            F.col("reject_reason").alias("reason"),
            F.col("reject_detail").alias("detail"),
            F.col("reject_reason").isin(sorted(REPLAYABLE)).alias("replayable"),
            F.lit(self.run_id).alias("run_id"),
            F.lit(self.started_at).cast("timestamp").alias("quarantined_at"),
            F.lit(None).cast("string").alias("resolved_run_id"),
        )
        # Insert-only on the line: a rerun keeps the first quarantine record of a line.
        self.lake.merge(
            QUARANTINE.name,
            rows,
            list(QUARANTINE.keys),
            update=False,
            partition_filter=f"t.source = '{source}'",
        )

    def _resolve_quarantine(self, source: str, valid: DataFrame) -> None:
        """Lines of the source quarantined by earlier runs that validate now (the
        calendar caught up). (A line this run quarantined is not among this run's valid
        lines.) Only the source's partition is read, so another lane's commits to the
        quarantine cannot conflict with this MERGE."""
        waiting = (
            self.lake.read(QUARANTINE.name)
            .where(
                (F.col("source") == source)
                & F.col("replayable")
                & F.col("resolved_run_id").isNull()
                & (F.col("run_id") != self.run_id)
            )
            .select("source_file", "line_number")
        )
        if waiting.isEmpty():
            return
        cleared = valid.select("source_file", "line_number").join(
            waiting, ["source_file", "line_number"], "left_semi"
        )
        self.lake.merge(
            QUARANTINE.name,
            cleared,
            list(QUARANTINE.keys),
            insert=False,
            set_on_match={"resolved_run_id": f"'{self.run_id}'"},
            update_condition="t.resolved_run_id IS NULL",
            partition_filter=f"t.source = '{source}'",
        )

    def _replay_quarantine(self, reference: Reference | None) -> SourceCounts:
        """Re-validate replayable quarantined lines that this run's dates did not cover
        (lines of the landing dates it read were validated against today's calendar)."""
        waiting = self.lake.read(QUARANTINE.name).where(
            F.col("replayable") & F.col("resolved_run_id").isNull() & (F.col("source") == "events")
        )
        counts = SourceCounts("quarantine_replay")
        covered = self.read_dates.get("events", [])
        if covered is None:  # every landing date was read
            return counts
        if covered:
            waiting = waiting.where(~sql_in("landing_date", covered))
        # Checkpointed, not cached: a cached plan that reads the quarantine would be
        # computed again once this replay marks its lines resolved, and lose them.
        lines = waiting.select(*LINE_COLUMNS[:-1], F.lit(True).alias("valid_utf8"))
        lines = lines.localCheckpoint()
        counts.lines_read = lines.count()
        if counts.lines_read:
            parsed = flag_unknown_fixtures(
                validate_lines(lines, "events", reference or Reference({})),
                self.lake.read(FIXTURES.name),
            ).persist(StorageLevel.MEMORY_AND_DISK)
            try:
                self._load_parsed("events", parsed, _survey(parsed, EVENTS), counts)
            finally:
                parsed.unpersist()
        return counts

    # ---- derived silver ----------------------------------------------------
    def _catch_up_derived(self) -> None:
        """Derive sessions and spells from the events a killed run merged into silver
        but may not have derived from: silver.events' changes (change data feed) since
        the version the last completed run left. (Its rerun finds those events in silver
        already, so they are not "changed" for it.) Nothing to do after a clean run."""
        done = (
            self.lake.read(INGEST_RUNS.name)
            .where(F.col("source").isin("events", "quarantine_replay"))
            .agg(F.max("silver_version"))
            .first()[0]
        )
        # Version 0 is the table's creation, without rows.
        start, current = (done or 0) + 1, self.lake.version(EVENTS.name)
        if start > current:
            return
        left = (
            self.lake.changes(EVENTS.name, start, current)
            .where(F.col("_change_type").isin("insert", "update_postimage"))
            .select(*EVENTS.columns)
        )
        dates = sorted(r[0] for r in left.select(EVENTS.date_column).distinct().collect())
        if dates:
            log.info("events: deriving from %d dates a killed run merged", len(dates))
            self._derive_from_events(left, dates)

    def _derive_from_events(self, events: DataFrame, dates: list[dt.date]) -> None:
        """Refresh the playback sessions of these events (``dates``: the dates they fall
        on) and the spells of their users, from the users' whole history in silver."""
        playbacks = events.where(F.col("event_type") == "playback")
        sessions = playback_sessions(playbacks, self.lake.read(FIXTURES.name))
        self.lake.merge(
            PLAYBACK.name,
            sessions,
            list(PLAYBACK.keys),
            partition_filter=_in_partitions(PLAYBACK, dates, "t"),
        )
        billing = F.col("event_type").isin(*SPELL_EVENTS)
        users = events.where(billing).select("user_id").distinct()
        history = self.lake.read(EVENTS.name).where(billing).join(users, "user_id", "left_semi")
        self.lake.merge(SUBSCRIPTIONS.name, subscription_spells(history), list(SUBSCRIPTIONS.keys))

    # ---- run log -----------------------------------------------------------
    def _log_run(self) -> None:
        finished = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rows = [
            (
                self.run_id,
                c.source,
                _describe(self.read_dates[c.source])
                if c.source in self.read_dates
                else "quarantined lines",
                c.lines_read,
                c.accepted,
                c.duplicates,
                c.quarantined,
                c.reconciled,
                c.silver_version,
                self.started_at,
                finished,
            )
            for c in self.counts
        ]
        self.lake.append(INGEST_RUNS.name, self.spark.createDataFrame(rows, INGEST_RUNS.schema))


@dataclass(frozen=True)
class Survey:
    """What one pass over a batch of parsed lines tells: lines per file, rejections per
    reason and the dates its valid rows fall on (late events included, to prune MERGEs)."""

    per_file: dict[str, int]
    reasons: dict[str, int]
    dates: list[dt.date]


def _survey(parsed: DataFrame, spec: TableSpec) -> Survey:
    """One aggregation, one row per file, reason and date: grows with files, not lines."""
    valid = F.col("reject_reason").isNull()
    day = F.when(valid, F.to_date("ts")) if spec.date_column else F.lit(None).cast("date")
    rows = parsed.groupBy("source_file", "reject_reason", day.alias("day")).count().collect()
    per_file: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for r in rows:
        per_file[r["source_file"]] = per_file.get(r["source_file"], 0) + r["count"]
        if r["reject_reason"] is not None:
            reasons[r["reject_reason"]] = reasons.get(r["reject_reason"], 0) + r["count"]
    dates = sorted({r["day"] for r in rows if r["reject_reason"] is None and r["day"]})
    return Survey(per_file, reasons, dates)


def _describe(dates: list[dt.date] | None) -> str:
    if dates is None:
        return "all"
    if not dates:
        return "none new"
    return f"{min(dates)}..{max(dates)} ({len(dates)} dates)"


def _in_partitions(spec: TableSpec, dates: list[dt.date], alias: str | None) -> str:
    """SQL for the rows of these dates: their months' partitions (pruned), then the
    dates themselves (files skipped by their date statistics)."""
    if not dates:
        return "false"
    prefix = f"{alias}." if alias else ""
    months = sorted({d.replace(day=1) for d in dates})
    return (
        f"{prefix}{spec.partition_by[0]} IN ({_date_list(months)}) "
        f"AND {prefix}{spec.date_column} IN ({_date_list(dates)})"
    )


def _date_list(dates: list[dt.date]) -> str:
    return ", ".join(map(sql_literal, dates))
