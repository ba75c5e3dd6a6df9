"""The raw contract's validators, as plain Python: one exact reason per bad line."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fanbase.ingest.contract import (
    REASONS,
    Reference,
    Rejected,
    parse_ts,
    validate_event,
    validate_fixture,
    validate_label,
    validate_market,
    validate_social,
)

pytestmark = pytest.mark.unit

REF = Reference(market_launch={"DE": dt.date(2020, 1, 1), "JP": dt.date(2024, 8, 6)})
LANDING = dt.date(2024, 8, 10)

PLAYBACK = {
    "event_id": "e1",
    "event_type": "playback",
    "ts": "2024-08-10T19:45:12.345Z",
    "user_id": "u1",
    "market": "DE",
    "session_id": "s1",
    "fixture_id": "fx-1",
    "device": "tv",
    "mode": "live",
    "watch_seconds": 3600,
    "buffering_seconds": 12,
}
SIGNUP = {
    "event_id": "e2",
    "event_type": "signup",
    "ts": "2024-08-10T10:00:00.000Z",
    "user_id": "u1",
    "market": "DE",
    "subscription_id": "sub1",
    "plan": "monthly",
    "price": 29.99,
    "currency": "EUR",
    "device": "web",
    "acquisition_channel": "search",
    "promo_code": None,
}


def _line(record: dict, **changes) -> str:
    changed = {**record, **changes}
    return json.dumps({k: v for k, v in changed.items() if v is not ...})


def _reason(result) -> str | None:
    return result.reason if isinstance(result, Rejected) else None


def test_clean_playback_is_typed():
    out = validate_event(_line(PLAYBACK), LANDING, REF)
    assert out["ts"] == dt.datetime(2024, 8, 10, 19, 45, 12, 345000)
    assert out["watch_seconds"] == 3600 and out["fixture_id"] == "fx-1"


def test_cancel_effective_at_and_null_reason():
    cancel = {
        "event_id": "e3",
        "event_type": "cancel",
        "ts": "2024-08-10T10:00:00Z",
        "user_id": "u1",
        "market": "DE",
        "subscription_id": "sub1",
        "effective_at": "2024-09-01T00:00:00+02:00",
        "reason": None,
    }
    out = validate_event(json.dumps(cancel), LANDING, REF)
    assert out["effective_at"] == dt.datetime(2024, 8, 31, 22, 0)
    assert out["reason"] is None
    bad = validate_event(_line(cancel, effective_at="soon"), LANDING, REF)
    assert _reason(bad) == "bad_timestamp"


@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"event_id": "e1", ', "not_json"),
        ("[1, 2]", "not_an_object"),
        (_line(PLAYBACK, session_id=...), "missing_field"),
        (_line(PLAYBACK, user_id=None), "missing_field"),
        (_line(PLAYBACK, watch_seconds="3600"), "wrong_type"),
        (_line(PLAYBACK, watch_seconds=36.5), "wrong_type"),
        (_line(PLAYBACK, user_id=12345), "wrong_type"),
        (_line(SIGNUP, price=True), "wrong_type"),
        (_line(PLAYBACK, event_type="heartbeat"), "unknown_event_type"),
        (_line(PLAYBACK, device="fridge"), "unknown_device"),
        (_line(SIGNUP, plan="weekly"), "unknown_plan"),
        (_line(PLAYBACK, mode="vr"), "unknown_mode"),
        (_line(SIGNUP, acquisition_channel="tv_ad"), "unknown_channel"),
        (_line(PLAYBACK, market="FR"), "unknown_market"),
        (_line(PLAYBACK, ts="2024-02-30T12:00:00.000Z"), "bad_timestamp"),
        (_line(PLAYBACK, ts="2024-08-10 19:45:12"), "bad_timestamp"),
        (_line(PLAYBACK, ts="2024-08-10T19:45:12"), "bad_timestamp"),  # no offset
        (_line(PLAYBACK, ts=""), "bad_timestamp"),
        # In UTC before year 1: Python's datetime cannot hold it (was an OverflowError).
        (_line(PLAYBACK, ts="0001-01-01T00:30:00+01:00"), "bad_timestamp"),
        (_line(PLAYBACK, market="JP", ts="2024-08-05T23:00:00Z"), "before_market_launch"),
        (_line(PLAYBACK, ts="2024-08-12T00:00:00.000Z"), "future_timestamp"),
        (_line(PLAYBACK, watch_seconds=-1), "negative_value"),
        (_line(SIGNUP, price=-0.01), "negative_value"),
        # Strict JSON: no NaN literal; integers past 64 bits do not fit silver's columns.
        (_line(SIGNUP).replace("29.99", "NaN"), "not_json"),
        (_line(PLAYBACK, watch_seconds=2**63), "wrong_type"),
        (_line(PLAYBACK, watch_seconds=10**30), "wrong_type"),
    ],
)
def test_each_bad_event_has_its_reason(line, reason):
    assert reason in REASONS
    assert _reason(validate_event(line, LANDING, REF)) == reason


def test_a_day_late_boundary_and_late_events_are_valid():
    # the next day after landing is tolerated (clock skew), the day after that is not
    ok = validate_event(_line(PLAYBACK, ts="2024-08-11T23:59:59Z"), LANDING, REF)
    assert not isinstance(ok, Rejected)
    late = validate_event(_line(PLAYBACK, ts="2024-08-01T10:00:00Z"), LANDING, REF)
    assert not isinstance(late, Rejected)


def test_payment_status():
    payment = {
        "event_id": "e4",
        "event_type": "payment",
        "ts": "2024-08-10T10:00:00Z",
        "user_id": "u1",
        "market": "DE",
        "subscription_id": "sub1",
        "amount": 29.99,
        "currency": "EUR",
        "status": "pending",
    }
    assert _reason(validate_event(json.dumps(payment), LANDING, REF)) == "unknown_status"


def test_social_label_fixture_market():
    post = {
        "post_id": "p1",
        "ts": "2024-08-10T10:00:00Z",
        "platform": "reddit",
        "market": "DE",
        "language": "de",
        "text": "Was für ein Spiel!",
        "author_hash": "ab12",
    }
    assert validate_social(json.dumps(post), LANDING, REF)["text"] == "Was für ein Spiel!"
    assert _reason(validate_social(_line(post, market="XX"), LANDING, REF)) == "unknown_market"
    assert _reason(validate_social(_line(post, text=7), LANDING, REF)) == "wrong_type"
    assert _reason(validate_label('{"post_id": "p1", "sentiment": "meh"}', None, REF)) == (
        "unknown_sentiment"
    )
    fixture = {
        "fixture_id": "fx-1",
        "sport": "football",
        "competition": "Bundesliga",
        "home": "A",
        "away": "B",
        "kickoff": "2024-08-10T18:30:00Z",
        "duration_minutes": 115,
        "markets": ["DE", "AT"],
    }
    assert validate_fixture(json.dumps(fixture), None, REF)["tier"] == "standard"  # optional
    assert _reason(validate_fixture(_line(fixture, markets="DE"), None, REF)) == "wrong_type"
    market = {
        "market": "DE",
        "currency": "EUR",
        "monthly_price": 29.99,
        "annual_price": 299,
        "launched_on": "2016-08-10",
    }
    assert validate_market(json.dumps(market), None, REF)["launched_on"] == dt.date(2016, 8, 10)
    assert _reason(validate_market(_line(market, launched_on="2016-13-01"), None, REF)) == (
        "bad_date"
    )


def test_parse_ts_normalises_offsets_to_utc():
    assert parse_ts("2024-08-10T21:45:12.345+02:00") == dt.datetime(2024, 8, 10, 19, 45, 12, 345000)
    assert parse_ts("yesterday evening") is None
    assert parse_ts("9999-12-31T23:30:00-01:00") is None  # after year 9999 in UTC


def test_batches_keep_the_line_columns_and_type_the_rest():
    """validate_batches, the function Spark runs per partition, on Arrow batches."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    from fanbase.ingest.parse import LINE_COLUMNS, parsed_schema, validate_batches

    lines = [_line(PLAYBACK), _line(PLAYBACK, device="fridge"), "\ufffd{", None]
    batch = pa.RecordBatch.from_pydict(
        {
            "landing_date": [LANDING, LANDING, LANDING, None],
            "source_file": ["events/date=2024-08-10/a.jsonl"] * 4,
            "line_number": [1, 2, 3, 4],
            "line": lines,
            "valid_utf8": [True, True, False, True],
        }
    )
    schema = to_arrow_schema(parsed_schema("events"))
    (out,) = validate_batches(iter([batch]), "events", REF, schema)
    assert out.schema == schema
    rows = out.to_pylist()
    for column in LINE_COLUMNS:
        assert out.column(column).equals(batch.column(column)), column
    assert [r["reject_reason"] for r in rows] == [None, "unknown_device", "not_utf8", "not_json"]
    first = rows[0]
    assert first["event_id"] == "e1" and first["watch_seconds"] == 3600
    assert first["ts"] == dt.datetime(2024, 8, 10, 19, 45, 12, 345000, tzinfo=dt.UTC)
    assert all(r["event_id"] is None for r in rows[1:])


def test_lines_read_whole_are_numbered_per_file_across_batches():
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    from fanbase.ingest.parse import parsed_schema, validate_batches

    def batch(files):
        return pa.RecordBatch.from_pydict(
            {
                "landing_date": [LANDING] * len(files),
                "source_file": files,
                "line_number": pa.array([None] * len(files), type=pa.int64()),
                "line": [_line(PLAYBACK)] * len(files),
                "valid_utf8": [True] * len(files),
            }
        )

    schema = to_arrow_schema(parsed_schema("events"))
    batches = [batch(["a", "a", "b"]), batch(["b", "c"])]
    out = validate_batches(iter(batches), "events", REF, schema, number=True)
    numbered = [(r["source_file"], r["line_number"]) for b in out for r in b.to_pylist()]
    assert numbered == [("a", 1), ("a", 2), ("b", 1), ("b", 2), ("c", 1)]


@pytest.mark.parametrize(
    "name, size, whole",
    [("a.jsonl.gz", 10 * 2**30, True), ("a.jsonl", 4 * 2**20, True), ("a.jsonl", 5 * 2**20, False)],
)
def test_files_are_read_whole_when_gzipped_or_smaller_than_a_split(name, size, whole):
    from fanbase.ingest.parse import RawFile, read_whole

    class Conf:
        def get(self, key, default):
            return default  # Spark's defaults: openCostInBytes 4 MB, maxPartitionBytes 128 MB

    spark = type("Spark", (), {"conf": Conf()})()
    assert read_whole(spark, [RawFile("events", LANDING, name, size, 0)]) is whole
