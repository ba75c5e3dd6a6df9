"""The demo generator writes the EVENTS.md contract and truths that match what it wrote.

Pure Python (no Spark). The validator below is written independently of the generator's
fault code, from EVENTS.md, so the two check each other.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from fanbase.demo import generate
from fanbase.demo.calendar import build_calendar
from fanbase.demo.settings import FaultRates, GeneratorSettings

pytestmark = pytest.mark.unit

NUM = (int, float)
ENVELOPE = {"event_id": str, "event_type": str, "ts": str, "user_id": str, "market": str}
EVENT_FIELDS = {
    "signup": {
        "subscription_id": str,
        "plan": str,
        "price": NUM,
        "currency": str,
        "device": str,
        "acquisition_channel": str,
        "promo_code": (str, type(None)),
    },
    "cancel": {
        "subscription_id": str,
        "effective_at": (str, type(None)),
        "reason": (str, type(None)),
    },
    "payment": {"subscription_id": str, "amount": NUM, "currency": str, "status": str},
    "playback": {
        "session_id": str,
        "fixture_id": (str, type(None)),
        "device": str,
        "mode": str,
        "watch_seconds": int,
        "buffering_seconds": int,
    },
    "app_open": {"device": str},
}
SOCIAL_FIELDS = {
    "post_id": str,
    "ts": str,
    "platform": str,
    "market": str,
    "language": str,
    "text": str,
    "author_hash": str,
}
ENUMS = {
    "device": ("unknown_device", {"tv", "mobile", "web", "tablet", "console"}),
    "plan": ("unknown_plan", {"monthly", "annual"}),
    "mode": ("unknown_mode", {"live", "catchup", "highlights"}),
    "status": ("unknown_status", {"succeeded", "failed", "refunded"}),
}
CHANNELS = {"organic", "paid_social", "search", "partner", "referral"}
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ALL_EVENT_KINDS = {
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
}
SOCIAL_KINDS = {
    "not_json",
    "missing_field",
    "wrong_type",
    "unknown_market",
    "bad_timestamp",
    "future_timestamp",
}


# ---- independent validator ---------------------------------------------------------------
def _parse_ts(value: str) -> dt.datetime | None:
    if not isinstance(value, str) or not TS_RE.match(value):
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None


def _type_ok(value, expected) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, expected)


class Reference:
    def __init__(self, root: Path):
        self.markets = {
            m["market"]: m for m in _read_jsonl(root / "reference/markets/markets.jsonl")
        }
        self.fixtures = {
            f["fixture_id"]: f for f in _read_jsonl(root / "reference/fixtures/fixtures.jsonl")
        }


def _decode(raw: bytes):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8", None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return "not_json", None
    return (None, obj) if isinstance(obj, dict) else ("not_json", None)


def _time_checks(obj: dict, ref: Reference, landing: dt.date) -> str | None:
    ts = _parse_ts(obj["ts"])
    if ts is None:
        return "bad_timestamp"
    if ts.date() < dt.date.fromisoformat(ref.markets[obj["market"]]["launched_on"]):
        return "before_market_launch"
    if ts.date() > landing + dt.timedelta(days=1):
        return "future_timestamp"
    return None


def validate_event(raw: bytes, landing: dt.date, ref: Reference) -> str | None:
    """The reason a line is bad (EVENTS.md), or None if it is a valid event."""
    reason, obj = _decode(raw)
    if reason:
        return reason
    if any(k not in obj for k in ENVELOPE):
        return "missing_field"
    if not all(_type_ok(obj[k], t) for k, t in ENVELOPE.items()):
        return "wrong_type"
    fields = EVENT_FIELDS.get(obj["event_type"])
    if fields is None:
        return "unknown_event_type"
    if any(k not in obj for k in fields):
        return "missing_field"
    if not all(_type_ok(obj[k], t) for k, t in fields.items()):
        return "wrong_type"
    for name, (kind, allowed) in ENUMS.items():
        if name in fields and obj[name] not in allowed:
            return kind
    if "acquisition_channel" in fields and obj["acquisition_channel"] not in CHANNELS:
        return "unknown_channel"
    if obj["market"] not in ref.markets:
        return "unknown_market"
    if obj.get("effective_at") is not None and _parse_ts(obj["effective_at"]) is None:
        return "bad_timestamp"
    if _parse_ts(obj["ts"]) is None:
        return "bad_timestamp"
    if any(obj.get(k, 0) < 0 for k in ("watch_seconds", "buffering_seconds", "amount", "price")):
        return "negative_value"
    reason = _time_checks(obj, ref, landing)
    if reason:
        return reason
    fixture_id = obj.get("fixture_id") if obj["event_type"] == "playback" else None
    if fixture_id is not None and fixture_id not in ref.fixtures:
        return "unknown_fixture"
    return None


def validate_post(raw: bytes, landing: dt.date, ref: Reference) -> str | None:
    reason, obj = _decode(raw)
    if reason:
        return reason
    if any(k not in obj for k in SOCIAL_FIELDS):
        return "missing_field"
    if not all(_type_ok(obj[k], t) for k, t in SOCIAL_FIELDS.items()):
        return "wrong_type"
    if obj["market"] not in ref.markets:
        return "unknown_market"
    return _time_checks(obj, ref, landing)


# ---- helpers -----------------------------------------------------------------------------
def _read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _raw_lines(root: Path, source: str):
    """(relative file, 1-based line, landing date, raw bytes) in a stable order."""
    for path in sorted((root / source).glob("date=*/*.jsonl.gz")):
        landing = dt.date.fromisoformat(path.parent.name.removeprefix("date="))
        rel = path.relative_to(root).as_posix()
        for number, raw in enumerate(gzip.decompress(path.read_bytes()).split(b"\n")[:-1], start=1):
            yield rel, number, landing, raw


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _clean_rates() -> FaultRates:
    return FaultRates.none()


# ---- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    report = generate(root, GeneratorSettings.tiny())
    return root, report


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    settings = GeneratorSettings.tiny(faults=_clean_rates(), social_faults=_clean_rates())
    generate(root, settings)
    return root


@pytest.fixture(scope="module")
def longer(tmp_path_factory):
    """Long enough for renewals, failed payments and several churn as-of dates."""
    root = tmp_path_factory.mktemp("longer")
    settings = GeneratorSettings.tiny(
        users=600,
        days=75,
        faults=_clean_rates(),
        social_faults=_clean_rates(),
        social_posts_per_day=20.0,
    )
    generate(root, settings)
    return root


# ---- contract ----------------------------------------------------------------------------
def test_clean_run_is_exactly_the_contract(clean):
    ref = Reference(clean)
    ids, count = set(), 0
    for rel, number, landing, raw in _raw_lines(clean, "events"):
        assert validate_event(raw, landing, ref) is None, (rel, number, raw)
        event = json.loads(raw)
        assert event["event_id"] not in ids
        ids.add(event["event_id"])
        assert _parse_ts(event["ts"]).date() == landing  # no late lines in a clean run
        count += 1
    posts = 0
    for rel, number, landing, raw in _raw_lines(clean, "social"):
        assert validate_post(raw, landing, ref) is None, (rel, number, raw)
        posts += 1
    types = Counter(json.loads(raw)["event_type"] for *_, raw in _raw_lines(clean, "events"))
    assert set(types) == set(EVENT_FIELDS)
    assert count > 3000 and posts > 500
    summary = json.loads((clean / "_truth/summary.json").read_text())
    assert summary["sources"]["events"]["lines_written"] == count
    assert summary["sources"]["events"]["clean_unique_records"] == count


def test_no_event_falls_after_the_simulated_period(tmp_path, monkeypatch):
    """A refund comes days after its payment; one due after the last simulated day is
    not emitted, or the data would run on for days in which nobody watches anything
    (and the feature store's newest as-of date with it). Every payment is refunded
    here, so payments near the end would produce such refunds."""
    from fanbase.demo import behaviour

    monkeypatch.setattr(behaviour, "REFUND_PROBABILITY", 1.0)
    settings = GeneratorSettings.tiny(
        users=200, days=40, workers=1, faults=_clean_rates(), social_faults=_clean_rates()
    )
    generate(tmp_path, settings)
    end = settings.start_date + dt.timedelta(days=settings.days)
    events = [json.loads(raw) for *_, raw in _raw_lines(tmp_path, "events")]
    refunds = [e for e in events if e.get("status") == "refunded"]
    assert len(refunds) >= 5  # the patch took effect
    assert max(_parse_ts(e["ts"]).date() for e in events) < end


def test_json_lines_are_compact_with_stable_key_order(clean):
    for *_, raw in list(_raw_lines(clean, "events"))[:200]:
        event = json.loads(raw)
        assert raw == json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        expected = list(ENVELOPE) + list(EVENT_FIELDS[event["event_type"]])
        assert list(event) == expected


def test_reference_files(clean):
    ref = Reference(clean)
    assert set(ref.markets) == {"DE", "AT", "CH", "IT", "ES", "JP", "CA", "US", "GB", "BR"}
    start = dt.date(2024, 8, 1)
    launched_later = [
        m for m in ref.markets.values() if dt.date.fromisoformat(m["launched_on"]) > start
    ]
    assert launched_later, "some market must launch during the period"
    for f in ref.fixtures.values():
        assert list(f) == [
            "fixture_id",
            "sport",
            "competition",
            "home",
            "away",
            "kickoff",
            "duration_minutes",
            "markets",
            "tier",
        ]
        assert _parse_ts(f["kickoff"]) is not None and f["tier"] in ("marquee", "standard")
        assert set(f["markets"]) <= set(ref.markets)


# ---- determinism -------------------------------------------------------------------------
def test_same_seed_is_byte_identical_for_any_worker_count(tiny, tmp_path):
    root, _ = tiny
    generate(tmp_path / "one", GeneratorSettings.tiny(workers=1))
    assert _tree_hashes(tmp_path / "one") == _tree_hashes(root)


def test_other_seed_differs(tiny, tmp_path):
    root, _ = tiny
    generate(tmp_path / "other", GeneratorSettings.tiny(seed=7))
    a, b = _tree_hashes(tmp_path / "other"), _tree_hashes(root)
    assert a["_truth/users.jsonl.gz"] != b["_truth/users.jsonl.gz"]
    shared = set(a) & set(b)
    assert sum(a[k] != b[k] for k in shared if k.startswith("events/")) > 0


# ---- planted faults ----------------------------------------------------------------------
def test_every_listed_fault_is_there_and_nothing_else_is_bad(tiny):
    root, _ = tiny
    ref = Reference(root)
    faults = {(f["file"], f["line"]): f for f in _read_jsonl(root / "_truth/faults.jsonl")}
    seen_clean: dict[str, dict[str, bytes]] = {"events": {}, "social": {}}
    kinds = {"events": Counter(), "social": Counter()}
    for source, validate, id_key in (
        ("events", validate_event, "event_id"),
        ("social", validate_post, "post_id"),
    ):
        # Landing-date order, so "earlier" means an earlier or the same landing day.
        for rel, number, landing, raw in _raw_lines(root, source):
            fault = faults.pop((rel, number), None)
            kind = fault["kind"] if fault else None
            kinds[source][kind] += 1
            if kind == "duplicate":
                assert seen_clean[source].get(fault[id_key]) == raw, (rel, number)
                continue
            if kind in (None, "late"):
                assert validate(raw, landing, ref) is None, (rel, number, raw)
                record = json.loads(raw)
                assert record[id_key] not in seen_clean[source], "clean ids are unique"
                seen_clean[source][record[id_key]] = raw
                event_date = _parse_ts(record["ts"]).date()
                assert event_date < landing if kind == "late" else event_date == landing
                continue
            assert validate(raw, landing, ref) == kind, (rel, number, kind, raw)
            assert fault[id_key] not in seen_clean[source]
    assert not faults, f"listed faults not found: {list(faults)[:3]}"
    assert set(kinds["events"]) - {None} == ALL_EVENT_KINDS | {"duplicate", "late"}
    assert set(kinds["social"]) - {None} <= SOCIAL_KINDS | {"duplicate", "late"}
    assert {"duplicate", "late", "not_json"} <= set(kinds["social"])
    summary = json.loads((root / "_truth/summary.json").read_text())
    for source in ("events", "social"):
        s = summary["sources"][source]
        assert s["lines_written"] == sum(kinds[source].values())
        assert s["duplicate_lines"] == kinds[source]["duplicate"]
        assert s["late_lines"] == kinds[source]["late"]
        assert s["clean_unique_records"] == kinds[source][None] + kinds[source]["late"]
        bad = {k: n for k, n in kinds[source].items() if k not in (None, "late", "duplicate")}
        assert s["faulty_lines"] == bad


def test_bad_line_ids_are_never_clean_ids(tiny):
    root, _ = tiny
    faults = {(f["file"], f["line"]): f for f in _read_jsonl(root / "_truth/faults.jsonl")}
    bad_ids = {f.get("event_id") for f in faults.values() if f["kind"] not in ("duplicate", "late")}
    clean_ids = set()
    for rel, number, _, raw in _raw_lines(root, "events"):
        if faults.get((rel, number), {}).get("kind", "late") == "late":
            clean_ids.add(json.loads(raw)["event_id"])
    assert len(bad_ids) > 50 and not bad_ids & clean_ids


# ---- planted signup lift -----------------------------------------------------------------
def _first_signups(root: Path) -> dict[str, tuple[str, dt.datetime]]:
    first: dict[str, tuple[str, dt.datetime]] = {}
    for *_, raw in _raw_lines(root, "events"):
        event = json.loads(raw)
        if event["event_type"] != "signup":
            continue
        ts = _parse_ts(event["ts"])
        if event["user_id"] not in first or ts < first[event["user_id"]][1]:
            first[event["user_id"]] = (event["market"], ts)
    return first


def _merge(windows):
    merged = []
    for lo, hi in sorted(windows):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return merged


def test_marquee_lift_is_visible_in_raw_signups(longer):
    """First signups inside the lift windows exceed the baseline by the realised extras.

    Baseline = the recorded expected hourly rate integrated over the union of windows
    (win-back signups are excluded by counting each user's FIRST signup only).
    Tolerance: 3 Poisson standard deviations.
    """
    lifts = _read_jsonl(longer / "_truth/fixture_lift.jsonl")
    rates = defaultdict(dict)
    for row in _read_jsonl(longer / "_truth/signup_baseline.jsonl.gz"):
        rates[row["market"]][_parse_ts(row["hour_start"])] = row["expected_signups"]
    windows = defaultdict(list)
    for p in lifts:
        windows[p["market"]].append((_parse_ts(p["window_start"]), _parse_ts(p["window_end"])))
    first = _first_signups(longer)
    observed = baseline = 0.0
    for market, spans in windows.items():
        for lo, hi in _merge(spans):
            observed += sum(1 for m, ts in first.values() if m == market and lo <= ts < hi)
            hour = lo.replace(minute=0, second=0, microsecond=0)
            while hour < hi:
                overlap = (min(hi, hour + dt.timedelta(hours=1)) - max(lo, hour)).total_seconds()
                baseline += rates[market].get(hour, 0.0) * overlap / 3600
                hour += dt.timedelta(hours=1)
    realised = sum(p["realised_extra"] for p in lifts)
    assert realised >= 30
    excess = observed - baseline
    assert abs(excess - realised) <= 3 * math.sqrt(baseline + realised) + 2, (
        observed,
        baseline,
        realised,
    )


def test_fixture_driven_signups_watch_that_fixture_live(longer):
    users = {u["user_id"]: u for u in _read_jsonl(longer / "_truth/users.jsonl.gz")}
    driven = {uid: u["signup_fixture_id"] for uid, u in users.items() if u["signup_fixture_id"]}
    watched = set()
    for *_, raw in _raw_lines(longer, "events"):
        e = json.loads(raw)
        if (
            e["event_type"] == "playback"
            and e["mode"] == "live"
            and driven.get(e["user_id"]) == e["fixture_id"]
        ):
            watched.add(e["user_id"])
    assert driven and watched == set(driven)


# ---- calendar ----------------------------------------------------------------------------
def test_default_calendar_is_big_varied_and_rights_differ():
    fixtures = build_calendar(GeneratorSettings())
    assert len(fixtures) >= 10_000
    assert len({f.sport for f in fixtures}) >= 6
    by_market = defaultdict(set)
    for f in fixtures:
        for m in f.markets:
            by_market[m].add(f.fixture_id)
    assert len(by_market) >= 10
    sets = [frozenset(s) for s in by_market.values()]
    assert len(set(sets)) == len(sets), "every market has its own rights"
    assert 0.01 < sum(f.marquee for f in fixtures) / len(fixtures) < 0.1
    # Real kickoff converted from local time: Gladbach - Leverkusen, 2024-08-23 20:30 CEST.
    opener = [
        f
        for f in fixtures
        if f.home == "Borussia Mönchengladbach" and f.away == "Bayer 04 Leverkusen"
    ]
    assert opener[0].reference_row()["kickoff"] == "2024-08-23T18:30:00.000Z"


def test_other_start_date_shifts_football_by_whole_weeks():
    base = build_calendar(GeneratorSettings(days=60))
    shifted = build_calendar(GeneratorSettings(start_date=dt.date(2025, 8, 1), days=60))

    def football(fixtures):
        return {(f.competition, f.home, f.away): f for f in fixtures if f.sport == "football"}

    a, b = football(base), football(shifted)
    common = set(a) & set(b)
    assert len(common) > 100
    for key in list(common)[:200]:
        days = (b[key].kickoff - a[key].kickoff).total_seconds() / 86400
        assert round(days) % 7 == 0, "whole weeks, so weekdays are kept"
        assert abs(days - round(days)) <= 1 / 24, "same local time (UTC moves at most 1h by DST)"


# ---- social ------------------------------------------------------------------------------
def test_social_truth_matches_text_and_labels(tiny):
    root, _ = tiny
    truth = {p["post_id"]: p for p in _read_jsonl(root / "_truth/social_posts.jsonl.gz")}
    texts = {}
    for *_, raw in _raw_lines(root, "social"):
        try:
            post = json.loads(raw)
        except ValueError:
            continue
        if "text" in post and post.get("post_id") in truth:
            texts[post["post_id"]] = post["text"]
    assert len(texts) == len(truth)
    for post_id, t in truth.items():
        for entity in t["entities"]:
            assert entity["type"] in ("team", "competition", "player", "service")
            assert entity["surface"] in texts[post_id], (post_id, entity)
    assert {t["sentiment"] for t in truth.values()} == {"positive", "neutral", "negative"}
    assert {"en", "de", "it", "es"} <= {t["language"] for t in truth.values()}
    labels = _read_jsonl(root / "labels/social_sentiment/labels.jsonl")
    assert 0.05 < len(labels) / len(truth) < 0.2
    for label in labels:
        assert list(label) == ["post_id", "sentiment"]
        assert truth[label["post_id"]]["sentiment"] == label["sentiment"]


def test_service_sentiment_follows_buffering_incidents(tiny):
    root, _ = tiny
    incidents = {
        (i["fixture_id"], i["market"]) for i in _read_jsonl(root / "_truth/incidents.jsonl")
    }
    service = [
        p for p in _read_jsonl(root / "_truth/social_posts.jsonl.gz") if p["topic"] == "service"
    ]
    during = [p for p in service if (p["fixture_id"], p["market"]) in incidents]
    normal = [p for p in service if p["fixture_id"] is None]
    assert during and normal
    assert all(p["sentiment"] == "negative" for p in during)
    assert sum(p["sentiment"] == "negative" for p in normal) / len(normal) < 0.5


# ---- churn -------------------------------------------------------------------------------
def test_churn_truth(longer):
    model = json.loads((longer / "_truth/churn_model.json").read_text())
    for name, beta in model["coefficients"].items():
        assert model["hazard_ratios"][name] == pytest.approx(math.exp(beta))
    assert model["hazard_ratios"]["high_buffering"] > 1
    assert model["hazard_ratios"]["failed_payment_last_30d"] > 1
    rows = _read_jsonl(longer / "_truth/churn_probability.jsonl.gz")
    assert len({r["as_of_date"] for r in rows}) >= 5
    assert all(0.0 <= r["p_churn"] <= 1.0 and r["horizon_days"] == 30 for r in rows)

    def mean(values):
        values = list(values)
        assert values, "both groups must be present"
        return sum(values) / len(values)

    monthly = [r for r in rows if r["plan"] == "monthly"]
    for flag in ("failed_payment_last_30d", "high_buffering"):
        with_flag = mean(r["p_churn"] for r in monthly if r[flag])
        without = mean(r["p_churn"] for r in monthly if not r[flag])
        assert with_flag > without, flag


def test_churn_probabilities_are_calibrated_against_realised_cancels(longer):
    """Mean p_churn over as-of rows whose horizon ends in the period ~ realised cancel rate."""
    subs = {s["subscription_id"]: s for s in _read_jsonl(longer / "_truth/subscriptions.jsonl.gz")}
    end = dt.date(2024, 8, 1) + dt.timedelta(days=75)
    rows = [
        r
        for r in _read_jsonl(longer / "_truth/churn_probability.jsonl.gz")
        if dt.date.fromisoformat(r["as_of_date"]) + dt.timedelta(days=30) <= end
    ]
    assert len(rows) > 300
    realised = 0
    for r in rows:
        cancel = subs[r["subscription_id"]]["cancel_ts"]
        as_of = dt.date.fromisoformat(r["as_of_date"])
        if cancel and as_of <= _parse_ts(cancel).date() < as_of + dt.timedelta(days=30):
            realised += 1
    expected = sum(r["p_churn"] for r in rows)
    assert abs(realised - expected) <= 4 * math.sqrt(expected) + 3, (realised, expected)


def test_planted_fixture_lifts_are_heavy_tailed_and_favour_the_home_market():
    """A few blockbusters per market bring most of the lift (what content attribution
    must find): the top 5 % of a big market's pairs expect at least 40 % of its lift;
    a fixture expects twice as much per unit of market size in its home market."""
    from fanbase.demo.markets import build_markets
    from fanbase.demo.population import baseline_rates, plan_lifts

    settings = GeneratorSettings(workers=1)
    markets = build_markets(settings)
    fixtures = build_calendar(settings)
    start_ms = int(dt.datetime.combine(settings.start_date, dt.time(), dt.UTC).timestamp() * 1000)
    lifts = plan_lifts(settings, markets, fixtures, baseline_rates(settings, markets), start_ms)
    total = sum(p.expected_lift for p in lifts)
    assert total == pytest.approx(settings.fixture_lift_share * settings.users)
    for market in ("DE", "IT", "GB"):
        expected = sorted((p.expected_lift for p in lifts if p.market == market), reverse=True)
        top = expected[: max(1, len(expected) // 20)]
        assert sum(top) >= 0.4 * sum(expected), market
    by_fixture = defaultdict(dict)
    for p in lifts:
        by_fixture[p.fixture_index][p.market] = p.expected_lift
    f = next(f for f in fixtures if f.markets[:2] == ("DE", "AT") and len(by_fixture[f.index]) >= 2)
    per_size = {m: by_fixture[f.index][m] / markets[m].size for m in ("DE", "AT")}
    assert per_size["DE"] == pytest.approx(2 * per_size["AT"])
