"""Delta tables by logical name (``silver.events``), locally and on clusters.

Locally (``mode: path``) a table lives at ``<root>/<layer>/<table>`` and is registered
by name in every session, so analysts can ``SELECT * FROM silver.events`` and DuckDB
or polars can read the same folder. On clusters (``mode: catalog``) tables are managed
catalog tables named ``<catalog_prefix><layer>.<table>`` (Glue or Unity Catalog).

This module is the one writer: create with comments and constraints, MERGE on keys,
append, replace partitions. Jobs call it; features/ and models/ never do I/O.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fanbase.config import LakehouseSettings

log = logging.getLogger(__name__)


# (Spark application, table name) -> the folder this process last pointed the name at:
# registering again is a catalog lookup and a DESCRIBE per table, on every create.
_POINTED: dict[tuple[str, str], str] = {}


class TableLayoutError(Exception):
    """An existing table does not have the layout the code writes."""


@dataclass(frozen=True)
class MergeResult:
    inserted: int
    updated: int
    version: int


class Lakehouse:
    def __init__(self, spark, settings: LakehouseSettings):
        self.spark = spark
        self.settings = settings

    # ---- names -------------------------------------------------------------
    def name(self, table: str) -> str:
        """The SQL name of a logical table ``layer.table``."""
        layer, _, short = _split(table)
        if self.settings.mode == "catalog":
            return f"{self.settings.catalog_prefix}{layer}.{short}"
        return f"{layer}.{short}"

    def ref(self, table: str) -> str:
        """How SQL in this module addresses the table: by path locally, by name on clusters."""
        if self.settings.mode == "path":
            return f"delta.`{self.location(table)}`"
        return self.name(table)

    def location(self, table: str) -> str:
        layer, _, short = _split(table)
        return f"{_absolute(self.settings.root)}/{layer}/{short}"

    # ---- reading -----------------------------------------------------------
    def exists(self, table: str) -> bool:
        if self.settings.mode == "catalog":
            return self.spark.catalog.tableExists(self.name(table))
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(self.spark, self.location(table))

    def read(self, table: str, version: int | None = None):
        if self.settings.mode == "path":
            reader = self.spark.read.format("delta")
            if version is not None:
                reader = reader.option("versionAsOf", version)
            return reader.load(self.location(table))
        if version is not None:
            return self.spark.sql(f"SELECT * FROM {self.name(table)} VERSION AS OF {version}")
        return self.spark.table(self.name(table))

    def delta(self, table: str):
        from delta.tables import DeltaTable

        if self.settings.mode == "path":
            return DeltaTable.forPath(self.spark, self.location(table))
        return DeltaTable.forName(self.spark, self.name(table))

    def changes(self, table: str, start: int, end: int):
        """Rows changed in versions ``start..end`` (change data feed; ``_change_type``)."""
        reader = (
            self.spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", start)
            .option("endingVersion", end)
        )
        if self.settings.mode == "path":
            return reader.load(self.location(table))
        return reader.table(self.name(table))

    def tables(self, layer: str) -> list[str]:
        """The ``layer.table`` names of one layer's tables, sorted."""
        if self.settings.mode == "catalog":
            database = f"{self.settings.catalog_prefix}{layer}"
            if not self.spark.catalog.databaseExists(database):
                return []
            return sorted(f"{layer}.{t.name}" for t in self.spark.catalog.listTables(database))
        root = Path(_absolute(self.settings.root)) / layer
        return [f"{layer}.{log.parent.name}" for log in sorted(root.glob("*/_delta_log"))]

    def version(self, table: str) -> int:
        """The table's current version. Locally it is read from the Delta log on the
        driver (~10 ms); ``history(1)`` is a Spark job (~0.3 s), and every MERGE and
        most jobs' lineage ask for it. Elsewhere, or where that read fails, history."""
        found = self._from_log(table, _version)
        if found is not None:
            return found
        return int(self.delta(table).history(1).select("version").first()[0])

    def _from_log(self, table: str, read):
        """``read(snapshot)`` of the table's Delta log snapshot on the driver (path mode),
        or None, and the caller asks Spark: in catalog mode, where no table is (Spark's
        answer is the usual "not a Delta table"), or where these Delta internals differ
        (another release, Databricks' own Delta, Spark Connect)."""
        if self.settings.mode != "path":
            return None
        try:
            snapshot = _log_snapshot(self.spark, self.location(table))
            if snapshot is None or int(snapshot.version()) < 0:
                return None
            return read(snapshot)
        except Exception:  # py4j's errors: a method this Delta does not have
            log.debug("%s: Delta log unreadable, asking Spark", table, exc_info=True)
            return None

    # ---- creating ----------------------------------------------------------
    def create(
        self,
        table: str,
        schema,
        comment: str = "",
        partition_by: Iterable[str] = (),
        constraints: dict[str, str] | None = None,
        properties: dict[str, str] | None = None,
        replace_if_changed: bool = False,
        add_columns: bool = False,
    ) -> None:
        """Create the table if missing, with column comments, CHECKs and properties.

        Column comments come from each StructField's ``metadata["comment"]``. NOT NULL
        comes from ``nullable=False``. Safe to call on every run: an existing table only
        gets the constraints it lacks (a crash may have come between create and ALTER).
        ``replace_if_changed``: an existing table whose columns differ from ``schema``
        is emptied and takes the new columns (an overwrite that keeps its history), for
        tables that are rebuilt whole when their definition changes. ``add_columns``: an
        existing table gets the nullable columns ``schema`` adds (its rows have null
        there), so a log table can grow a column without losing its rows.
        """
        if self.exists(table):
            detail = None  # DESCRIBE DETAIL (partitioning, properties), read at most once
            if replace_if_changed and self._columns_differ(table, schema):
                self._redefine(table, schema, list(partition_by))
            elif add_columns:
                self._add_columns(table, schema)
            else:
                detail = self._detail(table)
                self._check_layout(table, schema, list(partition_by), detail)
            if constraints or properties:
                detail = detail or self._detail(table)
                self._add_constraints(table, constraints or {}, detail)
                self._set_properties(table, properties or {}, detail)
            if self.settings.mode == "path":
                self._register(table)
            return
        self._ensure_database(table)
        columns = ",\n  ".join(_column_ddl(f) for f in schema.fields)
        ddl = f"CREATE TABLE IF NOT EXISTS {self.ref(table)} (\n  {columns}\n) USING DELTA"
        parts = list(partition_by)
        if parts:
            ddl += f"\nPARTITIONED BY ({', '.join(parts)})"
        if comment:
            ddl += f"\nCOMMENT '{_quote(comment)}'"
        # CHECK constraints go in with the CREATE (one commit) rather than one ALTER each.
        props = dict(properties or {})
        props.update({f"delta.constraints.{k.lower()}": v for k, v in (constraints or {}).items()})
        if props:
            listed = ", ".join(f"'{k}' = '{_quote(v)}'" for k, v in props.items())
            ddl += f"\nTBLPROPERTIES ({listed})"
        self.spark.sql(ddl)
        if self.settings.mode == "path":
            self._register(table)

    def _add_columns(self, table: str, schema) -> None:
        have = {f.name for f in self.read(table).schema.fields}
        new = [f for f in schema.fields if f.name not in have]
        if not new:
            return
        required = [f.name for f in new if not f.nullable]
        if required:
            raise ValueError(
                f"{table}: new columns {required} are NOT NULL, which existing rows cannot "
                "be; declare them nullable or rebuild the table"
            )
        listed = ", ".join(_column_ddl(f) for f in new)
        self.spark.sql(f"ALTER TABLE {self.ref(table)} ADD COLUMNS ({listed})")

    def _check_layout(self, table: str, schema, partition_by: list[str], detail) -> None:
        """A table kept across runs must have the columns and partitioning this code
        writes; one made by an older fanbase is a clear error, not a failed MERGE."""
        have = {f.name for f in self.read(table).schema.fields}
        missing = [f.name for f in schema.fields if f.name not in have]
        partitions = list(detail["partitionColumns"])
        if missing or partitions != partition_by:
            raise TableLayoutError(
                f"{table} at {self.location(table)} was written by an older fanbase "
                f"(partitioned by {partitions or 'nothing'}, lacking {missing or 'nothing'}; "
                f"expected partitioning {partition_by or 'none'}). Rebuild it: move the table "
                "aside and rerun its job (silver: `fanbase ingest --from-bronze` replays "
                "every landed line)"
            )

    def _columns_differ(self, table: str, schema) -> bool:
        existing = [(f.name, f.dataType.simpleString()) for f in self.read(table).schema.fields]
        declared = [(f.name, f.dataType.simpleString()) for f in schema.fields]
        return existing != declared

    def _redefine(self, table: str, schema, partition_by: list[str]) -> None:
        # Old CHECKs may name columns that are gone: drop them all; create() adds back
        # the ones declared now.
        for row in self.spark.sql(f"SHOW TBLPROPERTIES {self.ref(table)}").collect():
            if row["key"].startswith("delta.constraints."):
                name = row["key"][len("delta.constraints.") :]
                self.spark.sql(f"ALTER TABLE {self.ref(table)} DROP CONSTRAINT {name}")
        # Column comments travel in the schema's metadata; CHECKs stay table properties.
        writer = (
            self.spark.createDataFrame([], schema)
            .write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .partitionBy(*partition_by)
        )
        if self.settings.mode == "catalog":
            writer.saveAsTable(self.name(table))
        else:
            writer.save(self.location(table))
        # A DataFrame write makes every column nullable and Delta cannot set NOT NULL
        # on an existing column, so required columns get a CHECK instead.
        required = {
            f"{f.name}_not_null": f"{f.name} IS NOT NULL" for f in schema.fields if not f.nullable
        }
        self._add_constraints(table, required)

    def _add_constraints(self, table: str, constraints: dict[str, str], detail=None) -> None:
        if not constraints:
            return
        props = (detail or self._detail(table))["properties"] or {}
        for cname, expression in constraints.items():
            if f"delta.constraints.{cname.lower()}" not in props:
                self.spark.sql(
                    f"ALTER TABLE {self.ref(table)} ADD CONSTRAINT {cname} CHECK ({expression})"
                )

    def _set_properties(self, table: str, properties: dict[str, str], detail) -> None:
        """Give an existing table the properties it was declared with since (say, which
        columns Delta keeps statistics of); the files already written keep theirs."""
        have = detail["properties"] or {}
        changed = {k: v for k, v in properties.items() if have.get(k) != v}
        if changed:
            listed = ", ".join(f"'{k}' = '{_quote(v)}'" for k, v in changed.items())
            self.spark.sql(f"ALTER TABLE {self.ref(table)} SET TBLPROPERTIES ({listed})")

    def _ensure_database(self, table: str) -> None:
        layer, _, _ = _split(table)
        if self.settings.mode == "catalog":
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {self.settings.catalog_prefix}{layer}")
        else:
            self.spark.sql(
                f"CREATE DATABASE IF NOT EXISTS {layer} "
                f"LOCATION '{_absolute(self.settings.root)}/{layer}'"
            )

    def register_all(self) -> list[str]:
        """Path mode: make every Delta table under the root reachable by name."""
        if self.settings.mode != "path":
            return []
        root = Path(_absolute(self.settings.root))
        found = []
        for log_dir in sorted(root.glob("*/*/_delta_log")):
            table = f"{log_dir.parent.parent.name}.{log_dir.parent.name}"
            self._register(table, force=True)
            found.append(table)
        return found

    def _register(self, table: str, force: bool = False) -> None:
        """Point the session's catalog name at this lakehouse's folder for the table
        (unless this process did so already; ``force``: unless the name is also still
        in the catalog, which something else may have dropped)."""
        name, location = self.name(table), self.location(table)
        key = (self.spark.sparkContext.applicationId, name)
        if _POINTED.get(key) == location and (not force or self.spark.catalog.tableExists(name)):
            return  # no DESCRIBE DETAIL: every step of `fanbase run` registers every table
        self._ensure_database(table)
        if self.spark.catalog.tableExists(name):
            current = self.spark.sql(f"DESCRIBE DETAIL {name}").first()["location"]
            if current.removeprefix("file:") != location:
                self.spark.sql(f"DROP TABLE {name}")  # external: only the name goes
                self.spark.sql(f"CREATE TABLE {name} USING DELTA LOCATION '{location}'")
        else:
            self.spark.sql(f"CREATE TABLE {name} USING DELTA LOCATION '{location}'")
        _POINTED[key] = location

    # ---- writing -----------------------------------------------------------
    def merge(
        self,
        table: str,
        df,
        keys: list[str],
        update: bool = True,
        update_condition: str | None = None,
        insert: bool = True,
        set_on_match: dict[str, str] | None = None,
        partition_filter: str | None = None,
    ) -> MergeResult:
        """MERGE ``df`` (alias ``s``) into the table (alias ``t``) on ``keys``.

        Inserts new keys (unless ``insert=False``); on a match updates every column
        (``update``), only where ``update_condition`` holds, or only the columns of
        ``set_on_match``. ``partition_filter`` (SQL on ``t``) prunes the files read.
        """
        if insert and self._is_empty(table):
            # Nothing to match against: an append does the same in one pass.
            return self._append_counted(table, df)
        target = self.delta(table)
        condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        if partition_filter:
            condition = f"({partition_filter}) AND {condition}"
        before = self.version(table)
        builder = target.alias("t").merge(df.alias("s"), condition)
        if set_on_match:
            builder = builder.whenMatchedUpdate(condition=update_condition, set=set_on_match)
        elif update:
            builder = builder.whenMatchedUpdateAll(condition=update_condition)
        if insert:
            builder = builder.whenNotMatchedInsertAll()
        builder.execute()
        version, metrics = self.last_commit(table)
        if version == before:  # Delta commits nothing when nothing changed
            return MergeResult(inserted=0, updated=0, version=before)
        return MergeResult(
            inserted=int(metrics.get("numTargetRowsInserted", 0)),
            updated=int(metrics.get("numTargetRowsUpdated", 0)),
            version=version,
        )

    def last_commit(self, table: str) -> tuple[int, dict[str, str]]:
        """The table's newest version and that commit's operation metrics. For a local
        table both come from its Delta log on the driver: the version from the snapshot,
        the metrics from the commit's JSON file, where the Delta protocol puts them
        (``commitInfo.operationMetrics``). Elsewhere ``history(1)``, a Spark job."""
        version = self._from_log(table, _version)
        commit = None if version is None else _log_file(self.location(table), version, "json")
        if commit is not None:
            with contextlib.suppress(OSError, ValueError):
                for line in commit.read_text().splitlines():
                    info = json.loads(line).get("commitInfo")
                    if info is not None:
                        return version, dict(info.get("operationMetrics") or {})
        last = self.delta(table).history(1).collect()[0]
        return int(last["version"]), dict(last["operationMetrics"] or {})

    def partition_columns(self, table: str) -> list[str]:
        return self._detail(table)["partitionColumns"]

    def _detail(self, table: str) -> dict:
        """The table's partitionColumns and properties (its CHECKs among them), as
        DESCRIBE DETAIL has them. Every append and every job's create asks, so a local
        table's come from its Delta log snapshot on the driver, not from a Spark job."""

        def layout(snapshot) -> dict:
            converters = self.spark._jvm.scala.collection.JavaConverters
            metadata = snapshot.metadata()
            columns = metadata.partitionColumns()
            return {
                "partitionColumns": [str(columns.apply(i)) for i in range(columns.size())],
                "properties": dict(converters.mapAsJavaMap(metadata.configuration())),
            }

        found = self._from_log(table, layout)
        if found is not None:
            return found
        row = self.delta(table).detail().first()
        return {
            "partitionColumns": list(row["partitionColumns"]),
            "properties": dict(row["properties"] or {}),
        }

    def _is_empty(self, table: str) -> bool:
        location = self.location(table)

        def count(snapshot) -> int:
            # The snapshot's own count reconstructs the table's state (three Spark jobs
            # on a table just created); the checksum file has it for nothing.
            found = _checksum_files(location, int(snapshot.version()))
            return int(snapshot.numOfFiles()) if found is None else found

        files = self._from_log(table, count)
        if files is None:
            files = int(self.delta(table).detail().select("numFiles").first()[0])
        return files == 0

    def _append_counted(self, table: str, df) -> MergeResult:
        before = self.version(table)
        self.append(table, df)
        version, metrics = self.last_commit(table)
        if version == before:
            return MergeResult(inserted=0, updated=0, version=before)
        return MergeResult(
            inserted=int(metrics.get("numOutputRows", 0)), updated=0, version=version
        )

    def append(self, table: str, df, spread: bool = False) -> None:
        """Append rows; a partitioned table gets one file per partition touched, not one
        per task and partition (small files are what make Delta slow). ``spread``: keep
        one file per task instead, for a batch that fills one partition (gathering it
        would leave one task to write it all)."""
        partitions = [] if spread else self.partition_columns(table)
        if partitions:
            df = df.repartition(*partitions)
        writer = df.write.format("delta").mode("append")
        if self.settings.mode == "catalog":
            writer.saveAsTable(self.name(table))
        else:
            writer.save(self.location(table))

    def replace_where(self, table: str, df, predicate: str) -> None:
        """Atomically replace the rows matching ``predicate`` (a partition slice)."""
        writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
        if self.settings.mode == "catalog":
            writer.saveAsTable(self.name(table))
        else:
            writer.save(self.location(table))


def _log_snapshot(spark, location: str):
    """Open-source Delta's log snapshot, read on the driver through py4j (no Spark job);
    its version is -1 where no table is."""
    none = spark._jvm.scala.Option.empty()
    delta_log = spark._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(
        spark._jsparkSession, location
    )
    return delta_log.update(False, none, none)


def _checksum_files(location: str, version: int) -> int | None:
    """The table's file count at ``version`` from the checksum Delta writes beside each
    commit (``_delta_log/<version>.crc``, JSON with ``numFiles``); None where there is
    none to read (not a local path, a commit whose checksum was never written)."""
    crc = _log_file(location, version, "crc")
    try:
        return None if crc is None else int(json.loads(crc.read_text())["numFiles"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _log_file(location: str, version: int, kind: str) -> Path | None:
    """A local table's log file of ``version`` (``json``: the commit, ``crc``: its
    checksum); None for a table that is not on a local path."""
    if not location.startswith("/"):
        return None
    return Path(location) / "_delta_log" / f"{version:020d}.{kind}"


def _version(snapshot) -> int:
    return int(snapshot.version())


def _split(table: str) -> tuple[str, str, str]:
    layer, dot, short = table.partition(".")
    if not dot or not layer or not short or "." in short:
        raise ValueError(f"table names are layer.table, got {table!r}")
    return layer, dot, short


def _absolute(root: str) -> str:
    if "://" in root or root.startswith("dbfs:"):
        return root.rstrip("/")
    return str(Path(root).resolve())


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def sql_name(column: str) -> str:
    """A column name quoted for Spark SQL."""
    return "`" + column.replace("`", "``") + "`"


def sql_literal(value) -> str:
    """A Spark SQL literal of a bool, number, date or string; a float parses back to
    exactly the same double."""
    import datetime as dt
    import math

    if isinstance(value, bool | int):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value!r}D" if math.isfinite(value) else f"cast('{value}' as double)"
    if isinstance(value, dt.date):
        return f"DATE'{value.isoformat()}'"
    return f"'{_quote(str(value))}'"


def sql_in(column: str, values: Iterable):
    """``column IN (values...)`` as a Column from SQL text: one py4j call, where
    ``Column.isin`` makes one per value (a year of file names or landing dates took
    seconds to build)."""
    from pyspark.sql import functions as F

    listed = ", ".join(map(sql_literal, values))
    return F.expr(f"{sql_name(column)} IN ({listed})") if listed else F.lit(False)


def _column_ddl(field) -> str:
    ddl = f"`{field.name}` {field.dataType.simpleString()}"
    if not field.nullable:
        ddl += " NOT NULL"
    comment = field.metadata.get("comment") if field.metadata else None
    if comment:
        ddl += f" COMMENT '{_quote(comment)}'"
    return ddl
