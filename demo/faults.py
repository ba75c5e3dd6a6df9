"""Delivery faults on purpose: late arrivals, duplicates and bad lines with ONE defect each.

A ``LandingBuffer`` receives clean records in event time, decides their landing day
(late ones land 1..max_late days after their event date), and when a landing day is
flushed it adds duplicates (an earlier clean line byte for byte) and bad lines (a fresh
id, modelled on a clean record of the day, with exactly one defect), writes the day's
file and remembers where every planted line went.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fanbase.demo.writer import DAY_MS, date_of_ms, dumps, iso_ms, write_gz_lines

EVENT_BAD_KINDS = (
    "not_json",
    "not_utf8",
    "missing_field",
    "wrong_type",
    "unknown_event_type",
    "unknown_device",
    "unknown_plan",
    "unknown_mode",
    "unknown_status",
    "unknown_market",
    "bad_timestamp",
    "before_market_launch",
    "future_timestamp",
    "negative_value",
    "unknown_fixture",
)
SOCIAL_BAD_KINDS = (
    "not_json",
    "missing_field",
    "wrong_type",
    "unknown_market",
    "bad_timestamp",
    "future_timestamp",
)
# Fields that may be null; deleting them or changing their type would be ambiguous.
NULLABLE = {"promo_code", "fixture_id", "effective_at", "reason"}
_NOT_MARKETS = ("FR", "NL", "MX", "ZZ")
_BAD_TIMESTAMPS = (
    "2024-02-30T12:00:00.000Z",
    "31/12/2024 25:61",
    "yesterday evening",
    "2024-13-01T10:00:00Z",
    "",
)
_WRONG_TYPE_FIELDS = (
    "event_id",
    "user_id",
    "subscription_id",
    "session_id",
    "post_id",
    "author_hash",
    "text",
    "watch_seconds",
    "buffering_seconds",
    "amount",
    "price",
)


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; lam stays small here."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# Which clean records can carry a kind of defect (the others are tried at random).
_NEEDS = {
    "unknown_plan": lambda r: r.get("event_type") == "signup",
    "unknown_mode": lambda r: r.get("event_type") == "playback",
    "unknown_status": lambda r: r.get("event_type") == "payment",
    "unknown_fixture": lambda r: r.get("fixture_id") is not None,
    "unknown_device": lambda r: "device" in r,
}


@dataclass
class FaultContext:
    """What a defect needs to know: the landing day and the market launch dates."""

    landing_ms: int
    launched_on: dict[str, dt.date]
    id_key: str


def _wrong_type(rng, record: dict) -> dict | None:
    fields = [k for k in _WRONG_TYPE_FIELDS if k in record]
    if not fields:
        return None
    name = rng.choice(fields)
    value = record[name]
    record[name] = str(value) if isinstance(value, (int, float)) else rng.randint(10, 99999)
    return record


def make_defect(kind: str, rng: random.Random, clean: dict, ctx: FaultContext) -> bytes | None:
    """A line like ``clean`` with exactly one defect of ``kind``; None if it cannot have it."""
    record = dict(clean)
    etype = record.get("event_type")
    if kind == "not_json":
        text = dumps(record)
        return text[: rng.randint(10, len(text) - 2)].encode()
    if kind == "not_utf8":
        key = ctx.id_key
        record[key] = record[key] + "\x00MARK"
        return dumps(record).encode().replace(b"\\u0000MARK", b"\xff\xfe")
    if kind == "missing_field":
        fields = [k for k in record if k not in NULLABLE]
        del record[rng.choice(fields)]
    elif kind == "wrong_type":
        record = _wrong_type(rng, record)
    elif kind == "unknown_event_type":
        record["event_type"] = rng.choice(("page_view", "heartbeat", "ad_impression"))
    elif kind == "unknown_device":
        if "device" not in record:
            return None
        record["device"] = rng.choice(("smartwatch", "fridge", "car"))
    elif kind == "unknown_plan":
        if etype != "signup":
            return None
        record["plan"] = rng.choice(("weekly", "lifetime"))
    elif kind == "unknown_mode":
        if etype != "playback":
            return None
        record["mode"] = rng.choice(("vr", "replay"))
    elif kind == "unknown_status":
        if etype != "payment":
            return None
        record["status"] = rng.choice(("pending", "chargeback"))
    elif kind == "unknown_market":
        record["market"] = rng.choice(_NOT_MARKETS)
    elif kind == "bad_timestamp":
        record["ts"] = rng.choice(_BAD_TIMESTAMPS)
    elif kind == "before_market_launch":
        launched = ctx.launched_on[record["market"]]
        days_before = rng.randint(1, 60)
        launch_ms = (launched - dt.date(1970, 1, 1)).days * DAY_MS
        record["ts"] = iso_ms(launch_ms - days_before * DAY_MS + rng.randint(0, DAY_MS - 1))
    elif kind == "future_timestamp":
        record["ts"] = iso_ms(
            ctx.landing_ms + rng.randint(3, 20) * DAY_MS + rng.randint(0, DAY_MS - 1)
        )
    elif kind == "negative_value":
        fields = [
            k for k in ("watch_seconds", "buffering_seconds", "amount", "price") if k in record
        ]
        if not fields:
            return None
        name = rng.choice(fields)
        record[name] = -abs(record[name]) if record[name] else -rng.randint(1, 60)
    elif kind == "unknown_fixture":
        if etype != "playback" or record.get("fixture_id") is None:
            return None
        sport = record["fixture_id"].split("-")[1]
        record["fixture_id"] = f"fx-{sport}-{rng.randint(90000, 99999)}"
    else:
        raise ValueError(f"unknown fault kind {kind!r}")
    return None if record is None else dumps(record).encode()


@dataclass
class FlushStats:
    lines: int = 0
    clean: int = 0
    duplicates: int = 0
    late: int = 0
    faulty: dict[str, int] = field(default_factory=dict)


class LandingBuffer:
    """Holds records until their landing day, then writes that day's file with its faults."""

    def __init__(
        self,
        *,
        source,
        root: Path,
        shard,
        rng,
        rates,
        bad_kinds,
        max_late,
        ctx_factory: Callable[[int], FaultContext],
        id_prefix,
    ):
        self.source, self.root, self.shard, self.rng = source, root, shard, rng
        self.rates, self.bad_kinds, self.max_late = rates, bad_kinds, max_late
        self.ctx_factory, self.id_prefix = ctx_factory, id_prefix
        self.pending: dict[int, list] = {}  # landing day number -> [(ts, seq, record, late)]
        self.pending_dups: dict[int, list[tuple[bytes, str]]] = {}
        self.truth: list[dict] = []
        self.stats = FlushStats()
        self._bad_seq = 0

    def add(self, ts_ms: int, seq: int, record: dict) -> None:
        day = ts_ms // DAY_MS
        late = self.rng.random() < self.rates.late
        landing = day + self.rng.randint(1, self.max_late) if late else day
        self.pending.setdefault(landing, []).append((ts_ms, seq, record, late))

    def flush_until(self, last_day: int) -> None:
        for day in sorted(d for d in set(self.pending) | set(self.pending_dups) if d <= last_day):
            self._flush(day)

    def flush_all(self) -> None:
        self.flush_until(max([*self.pending, *self.pending_dups], default=-1))

    def _flush(self, day: int) -> None:
        rng, id_key = self.rng, self.ctx_factory(0).id_key
        items = sorted(self.pending.pop(day, []), key=lambda item: (item[0], item[1]))
        entries = []  # (order key, tiebreak, line bytes, kind, id)
        for i, (_, _, record, late) in enumerate(items):
            line = dumps(record).encode()
            entries.append((float(i), 0, line, "late" if late else None, record[id_key]))
            if rng.random() < self.rates.duplicate:
                lag = rng.choice((0, 0, 1, 2))
                if lag == 0:
                    entries.append(
                        (i + rng.random() * (len(items) - i), 1, line, "duplicate", record[id_key])
                    )
                else:
                    self.pending_dups.setdefault(day + lag, []).append((line, record[id_key]))
        n = max(len(items), 1)
        for line, rid in self.pending_dups.pop(day, []):
            entries.append((rng.random() * n - 0.5, 2, line, "duplicate", rid))
        ctx = self.ctx_factory(day * DAY_MS)
        for kind in self.bad_kinds:
            for _ in range(poisson(rng, len(items) * getattr(self.rates, kind))):
                made = self._bad_line(kind, items, ctx)
                if made is not None:
                    entries.append((rng.random() * n - 0.5, 3, made[0], kind, made[1]))
        if not entries:
            return
        entries.sort(key=lambda e: (e[0], e[1]))
        landing_date = date_of_ms(day * DAY_MS)
        rel = f"{self.source}/date={landing_date}/part-{self.shard:04d}.jsonl.gz"
        write_gz_lines(self.root / rel, [e[2] for e in entries])
        for number, (_, _, _, kind, rid) in enumerate(entries, start=1):
            self.stats.lines += 1
            if kind is None or kind == "late":
                self.stats.clean += 1
                self.stats.late += kind == "late"
            elif kind == "duplicate":
                self.stats.duplicates += 1
            else:
                self.stats.faulty[kind] = self.stats.faulty.get(kind, 0) + 1
            if kind is not None:
                self.truth.append(
                    {
                        "source": self.source,
                        "landing_date": landing_date,
                        "file": rel,
                        "line": number,
                        "kind": kind,
                        id_key: rid,
                    }
                )

    def _bad_line(self, kind, items, ctx) -> tuple[bytes, str] | None:
        needs = _NEEDS.get(kind)
        if needs:
            items = [item for item in items if needs(item[2])]
        if not items:
            return None
        for _ in range(12):
            template = dict(self.rng.choice(items)[2])
            self._bad_seq += 1
            rid = f"{self.id_prefix}-{self.shard:03d}-x{self._bad_seq:07d}"
            template[ctx.id_key] = rid
            line = make_defect(kind, self.rng, template, ctx)
            if line is not None:
                return line, rid
        return None
