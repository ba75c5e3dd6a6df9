"""The raw input contract (shared/design/EVENTS.md) as data and one validator per source.

Plain Python, no Spark: ``validate_event`` and friends take one raw line and return a
typed record or the single reason it is rejected. Spark calls them per partition
(``fanbase.ingest.parse``); tests call them directly. JSON is parsed here rather than
by Spark's reader because the contract's "wrong type" rule needs the JSON type of each
value (Spark's reader silently turns a number into a string column value).

Reason codes are stable: they are what analysts filter the quarantine on.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import orjson

DEVICES = frozenset({"tv", "mobile", "web", "tablet", "console"})
PLANS = frozenset({"monthly", "annual"})
MODES = frozenset({"live", "catchup", "highlights"})
PAYMENT_STATUSES = frozenset({"succeeded", "failed", "refunded"})
CHANNELS = frozenset({"organic", "paid_social", "search", "partner", "referral"})
SENTIMENTS = frozenset({"positive", "neutral", "negative"})

# JSON kinds a field may take. "ts" is an ISO-8601 string, "int" excludes floats and
# booleans, "number" is int or float, "str?" may be null.
ENVELOPE = {"event_id": "str", "event_type": "str", "ts": "ts", "user_id": "str", "market": "str"}
EVENT_FIELDS: dict[str, dict[str, str]] = {
    "signup": {
        "subscription_id": "str",
        "plan": "str",
        "price": "number",
        "currency": "str",
        "device": "str",
        "acquisition_channel": "str",
        "promo_code": "str?",
    },
    "cancel": {"subscription_id": "str", "effective_at": "ts?", "reason": "str?"},
    "payment": {"subscription_id": "str", "amount": "number", "currency": "str", "status": "str"},
    "playback": {
        "session_id": "str",
        "fixture_id": "str?",
        "device": "str",
        "mode": "str",
        "watch_seconds": "int",
        "buffering_seconds": "int",
    },
    "app_open": {"device": "str"},
}
SOCIAL_FIELDS = {
    "post_id": "str",
    "ts": "ts",
    "platform": "str",
    "market": "str",
    "language": "str",
    "text": "str",
    "author_hash": "str",
}
LABEL_FIELDS = {"post_id": "str", "sentiment": "str"}
FIXTURE_FIELDS = {
    "fixture_id": "str",
    "sport": "str",
    "competition": "str",
    "home": "str",
    "away": "str",
    "kickoff": "ts",
    "duration_minutes": "int",
    "markets": "list[str]",
    "tier": "str?",
}
MARKET_FIELDS = {
    "market": "str",
    "currency": "str",
    "monthly_price": "number",
    "annual_price": "number",
    "launched_on": "date",
}
OPTIONAL = {"tier"}  # may be absent, not only null

# Every reason a line can be rejected for.
REASONS = (
    "not_utf8",
    "not_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "unknown_event_type",
    "unknown_device",
    "unknown_plan",
    "unknown_mode",
    "unknown_status",
    "unknown_channel",
    "unknown_market",
    "unknown_sentiment",
    "unknown_tier",
    "bad_timestamp",
    "bad_date",
    "before_market_launch",
    "future_timestamp",
    "negative_value",
    "unknown_fixture",
)
# Reasons that may clear once reference data catches up; the rest are final.
REPLAYABLE = frozenset({"unknown_fixture"})


@dataclass(frozen=True)
class Rejected:
    reason: str
    detail: str


@dataclass(frozen=True)
class Reference:
    """What validation needs to know of the reference data: the markets and their
    launch dates. (Whether a playback's fixture is in the calendar is checked in Spark
    by a join with silver.fixtures, so the calendar never has to fit in memory.)"""

    market_launch: dict[str, dt.date]


# Which lines are not UTF-8 is decided in Spark, on the raw bytes (fanbase.ingest.parse).
NOT_UTF8 = Rejected("not_utf8", "line is not valid UTF-8")


def parse_object(line: str) -> dict[str, Any] | Rejected:
    # orjson: strict RFC 8259 (no NaN or Infinity literals, integers within 64 bits) and
    # several times faster than the standard library, which ingest throughput rests on.
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        return Rejected("not_json", f"not JSON: {err.msg} at column {err.colno}")
    if not isinstance(value, dict):
        return Rejected("not_an_object", f"expected a JSON object, got {type(value).__name__}")
    return value


def parse_ts(text: str) -> dt.datetime | None:
    """ISO-8601 with an explicit offset, normalised to naive UTC; None if unparsable."""
    if not text or len(text) < 20 or text[10] != "T":
        return None
    try:
        value = dt.datetime.fromisoformat(text)
        if value.tzinfo is None:
            return None  # the contract says UTC; a bare local time is ambiguous
        # Overflows for a time within its offset of year 1 or 9999: not a real time.
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        return None


_INT64 = 2**63  # silver stores ints as 64-bit: a larger one is not a valid value


# One check per JSON kind. The parser gives exact built-in types (bool is not an int
# here, and orjson never yields NaN or infinity), so a type identity test is exact.
def _is_str(value: Any) -> bool:
    return type(value) is str


def _is_int(value: Any) -> bool:
    return type(value) is int and -_INT64 <= value < _INT64


def _is_number(value: Any) -> bool:
    kind = type(value)
    return (kind is int and -_INT64 <= value < _INT64) or (kind is float and math.isfinite(value))


def _is_str_list(value: Any) -> bool:
    return type(value) is list and all(type(v) is str for v in value)


_CHECKS = {
    "str": _is_str,
    "ts": _is_str,
    "date": _is_str,
    "int": _is_int,
    "number": _is_number,
    "list[str]": _is_str_list,
}


@dataclass(frozen=True)
class _Field:
    name: str
    base: str  # the kind without "?"
    nullable: bool
    check: Any


class FieldSpec:
    """The fields of one record kind (name -> kind), compiled once into the checks."""

    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        self.required = tuple(n for n in fields if n not in OPTIONAL)
        self.checks = tuple(
            _Field(n, k.rstrip("?"), k.endswith("?"), _CHECKS[k.rstrip("?")])
            for n, k in fields.items()
        )

    def problem(self, record: dict[str, Any]) -> Rejected | None:
        """Presence first (for every field), then types, so the reason does not depend
        on the order of the fields."""
        for name in self.required:
            if name not in record:
                return Rejected("missing_field", f"{name} is missing")
        for f in self.checks:
            value = record.get(f.name)
            if value is None:
                if f.nullable:
                    continue
                return Rejected("missing_field", f"{f.name} is null")
            if not f.check(value):
                return Rejected(
                    "wrong_type", f"{f.name} should be {f.base}, got {type(value).__name__}"
                )
        return None


_ENVELOPE = FieldSpec(ENVELOPE)
_EVENT_FIELDS = {t: FieldSpec(f) for t, f in EVENT_FIELDS.items()}
_SOCIAL = FieldSpec(SOCIAL_FIELDS)
_LABEL = FieldSpec(LABEL_FIELDS)
_FIXTURE = FieldSpec(FIXTURE_FIELDS)
_MARKET = FieldSpec(MARKET_FIELDS)


def _check_ts(record: dict, name: str, landing_date: dt.date | None) -> dt.datetime | Rejected:
    value = record.get(name)
    ts = parse_ts(value) if value is not None else None
    if ts is None:
        return Rejected("bad_timestamp", f"{name} {value!r} is not ISO-8601 UTC")
    if landing_date is not None and ts.date() > landing_date + dt.timedelta(days=1):
        return Rejected(
            "future_timestamp", f"{name} {value} is more than a day after landing {landing_date}"
        )
    return ts


def _check_market(record: dict, ts: dt.datetime, ref: Reference) -> Rejected | None:
    market = record["market"]
    launched = ref.market_launch.get(market)
    if launched is None:
        return Rejected("unknown_market", f"market {market!r} is not in the markets reference")
    if ts.date() < launched:
        return Rejected(
            "before_market_launch", f"{ts.date()} is before {market} launched on {launched}"
        )
    return None


def _enum(record: dict, name: str, allowed: frozenset[str], reason: str) -> Rejected | None:
    value = record.get(name)
    if value not in allowed:
        return Rejected(reason, f"{name} {value!r} is not one of {sorted(allowed)}")
    return None


def validate_event(line: str, landing_date: dt.date | None, ref: Reference) -> dict | Rejected:
    """One product-event line -> a typed record (timestamps as naive UTC) or a rejection."""
    record = parse_object(line)
    if isinstance(record, Rejected):
        return record
    problem = _ENVELOPE.problem(record)
    if problem:
        return problem
    event_type = record["event_type"]
    spec = _EVENT_FIELDS.get(event_type)
    if spec is None:
        return Rejected("unknown_event_type", f"event_type {event_type!r} is not in the contract")
    problem = spec.problem(record)
    if problem:
        return problem
    ts = _check_ts(record, "ts", landing_date)
    if isinstance(ts, Rejected):
        return ts
    problem = _check_market(record, ts, ref)
    if problem:
        return problem
    out = {k: record.get(k) for k in (*ENVELOPE, *spec.fields)}
    out["ts"] = ts
    problem = _TYPE_RULES[event_type](record, out, ref)
    return problem or out


def _signup(record: dict, out: dict, ref: Reference) -> Rejected | None:
    return (
        _enum(record, "plan", PLANS, "unknown_plan")
        or _enum(record, "device", DEVICES, "unknown_device")
        or _enum(record, "acquisition_channel", CHANNELS, "unknown_channel")
        or _non_negative(record, "price")
    )


def _cancel(record: dict, out: dict, ref: Reference) -> Rejected | None:
    if record.get("effective_at") is not None:
        effective = _check_ts(record, "effective_at", None)
        if isinstance(effective, Rejected):
            return effective
        out["effective_at"] = effective
    return None


def _payment(record: dict, out: dict, ref: Reference) -> Rejected | None:
    return _enum(record, "status", PAYMENT_STATUSES, "unknown_status") or _non_negative(
        record, "amount"
    )


def _playback(record: dict, out: dict, ref: Reference) -> Rejected | None:
    return (
        _enum(record, "device", DEVICES, "unknown_device")
        or _enum(record, "mode", MODES, "unknown_mode")
        or _non_negative(record, "watch_seconds")
        or _non_negative(record, "buffering_seconds")
    )


def _app_open(record: dict, out: dict, ref: Reference) -> Rejected | None:
    return _enum(record, "device", DEVICES, "unknown_device")


_TYPE_RULES = {
    "signup": _signup,
    "cancel": _cancel,
    "payment": _payment,
    "playback": _playback,
    "app_open": _app_open,
}


def _non_negative(record: dict, name: str) -> Rejected | None:
    if record[name] < 0:
        return Rejected("negative_value", f"{name} is negative ({record[name]})")
    return None


def validate_social(line: str, landing_date: dt.date | None, ref: Reference) -> dict | Rejected:
    record = parse_object(line)
    if isinstance(record, Rejected):
        return record
    problem = _SOCIAL.problem(record)
    if problem:
        return problem
    ts = _check_ts(record, "ts", landing_date)
    if isinstance(ts, Rejected):
        return ts
    if record["market"] not in ref.market_launch:
        return Rejected(
            "unknown_market", f"market {record['market']!r} is not in the markets reference"
        )
    out = {k: record[k] for k in SOCIAL_FIELDS}
    out["ts"] = ts
    return out


def validate_label(line: str, landing_date: dt.date | None, ref: Reference) -> dict | Rejected:
    record = parse_object(line)
    if isinstance(record, Rejected):
        return record
    problem = _LABEL.problem(record) or _enum(record, "sentiment", SENTIMENTS, "unknown_sentiment")
    return problem or {k: record[k] for k in LABEL_FIELDS}


def validate_fixture(line: str, landing_date: dt.date | None, ref: Reference) -> dict | Rejected:
    record = parse_object(line)
    if isinstance(record, Rejected):
        return record
    problem = _FIXTURE.problem(record)
    if problem:
        return problem
    kickoff = _check_ts(record, "kickoff", None)
    if isinstance(kickoff, Rejected):
        return kickoff
    if record.get("tier") is not None and record["tier"] not in ("marquee", "standard"):
        return Rejected("unknown_tier", f"tier {record['tier']!r} is not marquee or standard")
    if record["duration_minutes"] < 0:
        return Rejected("negative_value", "duration_minutes is negative")
    if record["duration_minutes"] >= 2**31:
        return Rejected("wrong_type", "duration_minutes is past the 32-bit range")
    out = {k: record.get(k) for k in FIXTURE_FIELDS}
    out["kickoff"] = kickoff
    out["tier"] = record.get("tier") or "standard"
    return out


def validate_market(line: str, landing_date: dt.date | None, ref: Reference) -> dict | Rejected:
    record = parse_object(line)
    if isinstance(record, Rejected):
        return record
    problem = _MARKET.problem(record)
    if problem:
        return problem
    try:
        launched = dt.date.fromisoformat(record["launched_on"])
    except ValueError:
        return Rejected("bad_date", f"launched_on {record['launched_on']!r} is not YYYY-MM-DD")
    problem = _non_negative(record, "monthly_price") or _non_negative(record, "annual_price")
    if problem:
        return problem
    out = {k: record[k] for k in MARKET_FIELDS}
    out["launched_on"] = launched
    return out


VALIDATORS = {
    "events": validate_event,
    "social": validate_social,
    "labels": validate_label,
    "fixtures": validate_fixture,
    "markets": validate_market,
}
