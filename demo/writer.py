"""Deterministic file output: compact JSON lines, gzip without timestamps, stable paths."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import json
from pathlib import Path

EPOCH_DATE = dt.date(1970, 1, 1)
DAY_MS = 86_400_000


@functools.lru_cache(maxsize=4096)
def _date_text(days: int) -> str:
    return (EPOCH_DATE + dt.timedelta(days=days)).isoformat()


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with millis and Z: 2026-03-14T19:45:12.345Z."""
    days, rest = divmod(ms, DAY_MS)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{_date_text(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def date_of_ms(ms: int) -> str:
    return _date_text(ms // DAY_MS)


def dumps(record: dict) -> str:
    """One compact JSON line; key order is the record's insertion order (kept stable)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def write_gz_lines(path: Path, lines: list[bytes]) -> None:
    """Gzip with mtime=0 and no file name, so equal content gives equal bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(payload, compresslevel=6, mtime=0))


def write_jsonl(path: Path, records, compress: bool = False) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [dumps(r).encode() for r in records]
    if compress:
        write_gz_lines(path, lines)
    else:
        path.write_bytes(b"".join(line + b"\n" for line in lines))
    return len(lines)


def partition_file(root: Path, source: str, landing_date: str, shard: int) -> str:
    """Path relative to the raw root of one landing day's part file."""
    return f"{source}/date={landing_date}/part-{shard:04d}.jsonl.gz"
