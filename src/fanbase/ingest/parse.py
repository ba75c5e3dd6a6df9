"""Raw lines in, typed rows or rejections out: the Spark side of the contract.

``read_lines`` turns a raw folder into (landing_date, source_file, line_number, line,
valid_utf8) rows; ``validate_lines`` applies the pure-Python validator of the source per
partition (``mapInArrow``) with an explicit output schema; ``flag_unknown_fixtures``
rejects playbacks whose fixture is not in the calendar, by a join.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import BooleanType, StringType, StructField, StructType

from fanbase.ingest.contract import NOT_UTF8, VALIDATORS, Reference, Rejected
from fanbase.ingest.tables import LINE_KEY, SILVER_BY_SOURCE
from fanbase.lakehouse import sql_in

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
REJECT_NAMES = {f.name for f in REJECT_FIELDS}
# Contract field -> silver column where the names differ.
RENAMED = {"reason": "cancel_reason"}
RENAMED_BACK = {v: k for k, v in RENAMED.items()}
# Columns silver derives itself rather than reads from the line.
DERIVED = {"event_date", "event_month", "post_date", "post_month"}


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


def _raise_if_missing(err: Exception, path: str, folder: str) -> None:
    """A missing source folder is a layout error naming it (Spark says PATH_NOT_FOUND)."""
    if "PATH_NOT_FOUND" in str(err) or "Path does not exist" in str(err):
        raise RawLayoutError(
            f"{path}: not found; EVENTS.md expects {folder}/ under the raw root"
        ) from None


def list_raw_files(spark: SparkSession, raw_root: str, source: str) -> list[RawFile]:
    """The files Spark's text reader would read for a source: names, sizes, modification
    times, no content. Spark lists them itself (the binaryFile source without its
    content column opens no file), in parallel for large folders, on any file system it
    reads (local, s3://, dbfs:/). Hidden files and folders (``_``/``.``) are skipped, as
    the text reader skips them. One row per file comes back: the listing grows with the
    number of files, not with lines."""
    folder, dated = SOURCE_DIRS[source]
    path = source_path(raw_root, source)
    try:
        found = (
            spark.read.format("binaryFile")
            .option("recursiveFileLookup", "true")
            .load(path)
            .select("path", "length", F.unix_millis("modificationTime").alias("modified_ms"))
            .collect()
        )
    except Exception as err:
        _raise_if_missing(err, path, folder)
        raise
    pattern = re.compile(rf".*/({folder}/(?:date=(\d{{4}}-\d{{2}}-\d{{2}})/)?[^/]+)$")
    out = []
    for row in sorted(found, key=lambda r: r["path"]):
        match = pattern.match(row["path"])
        if match is None:
            raise RawLayoutError(
                f"{row['path']}: not where EVENTS.md puts {source} files ({folder}/"
                f"{'date=YYYY-MM-DD/' if dated else ''}<file>)"
            )
        if dated and match.group(2) is None:
            raise RawLayoutError(
                f"{row['path']}: expected date=YYYY-MM-DD/ folders (landing dates)"
            )
        day = dt.date.fromisoformat(match.group(2)) if match.group(2) else None
        out.append(RawFile(source, day, match.group(1), row["length"], row["modified_ms"]))
    return out


def read_whole(spark: SparkSession, files: list[RawFile]) -> bool:
    """True when Spark reads each of these files in one task, from its first line to its
    last: gzip files (which cannot be split) and files no larger than the smallest split
    Spark makes (openCostInBytes, capped by maxPartitionBytes). Their lines can then be
    numbered in the order they are read, without a sort."""
    conf = spark.conf
    smallest_split = min(
        _bytes(conf.get("spark.sql.files.openCostInBytes", "4194304")),
        _bytes(conf.get("spark.sql.files.maxPartitionBytes", "134217728")),
    )
    return all(f.source_file.endswith(".gz") or f.size_bytes <= smallest_split for f in files)


def _bytes(setting: str) -> int:
    """A Spark byte setting ('4194304', '4m', '128MB') in bytes."""
    text = setting.strip().lower().removesuffix("b")
    scale = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}.get(text[-1:], 1)
    return int(float(text.rstrip("kmgt")) * scale)


def read_lines(
    spark: SparkSession,
    raw_root: str,
    source: str,
    landing_dates: list[dt.date] | None,
    numbered_later: bool = False,
) -> DataFrame:
    """Every line of a source (for the given landing dates), numbered within its file.
    ``numbered_later`` (only for files ``read_whole`` says are read whole): the line
    number is left null for ``validate_lines(..., number=True)`` to count."""
    folder, dated = SOURCE_DIRS[source]
    path = source_path(raw_root, source)
    try:
        raw = spark.read.format("text").load(path)
    except Exception as err:
        _raise_if_missing(err, path, folder)
        raise
    if dated:
        if "date" not in raw.columns:
            raise RawLayoutError(f"{path}: expected date=YYYY-MM-DD/ folders (landing dates)")
        raw = raw.withColumn("landing_date", F.col("date").cast("date")).drop("date")
        if landing_dates is not None:
            raw = raw.where(sql_in("landing_date", landing_dates))
    else:
        raw = raw.withColumn("landing_date", F.lit(None).cast("date"))
    pattern = rf".*/({folder}{'/date=[^/]+' if dated else ''}/[^/]+)$"
    raw = raw.withColumn("source_file", F.regexp_extract(F.input_file_name(), pattern, 1))
    if numbered_later:
        number = F.lit(None).cast("long")
    else:
        # Lines of one file keep their order in monotonically increasing ids, also when a
        # large uncompressed file is split across partitions (a sort by file).
        order = Window.partitionBy("source_file").orderBy(F.monotonically_increasing_id())
        number = F.row_number().over(order).cast("long")
    # The text reader passes bytes through untouched; decoding replaces bytes that are
    # not UTF-8 with U+FFFD, and comparing with the original tells which lines had any.
    raw_bytes = F.col("value").cast("binary")
    decoded = F.decode(raw_bytes, "UTF-8")
    return raw.select(
        "landing_date",
        "source_file",
        number.alias("line_number"),
        decoded.alias("line"),
        (F.encode(decoded, "UTF-8") == raw_bytes).alias("valid_utf8"),
    )


def parsed_schema(source: str) -> StructType:
    """The line's columns (LINE_COLUMNS) + the silver columns read from the line + the
    rejection reason."""
    spec = SILVER_BY_SOURCE[source]
    key = {f.name for f in LINE_KEY}
    fields = [f for f in LINE_KEY]
    fields.append(StructField("line", StringType()))
    fields.append(StructField("valid_utf8", BooleanType()))
    fields += [f for f in spec.schema.fields if f.name not in key and f.name not in DERIVED]
    return StructType(
        [StructField(f.name, f.dataType, True, f.metadata) for f in fields] + REJECT_FIELDS
    )


# Columns of every parsed row that come through validation untouched, as Arrow arrays.
PASSED_THROUGH = LINE_COLUMNS


def validate_batches(
    batches: Iterator[pa.RecordBatch],
    source: str,
    reference: Reference,
    schema: pa.Schema,
    number: bool = False,
) -> Iterator[pa.RecordBatch]:
    """Plain Python over Arrow: validate each line into the typed columns or a reason.

    The line's own columns (landing date, file, line number, the raw text) pass through
    as the Arrow arrays they came in; only the text goes through Python. The raw text is
    kept on every row: a line accepted here can still be rejected by the fixture join,
    and the quarantine keeps lines as landed. ``number``: the batches are one task's
    lines of whole files in reading order, and line numbers are counted here."""
    validator = VALIDATORS[source]
    typed = [f for f in schema if f.name not in PASSED_THROUGH and f.name not in REJECT_NAMES]
    # The records as one struct, by the names the contract gives the fields: Arrow reads
    # each field out of the dicts itself (a missing key or a rejected line is null),
    # far faster than moving 20-odd values a line into column lists in Python.
    record = pa.struct([pa.field(RENAMED_BACK.get(f.name, f.name), f.type) for f in typed])
    seen: dict[str, int] = {}  # lines counted so far per file, across this task's batches
    for batch in batches:
        if number:
            batch = _numbered(batch, seen)
        landings = batch.column(LINE_COLUMNS.index("landing_date")).to_pylist()
        lines = batch.column(LINE_COLUMNS.index("line")).to_pylist()
        utf8 = batch.column(LINE_COLUMNS.index("valid_utf8")).to_pylist()
        records, reasons, details = [], [], []
        for landing_date, line, ok in zip(landings, lines, utf8):
            result = validator(line or "", landing_date, reference) if ok else NOT_UTF8
            if result.__class__ is Rejected:
                records.append(None)
                reasons.append(result.reason)
                details.append(result.detail)
            else:
                records.append(result)
                reasons.append(None)
                details.append(None)
        arrays = [batch.column(i) for i in range(len(PASSED_THROUGH))]
        arrays += pa.array(records, type=record).flatten()
        arrays += [pa.array(reasons, type=pa.string()), pa.array(details, type=pa.string())]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _numbered(batch: pa.RecordBatch, seen: dict[str, int]) -> pa.RecordBatch:
    numbers = []
    for source_file in batch.column(LINE_COLUMNS.index("source_file")).to_pylist():
        seen[source_file] = n = seen.get(source_file, 0) + 1
        numbers.append(n)
    at = LINE_COLUMNS.index("line_number")
    return batch.set_column(at, "line_number", pa.array(numbers, type=pa.int64()))


def validate_lines(
    lines: DataFrame, source: str, reference: Reference, number: bool = False
) -> DataFrame:
    """``lines`` (LINE_COLUMNS) validated: parsed_schema(source), per partition.
    ``number``: count the line numbers (lines of ``read_lines(..., numbered_later=True)``,
    straight from the reader, never shuffled)."""
    schema = parsed_schema(source)
    arrow = to_arrow_schema(schema)
    fn = partial(validate_batches, source=source, reference=reference, schema=arrow, number=number)
    return lines.select(*LINE_COLUMNS).mapInArrow(fn, schema)


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
