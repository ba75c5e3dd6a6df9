"""Raw lines in, typed rows or rejections out: the Spark side of the contract.

``read_lines`` turns a raw folder into (landing_date, source_file, line_number, line,
valid_utf8) rows; ``validate_lines`` applies the pure-Python validator of the source per
partition (``mapInPandas``) with an explicit output schema; ``flag_unknown_fixtures``
rejects playbacks whose fixture is not in the calendar, by a join.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StringType, StructField, StructType

from fanbase.ingest.contract import NOT_UTF8, VALIDATORS, Reference, Rejected
from fanbase.ingest.tables import LINE_KEY, SILVER_BY_SOURCE

# Where each source lives under the raw root (EVENTS.md), and whether it has date= folders.
SOURCE_DIRS = {
    "events": ("events", True),
    "social": ("social", True),
    "labels": ("labels/social_sentiment", False),
    "fixtures": ("reference/fixtures", False),
    "markets": ("reference/markets", False),
}
LINE_COLUMNS = ["landing_date", "source_file", "line_number", "line", "valid_utf8"]
REJECT_FIELDS = [
    StructField("reject_reason", StringType()),
    StructField("reject_detail", StringType()),
]
# Contract field -> silver column where the names differ.
RENAMED = {"reason": "cancel_reason"}
# Columns silver derives itself rather than reads from the line.
DERIVED = {"event_date", "post_date"}


class RawLayoutError(Exception):
    """The raw root does not hold what EVENTS.md describes."""


def source_path(raw_root: str, source: str) -> str:
    return f"{raw_root.rstrip('/')}/{SOURCE_DIRS[source][0]}"


@dataclass(frozen=True)
class RawFile:
    source: str
    landing_date: dt.date | None
    source_file: str  # relative to the raw root, as read_lines names it
    size_bytes: int
    modified_ms: int  # modification time, epoch milliseconds


def list_raw_files(spark: SparkSession, raw_root: str, source: str) -> list[RawFile]:
    """The files Spark's text reader would read for a source, from a file system
    listing (Hadoop's, so local, s3:// and dbfs:/ alike): names, sizes, modification
    times, no content. Hidden files (``_``/``.``) are skipped, as Spark skips them."""
    folder, dated = SOURCE_DIRS[source]
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(source_path(raw_root, source))
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        raise RawLayoutError(f"{path}: not found; EVENTS.md expects {folder}/ under the raw root")
    pattern = re.compile(rf".*/({folder}/(?:date=(\d{{4}}-\d{{2}}-\d{{2}})/)?[^/]+)$")
    found = fs.listFiles(path, True)
    out = []
    while found.hasNext():
        status = found.next()
        name = status.getPath().toString()
        match = pattern.match(name)
        parts = name.split("/")
        if match is None or any(p.startswith(("_", ".")) for p in parts[-2:]):
            continue
        if dated and match.group(2) is None:
            raise RawLayoutError(f"{name}: expected date=YYYY-MM-DD/ folders (landing dates)")
        day = dt.date.fromisoformat(match.group(2)) if match.group(2) else None
        out.append(
            RawFile(source, day, match.group(1), status.getLen(), status.getModificationTime())
        )
    return out


def read_lines(
    spark: SparkSession, raw_root: str, source: str, landing_dates: list[dt.date] | None
) -> DataFrame:
    """Every line of a source (for the given landing dates), numbered within its file."""
    folder, dated = SOURCE_DIRS[source]
    path = source_path(raw_root, source)
    try:
        raw = spark.read.format("text").load(path)
    except Exception as err:  # Spark says PATH_NOT_FOUND for a missing folder
        if "PATH_NOT_FOUND" in str(err) or "Path does not exist" in str(err):
            raise RawLayoutError(
                f"{path}: not found; EVENTS.md expects {folder}/ under the raw root"
            ) from None
        raise
    if dated:
        if "date" not in raw.columns:
            raise RawLayoutError(f"{path}: expected date=YYYY-MM-DD/ folders (landing dates)")
        raw = raw.withColumn("landing_date", F.col("date").cast("date")).drop("date")
        if landing_dates is not None:
            raw = raw.where(F.col("landing_date").isin(landing_dates))
    else:
        raw = raw.withColumn("landing_date", F.lit(None).cast("date"))
    pattern = rf".*/({folder}{'/date=[^/]+' if dated else ''}/[^/]+)$"
    raw = raw.withColumn("source_file", F.regexp_extract(F.input_file_name(), pattern, 1))
    # Lines of one file keep their order in monotonically increasing ids, also when a
    # large uncompressed file is split across partitions.
    order = Window.partitionBy("source_file").orderBy(F.monotonically_increasing_id())
    # The text reader passes bytes through untouched; decoding replaces bytes that are
    # not UTF-8 with U+FFFD, and comparing with the original tells which lines had any.
    raw_bytes = F.col("value").cast("binary")
    decoded = F.decode(raw_bytes, "UTF-8")
    return raw.select(
        "landing_date",
        "source_file",
        F.row_number().over(order).cast("long").alias("line_number"),
        decoded.alias("line"),
        (F.encode(decoded, "UTF-8") == raw_bytes).alias("valid_utf8"),
    )


def parsed_schema(source: str) -> StructType:
    """Line key + the silver columns read from the line + the rejection reason."""
    spec = SILVER_BY_SOURCE[source]
    key = {f.name for f in LINE_KEY}
    fields = [f for f in LINE_KEY]
    fields.append(StructField("line", StringType()))
    fields.append(StructField("valid_utf8", BooleanType()))
    fields += [f for f in spec.schema.fields if f.name not in key and f.name not in DERIVED]
    return StructType(
        [StructField(f.name, f.dataType, True, f.metadata) for f in fields] + REJECT_FIELDS
    )


def validate_partition(
    batches: Iterator[pd.DataFrame], source: str, reference: Reference, columns: list[str]
) -> Iterator[pd.DataFrame]:
    """Plain pandas: validate each line into the typed columns or a reason.

    The raw text is kept on every row: a line accepted here can still be rejected by
    the fixture join, and the quarantine keeps lines as landed."""
    validator = VALIDATORS[source]
    wanted = [c for c in columns if c not in ("reject_reason", "reject_detail", *LINE_COLUMNS)]
    contract_name = {v: k for k, v in RENAMED.items()}
    for batch in batches:
        out: dict[str, list] = {c: [] for c in columns}
        for landing, source_file, number, line, utf8 in zip(
            batch["landing_date"],
            batch["source_file"],
            batch["line_number"],
            batch["line"],
            batch["valid_utf8"],
        ):
            landing_date = None if landing is None or pd.isna(landing) else _as_date(landing)
            if utf8:
                result = validator(line if line is not None else "", landing_date, reference)
            else:
                result = NOT_UTF8
            out["landing_date"].append(landing_date)
            out["source_file"].append(source_file)
            out["line_number"].append(number)
            out["line"].append(line)
            out["valid_utf8"].append(bool(utf8))
            if isinstance(result, Rejected):
                out["reject_reason"].append(result.reason)
                out["reject_detail"].append(result.detail)
                for c in wanted:
                    out[c].append(None)
            else:
                out["reject_reason"].append(None)
                out["reject_detail"].append(None)
                for c in wanted:
                    out[c].append(result.get(contract_name.get(c, c)))
        yield pd.DataFrame(out, columns=columns)


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def validate_lines(lines: DataFrame, source: str, reference: Reference) -> DataFrame:
    schema = parsed_schema(source)
    fn = partial(
        validate_partition, source=source, reference=reference, columns=schema.fieldNames()
    )
    return lines.mapInPandas(fn, schema)


def flag_unknown_fixtures(parsed: DataFrame, fixtures: DataFrame) -> DataFrame:
    """Reject accepted playbacks whose fixture_id is not in the calendar (replayable)."""
    known = fixtures.select(F.col("fixture_id").alias("_known_fixture")).distinct()
    joined = parsed.join(known, parsed["fixture_id"] == known["_known_fixture"], "left")
    unknown = (
        F.col("reject_reason").isNull()
        & F.col("fixture_id").isNotNull()
        & F.col("_known_fixture").isNull()
    )
    return joined.select(
        *[
            c
            for c in parsed.columns
            if c not in ("reject_reason", "reject_detail", "line", "valid_utf8")
        ],
        F.when(unknown, F.lit("unknown_fixture"))
        .otherwise(F.col("reject_reason"))
        .alias("reject_reason"),
        F.when(
            unknown,
            F.concat(F.lit("fixture_id '"), F.col("fixture_id"), F.lit("' is not in the calendar")),
        )
        .otherwise(F.col("reject_detail"))
        .alias("reject_detail"),
        F.col("line"),
        F.col("valid_utf8"),
    )
