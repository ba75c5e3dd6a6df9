"""The feature store: one Delta table per feature group, keyed (user_id, as_of_date),
kept up to date incrementally from silver.

A **full build** computes every as-of date through the dense timeline engine and
replaces the tables. An **incremental build** reads what changed in silver since the
versions the last build consumed (Delta change data feed for playback and payments, a
time-travel diff for the small subscriptions table), recomputes only the (user,
as-of date) rows those changes reach plus the new as-of dates, and MERGEs them: rows
whose spine vanished (say, a late cancel ended access earlier) are deleted in the
same commit. The versions consumed go to ``ops.feature_builds`` last, so a crash
part-way is repaired by the next run, and a run with nothing new does nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from fanbase.config import FeatureStoreSettings
from fanbase.features import activity, compute
from fanbase.features.registry import GROUPS
from fanbase.features.spec import FeatureGroup
from fanbase.features.spine import subscriber_spine
from fanbase.lakehouse import Lakehouse
from fanbase.parallel import WRITERS, in_parallel

log = logging.getLogger(__name__)

KEYS = ["user_id", "as_of_date"]
# Tables are partitioned by month of the as-of date: a day per partition made a full
# build write ~2,000 small files; a month keeps an incremental MERGE to one or two.
MONTH = "as_of_month"
MONTH_OF = "DATE_FORMAT(as_of_date, 'yyyy-MM')"
BUILDS = "ops.feature_builds"
INPUTS = {
    "playback": "silver.playback_sessions",
    "events": "silver.events",
    "subscriptions": "silver.subscriptions",
    "fixtures": "silver.fixtures",
}

BUILDS_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False, {"comment": "feature build run"}),
        StructField("mode", StringType(), False, {"comment": "full, incremental or skipped"}),
        StructField("first_as_of", DateType(), True, {"comment": "first as-of date in store"}),
        StructField("last_as_of", DateType(), True, {"comment": "last as-of date in store"}),
        StructField(
            "input_versions", StringType(), False, {"comment": "silver versions read (JSON)"}
        ),
        StructField(
            "definition_hash", StringType(), False, {"comment": "hash of the groups' config"}
        ),
        StructField("rows_written", LongType(), False, {"comment": "rows inserted or updated"}),
        StructField("rows_deleted", LongType(), False, {"comment": "rows deleted"}),
        StructField("users_recomputed", LongType(), True, {"comment": "users with changes"}),
        StructField("dates_recomputed", IntegerType(), True, {"comment": "as-of dates touched"}),
        StructField("started_at", TimestampType(), False, {"comment": "start (UTC)"}),
        StructField("seconds", LongType(), False, {"comment": "duration"}),
    ]
)


def declared_groups(settings: FeatureStoreSettings) -> list[FeatureGroup]:
    """The enabled groups, declared from their config blocks (no Spark needed)."""
    out = []
    for name, module in GROUPS.items():
        params = getattr(settings.groups, name)
        if params.enabled:
            out.append(module.declare(params))
    return out


def describe(settings: FeatureStoreSettings) -> list[dict]:
    """Every feature with its group, table, type and description."""
    return [
        {
            "group": g.name,
            "table": g.table,
            "feature": f.name,
            "type": f.dtype,
            "description": f.description,
        }
        for g in declared_groups(settings)
        for f in g.features
    ]


def table_schema(group: FeatureGroup) -> StructType:
    fields = [
        StructField("user_id", StringType(), False, {"comment": "pseudonymous subscriber id"}),
        StructField(
            "as_of_date",
            DateType(),
            False,
            {"comment": "snapshot at 00:00 UTC on this date; uses events of earlier days"},
        ),
    ]
    fields += [
        StructField(f.name, _spark_type(f.dtype), True, {"comment": f.description})
        for f in group.features
    ]
    fields.append(
        StructField(
            MONTH,
            StringType(),
            True,
            {"comment": "yyyy-MM of as_of_date (partition column)"},
        )
    )
    return StructType(fields)


def _spark_type(dtype: str):
    from pyspark.sql.types import _parse_datatype_string

    return _parse_datatype_string(dtype)


def _constraints(group: FeatureGroup) -> dict[str, str]:
    checks = {"as_of_month_of_date": f"{MONTH} = {MONTH_OF}"}
    for f in group.features:
        if "_share_" in f.name:
            checks[f"{f.name}_is_share"] = f"{f.name} IS NULL OR ({f.name} BETWEEN 0 AND 1)"
    return checks


@dataclass(frozen=True)
class BuildResult:
    mode: str
    first_as_of: dt.date | None
    last_as_of: dt.date | None
    rows_written: int
    rows_deleted: int
    users_recomputed: int | None
    dates_recomputed: int | None
    seconds: float
    input_tables: dict[str, int] = field(default_factory=dict)  # silver table -> version


class FeatureStore:
    def __init__(self, lakehouse: Lakehouse, settings: FeatureStoreSettings):
        self.lake = lakehouse
        self.spark = lakehouse.spark
        self.settings = settings
        self.groups = declared_groups(settings)
        self._persisted: list[DataFrame] = []

    # ---- tables --------------------------------------------------------------
    def create_tables(self) -> None:
        for g in self.groups:
            self.lake.create(
                g.table,
                table_schema(g),
                comment=g.description,
                partition_by=(MONTH,),
                constraints=_constraints(g),
                properties={"delta.enableChangeDataFeed": "true"},
                # A changed group definition means a full build: start it from the new schema.
                replace_if_changed=True,
            )
        self.lake.create(BUILDS, BUILDS_SCHEMA, comment="One row per feature-store build.")

    def definition_hash(self) -> str:
        """What the rows depend on: the groups' config and the first as-of date (not
        tuning knobs such as incremental_max_dates)."""
        settings = self.settings.model_dump(mode="json")
        defining = {"groups": settings["groups"], "first_as_of": settings["first_as_of"]}
        text = json.dumps(defining, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def last_build(self) -> dict | None:
        if not self.lake.exists(BUILDS):
            return None
        rows = (
            self.lake.read(BUILDS)
            .where("mode != 'skipped'")
            .orderBy(F.col("started_at").desc())
            .limit(1)
            .collect()
        )
        return rows[0].asDict() if rows else None

    # ---- inputs --------------------------------------------------------------
    def input_versions(self) -> dict[str, int]:
        return {name: self.lake.version(table) for name, table in INPUTS.items()}

    def _inputs(self, versions: dict[str, int]) -> dict[str, DataFrame]:
        return {name: self.lake.read(INPUTS[name], versions[name]) for name in INPUTS}

    @staticmethod
    def sources(inputs: dict[str, DataFrame]) -> dict[str, DataFrame]:
        return {
            "playback": activity.playback(inputs["playback"]),
            "payments": activity.payments(inputs["events"]),
        }

    def date_range(self, inputs: dict[str, DataFrame]) -> tuple[dt.date, dt.date] | None:
        """First and last as-of date the data supports: the day after the first and the
        last event date."""
        lo, hi = inputs["events"].agg(F.min("event_date"), F.max("event_date")).first()
        if lo is None:
            return None
        first = self.settings.first_as_of or lo + dt.timedelta(days=1)
        return max(first, lo + dt.timedelta(days=1)), hi + dt.timedelta(days=1)

    # ---- building ------------------------------------------------------------
    def build(self, run_id: str, full: bool = False) -> BuildResult:
        started = time.monotonic()
        started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with _phase("prepare"):
            self.create_tables()
            versions = self.input_versions()
            last = self.last_build()
            reason = self._full_build_reason(last, versions) if not full else "asked for (--full)"
            inputs = self._inputs(versions)
        if reason:
            log.info("full build: %s", reason)
            with _phase("date range"):
                span = self.date_range(inputs)
            if span is None:
                raise ValueError("silver.events is empty: ingest some data first")
            result = self._full(inputs, *span)
        elif last["input_versions"] == json.dumps(versions, sort_keys=True):
            log.info("nothing changed since build of %s: skipping", last["started_at"])
            result = BuildResult("skipped", last["first_as_of"], last["last_as_of"], 0, 0, 0, 0, 0)
        else:
            result = self._incremental(inputs, last, versions)
        for frame in self._persisted:
            frame.unpersist()
        self._persisted.clear()
        seconds = time.monotonic() - started
        tables = {INPUTS[name]: v for name, v in versions.items()}
        result = BuildResult(
            **{**result.__dict__, "seconds": round(seconds, 1), "input_tables": tables}
        )
        self._record(run_id, result, versions, started_at)
        return result

    def _full_build_reason(self, last: dict | None, versions: dict[str, int]) -> str | None:
        if last is None:
            return "no previous build"
        if last["definition_hash"] != self.definition_hash():
            return "feature definitions changed"
        before = json.loads(last["input_versions"])
        if before.get("fixtures") != versions["fixtures"]:
            return "the fixture calendar changed"
        for name in ("playback", "events", "subscriptions"):
            if versions[name] < before.get(name, -1):
                return f"{INPUTS[name]} is older than the last build read (restored?)"
        return None

    def frames(self, inputs, spine: DataFrame, dates=None) -> dict[str, DataFrame]:
        """Feature rows per group table for the given spine rows."""
        spine = spine.persist(StorageLevel.MEMORY_AND_DISK)
        self._persisted.append(spine)
        frame = compute.aggregate(spine, self.sources(inputs), self.groups, dates)
        frame = compute.enrich(frame, self.groups, {"fixtures": inputs["fixtures"]})
        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        self._persisted.append(frame)
        return {g.table: compute.group_frame(frame, g) for g in self.groups}

    def _full(self, inputs, first: dt.date, last: dt.date) -> BuildResult:
        spine = subscriber_spine(inputs["subscriptions"], first, last)
        frames = self.frames(inputs, spine)
        t0 = time.monotonic()
        log.info("computed %d rows in %.1fs", self._persisted[-1].count(), time.monotonic() - t0)

        def write(table: str) -> int:
            t0 = time.monotonic()
            self._overwrite(table, frames[table])
            rows = self._rows_of_last_commit(table)
            log.info("%s: %d rows in %.1fs", table, rows, time.monotonic() - t0)
            return rows

        rows = sum(in_parallel(write, list(frames), WRITERS))
        return BuildResult("full", first, last, rows, 0, None, None, 0)

    def _overwrite(self, table: str, df: DataFrame) -> None:
        df = df.withColumn(MONTH, F.expr(MONTH_OF))
        writer = df.repartition(MONTH).write.format("delta").mode("overwrite")
        if self.lake.settings.mode == "catalog":
            writer.saveAsTable(self.lake.name(table))
        else:
            writer.save(self.lake.location(table))

    def _rows_of_last_commit(self, table: str) -> int:
        _, metrics = self.lake.last_commit(table)
        return int(metrics.get("numOutputRows", 0))

    def _incremental(self, inputs, last: dict, versions) -> BuildResult:
        first, old_end = last["first_as_of"], last["last_as_of"]
        before = json.loads(last["input_versions"])
        with _phase("changes"):
            changed, newest_day = self._changed_users(before, versions, first)
        # The store reaches the day after the newest event date seen (never backwards).
        new_end = max(old_end, newest_day + dt.timedelta(days=1)) if newest_day else old_end
        # Every user on the spine gets the new as-of dates; changed users also get
        # their dates from the first one their changes reach.
        recent_from = new_end - dt.timedelta(days=self.settings.incremental_max_dates - 1)
        new_from = max(old_end + dt.timedelta(days=1), first)
        scope_from = new_from
        if changed is not None:
            earliest = changed.agg(F.min("from_date")).first()[0]
            scope_from = max(min(scope_from, earliest or scope_from), first)
        spine = subscriber_spine(inputs["subscriptions"], max(scope_from, first), new_end)
        froms = (
            spine.select("user_id").distinct().withColumn("_new_from", F.lit(new_from).cast("date"))
        )
        if changed is not None:
            froms = froms.join(changed, "user_id", "full").select(
                "user_id",
                F.least(
                    F.coalesce("_new_from", F.lit(new_from).cast("date")),
                    F.coalesce("from_date", F.lit(new_from).cast("date")),
                ).alias("_from"),
            )
        else:
            froms = froms.withColumnRenamed("_new_from", "_from")
        froms = froms.withColumn("_from", F.greatest("_from", F.lit(first).cast("date")))
        froms = froms.persist()
        scoped = spine.join(froms, "user_id").where(F.col("as_of_date") >= F.col("_from"))
        near = scoped.where(F.col("_from") >= F.lit(recent_from).cast("date")).drop("_from")
        far = scoped.where(F.col("_from") < F.lit(recent_from).cast("date")).drop("_from")
        with _phase("scope"):
            near_dates = [
                r[0] for r in near.select("as_of_date").distinct().orderBy("as_of_date").collect()
            ]
        parts = []
        if near_dates:
            parts.append(self.frames(inputs, near, dates=near_dates))
        far_users = far.select("user_id").distinct().count()
        if far_users:
            log.info(
                "%d users changed further back than %s: dense rebuild for them",
                far_users,
                recent_from,
            )
            parts.append(self.frames(inputs, far))
        # Rows to delete: every (user, date) in scope that has no spine row any more.
        span_rows = froms.where(F.col("_from") <= F.lit(new_end)).select(
            "user_id",
            F.explode(F.sequence("_from", F.lit(new_end).cast("date"))).alias("as_of_date"),
        )
        gone = span_rows.join(spine.select(*KEYS), KEYS, "left_anti")
        gone = gone.persist()
        self._persisted.append(gone)

        def merge(g: FeatureGroup) -> tuple[int, int]:
            rows = None
            for p in parts:
                rows = p[g.table] if rows is None else rows.unionByName(p[g.table])
            if rows is None:
                rows = self.spark.createDataFrame([], table_schema(g))
            source = rows.withColumn("_delete", F.lit(False)).unionByName(
                gone.withColumn("_delete", F.lit(True)), allowMissingColumns=True
            )
            return self._merge(g, source, min(scope_from, new_from))

        with _phase(f"compute and merge {len(self.groups)} tables"):
            results = in_parallel(merge, self.groups, WRITERS)
        written = sum(r[0] for r in results)
        deleted = sum(r[1] for r in results)
        dates = (new_end - scope_from).days + 1
        users = froms.count()
        froms.unpersist()
        return BuildResult("incremental", first, new_end, written, deleted, users, dates, 0)

    def _merge(self, group: FeatureGroup, source: DataFrame, since: dt.date) -> tuple[int, int]:
        target = self.lake.delta(group.table)
        names = group.feature_names
        changed = " OR ".join(f"NOT (s.`{n}` <=> t.`{n}`)" for n in names) or "false"
        condition = (
            f"t.{MONTH} >= '{since:%Y-%m}' AND t.as_of_date >= DATE'{since.isoformat()}' "
            "AND t.user_id = s.user_id AND t.as_of_date = s.as_of_date"
        )
        before = self.lake.version(group.table)
        (
            target.alias("t")
            .merge(source.alias("s"), condition)
            .whenMatchedDelete(condition="s._delete")
            .whenMatchedUpdate(
                condition=f"NOT s._delete AND ({changed})",
                set={n: f"s.`{n}`" for n in names},
            )
            .whenNotMatchedInsert(
                condition="NOT s._delete",
                values={
                    **{c: f"s.`{c}`" for c in [*KEYS, *names]},
                    MONTH: MONTH_OF.replace("as_of_date", "s.as_of_date"),
                },
            )
            .execute()
        )
        version, m = self.lake.last_commit(group.table)
        if version == before:
            return 0, 0
        return (
            int(m.get("numTargetRowsInserted", 0)) + int(m.get("numTargetRowsUpdated", 0)),
            int(m.get("numTargetRowsDeleted", 0)),
        )

    def _changed_users(self, before: dict, versions: dict, first: dt.date):
        """(user_id, from_date) for each changed user: the first as-of date its changes
        reach; and the newest event date among the changed events (or None)."""
        parts = []
        for name, table in (("playback", INPUTS["playback"]), ("events", INPUTS["events"])):
            if versions[name] <= before[name]:
                continue
            changes = self.lake.changes(table, before[name] + 1, versions[name])
            parts.append(
                changes.select(
                    "user_id",
                    "event_date",
                    F.lit(name).alias("_source"),
                    "event_type" if name == "events" else F.lit("playback").alias("event_type"),
                )
            )
        if versions["subscriptions"] > before["subscriptions"]:
            spells = _changed_spells(
                self.lake.read(INPUTS["subscriptions"], before["subscriptions"]),
                self.lake.read(INPUTS["subscriptions"], versions["subscriptions"]),
            )
        else:
            spells = None
        newest = None
        users = []
        if parts:
            rows = parts[0]
            for p in parts[1:]:
                rows = rows.unionByName(p)
            rows = rows.persist()
            self._persisted.append(rows)
            newest = rows.agg(F.max("event_date")).first()[0]
            # Payments and playbacks feed the aggregates; other events only the spells.
            relevant = rows.where(F.col("event_type").isin("playback", "payment"))
            users.append(
                relevant.groupBy("user_id").agg(
                    F.date_add(F.min("event_date"), 1).alias("from_date")
                )
            )
        if spells is not None:
            users.append(spells)
        if not users:
            return None, newest
        out = users[0]
        for u in users[1:]:
            out = out.unionByName(u)
        return out.groupBy("user_id").agg(F.min("from_date").alias("from_date")), newest

    def _record(self, run_id: str, r: BuildResult, versions: dict, started_at) -> None:
        row = (
            run_id,
            r.mode,
            r.first_as_of,
            r.last_as_of,
            json.dumps(versions, sort_keys=True),
            self.definition_hash(),
            int(r.rows_written),
            int(r.rows_deleted),
            r.users_recomputed,
            r.dates_recomputed,
            started_at,
            int(round(r.seconds)),
        )
        self.lake.append(BUILDS, self.spark.createDataFrame([row], BUILDS_SCHEMA))


@contextmanager
def _phase(name: str):
    """Log how long a phase of a build took."""
    started = time.perf_counter()
    yield
    log.info("features: %s %.1fs", name, time.perf_counter() - started)


_SPELL_START_FIELDS = (
    "started_at",
    "first_seen_at",
    "spell_number",
    "plan",
    "price",
    "currency",
    "acquisition_channel",
    "promo_code",
    "market",
    "user_id",
)
_SPELL_END_FIELDS = ("cancelled_at", "ended_at")


def _changed_spells(old: DataFrame, new: DataFrame) -> DataFrame:
    """Users whose spells changed between two versions of silver.subscriptions, with the
    first as-of date the change can reach: the spell's start if its start or terms
    changed (or it is new or gone), else the earliest old or new cancel/end date."""
    o = old.select(
        "subscription_id",
        *[F.col(c).alias(f"o_{c}") for c in _SPELL_START_FIELDS + _SPELL_END_FIELDS],
    )
    n = new.select(
        "subscription_id",
        *[F.col(c).alias(f"n_{c}") for c in _SPELL_START_FIELDS + _SPELL_END_FIELDS],
    )
    j = o.join(n, "subscription_id", "full")
    start_changed = F.lit(False)
    for c in _SPELL_START_FIELDS:
        start_changed = start_changed | ~F.col(f"o_{c}").eqNullSafe(F.col(f"n_{c}"))
    end_changed = F.lit(False)
    for c in _SPELL_END_FIELDS:
        end_changed = end_changed | ~F.col(f"o_{c}").eqNullSafe(F.col(f"n_{c}"))
    start = F.least(
        F.to_date(F.coalesce("o_started_at", "o_first_seen_at")),
        F.to_date(F.coalesce("n_started_at", "n_first_seen_at")),
    )
    end = F.least(*[F.to_date(F.col(f"{side}_{c}")) for side in "on" for c in _SPELL_END_FIELDS])
    return j.where(start_changed | end_changed).select(
        F.coalesce("n_user_id", "o_user_id").alias("user_id"),
        F.when(start_changed, start).otherwise(end).alias("from_date"),
    )
