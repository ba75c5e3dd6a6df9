"""Ingestion against the generator's truth: quarantine reasons line by line, exactly
once delivery, reconciliation, reruns, incremental batches, replay and a real crash."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fanbase.demo import generate
from fanbase.demo.settings import GeneratorSettings
from fanbase.ingest.parse import SOURCE_DIRS
from fanbase.jobs import ingest
from fanbase.jobs._runner import build_parser, run_job
from fanbase.lakehouse import Lakehouse

pytestmark = pytest.mark.spark

SILVER = (
    "silver.markets",
    "silver.fixtures",
    "silver.events",
    "silver.playback_sessions",
    "silver.subscriptions",
    "silver.social_posts",
    "silver.sentiment_labels",
    "silver.quarantine",
    "bronze.raw_lines",
)
# Columns that name the run that wrote a row; everything else must be identical.
RUN_COLUMNS = {"run_id", "quarantined_at", "resolved_run_id", "ingest_run_id", "ingested_at"}


def _ingest(spark, raw: Path, root: Path, *extra: str) -> dict:
    args = build_parser(ingest).parse_args(
        ["--raw-root", str(raw), "--set", f"lakehouse.root={root}", *extra]
    )
    return run_job(ingest, args, spark=spark)


def _lake(spark, settings, root: Path) -> Lakehouse:
    return Lakehouse(spark, settings.lakehouse.model_copy(update={"root": str(root)}))


def _snapshot(lake: Lakehouse) -> dict[str, list]:
    out = {}
    for table in SILVER:
        df = lake.read(table)
        columns = [c for c in df.columns if c not in RUN_COLUMNS]
        out[table] = sorted(tuple(r) for r in df.select(*columns).collect())
    return out


def _read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("raw")
    generate(out, GeneratorSettings.tiny(workers=1))
    return out


@pytest.fixture(scope="module")
def truth(raw) -> dict:
    return {
        "summary": json.loads((raw / "_truth" / "summary.json").read_text()),
        "faults": _read_jsonl(raw / "_truth" / "faults.jsonl"),
        "subscriptions": _read_jsonl(raw / "_truth" / "subscriptions.jsonl.gz"),
    }


@pytest.fixture(scope="module")
def full(spark, settings, raw, tmp_path_factory):
    """One ingest of all landing dates, and what it wrote."""
    root = tmp_path_factory.mktemp("lake-full")
    summary = _ingest(spark, raw, root)
    lake = _lake(spark, settings, root)
    return {"root": root, "summary": summary, "lake": lake, "snapshot": _snapshot(lake)}


def _runs(lake: Lakehouse, run_id: str) -> dict[str, dict]:
    rows = lake.read("ops.ingest_runs").where(f"run_id = '{run_id}'").collect()
    return {r.source: r.asDict() for r in rows}


def test_counts_reconcile_and_match_the_truth(full, truth):
    runs = _runs(full["lake"], full["summary"]["run_id"])
    for source in ("events", "social"):
        expected = truth["summary"]["sources"][source]
        run = runs[source]
        assert run["lines_read"] == expected["lines_written"]
        assert run["accepted"] == expected["clean_unique_records"]
        assert run["duplicates"] == expected["duplicate_lines"]
        assert run["quarantined"] == sum(expected["faulty_lines"].values())
        assert run["reconciled"]
    assert all(r["reconciled"] for r in runs.values())


def test_every_injected_fault_is_quarantined_with_its_reason(full, truth):
    quarantine = full["lake"].read("silver.quarantine")
    got = {
        (r.source_file, r.line_number): r.reason
        for r in quarantine.select("source_file", "line_number", "reason").collect()
    }
    expected = {
        (f["file"], f["line"]): f["kind"]
        for f in truth["faults"]
        if f["kind"] not in ("late", "duplicate")
    }
    assert got == expected  # the same lines, each with the same reason, nothing more
    sample = quarantine.where("reason = 'not_json'").first()
    assert sample.line and sample.detail.startswith("not JSON")


def test_every_clean_event_lands_exactly_once_and_late_ones_in_their_event_date(full, truth):
    events = full["lake"].read("silver.events")
    expected = truth["summary"]["sources"]["events"]["clean_unique_records"]
    assert events.count() == expected
    assert events.select("event_id").distinct().count() == expected
    late = {
        f.get("event_id")
        for f in truth["faults"]
        if f["kind"] == "late" and f["source"] == "events"
    }
    late_rows = events.where(events.event_id.isin(sorted(late))).collect()
    assert len(late_rows) == len(late) > 0
    assert all(r.event_date == r.ts.date() and r.landing_date > r.event_date for r in late_rows)
    dupes = [f for f in truth["faults"] if f["kind"] == "duplicate"]
    event_dupes = sorted({f["event_id"] for f in dupes if f["source"] == "events"})
    post_dupes = sorted({f["post_id"] for f in dupes if f["source"] == "social"})
    posts = full["lake"].read("silver.social_posts")
    # each redelivered record is kept once
    assert events.where(F.col("event_id").isin(event_dupes)).count() == len(event_dupes) > 0
    assert posts.where(F.col("post_id").isin(post_dupes)).count() == len(post_dupes) > 0


def test_subscription_spells_match_the_truth(full, truth):
    spells = {r.subscription_id: r for r in full["lake"].read("silver.subscriptions").collect()}
    planted = {s["subscription_id"]: s for s in truth["subscriptions"]}
    assert set(spells) == set(planted)
    for sub_id, spell in spells.items():
        assert spell.churned == (planted[sub_id]["cancel_ts"] is not None), sub_id
        assert spell.spell_number == planted[sub_id]["spell"]
        assert spell.plan == planted[sub_id]["plan"] and not spell.left_truncated


def test_playback_sessions_carry_sport_and_competition(full):
    sessions = full["lake"].read("silver.playback_sessions")
    with_fixture = sessions.where("fixture_id IS NOT NULL")
    assert with_fixture.count() > 0
    assert with_fixture.where("sport IS NULL OR competition IS NULL").count() == 0
    assert (
        sessions.count()
        == full["lake"].read("silver.events").where("event_type = 'playback'").count()
    )


def test_tables_have_comments_constraints_and_change_feed(spark, full):
    lake = full["lake"]
    detail = spark.sql(f"DESCRIBE DETAIL {lake.ref('silver.events')}").first()
    assert detail.partitionColumns == ["event_month"]
    props = {
        r.key: r.value
        for r in spark.sql(f"SHOW TBLPROPERTIES {lake.ref('silver.events')}").collect()
    }
    assert props["delta.enableChangeDataFeed"] == "true"
    assert "delta.constraints.non_negative_watch" in props
    columns = {r.col_name: r.comment for r in spark.sql("DESCRIBE TABLE silver.events").collect()}
    assert columns["watch_seconds"] == "playback: seconds watched"
    with pytest.raises(Exception, match="non_negative_watch"):
        bad = lake.read("silver.events").limit(1).withColumn("watch_seconds", F.lit(-5))
        lake.append("silver.events", bad)


def _versions(lake: Lakehouse) -> dict[str, int]:
    return {t: lake.version(t) for t in SILVER}


def test_rerun_leaves_identical_tables_and_commits_nothing_to_silver(spark, settings, raw, full):
    lake = full["lake"]
    before = _versions(lake)
    dates = sorted(p.name.removeprefix("date=") for p in (raw / "events").iterdir())
    # Every landing date again, on purpose (dates given: read whatever was done before).
    summary = _ingest(spark, raw, full["root"], "--from", dates[0], "--to", dates[-1])
    assert _snapshot(lake) == full["snapshot"]
    assert _versions(lake) == before
    rerun = _runs(lake, summary["run_id"])
    assert rerun["events"]["reconciled"] and rerun["events"]["lines_read"] > 0


@pytest.mark.parametrize("prefer_latest", [False, True])
def test_the_tally_from_contested_keys_equals_classifying_every_row(spark, prefer_latest):
    """Oracle: the counts tally_deliveries reads off the contested keys are what
    classify_deliveries gives row by row: keys new, redelivered in the batch, already in
    silver as this very line, and in silver with an earlier or a later delivery."""
    from fanbase.ingest.silver import (
        ACCEPTED,
        classify_deliveries,
        contested_keys,
        tally_deliveries,
    )

    schema = "k string, landing_date date, source_file string, line_number long"
    d1, d2, d3 = (dt.date(2026, 1, day) for day in (1, 2, 3))
    batch = spark.createDataFrame(
        [
            ("new", d2, "a", 1),
            ("twice", d2, "a", 2),
            ("twice", d3, "b", 1),
            ("thrice", d2, "a", 3),
            ("thrice", d2, "a", 4),
            ("thrice", d3, "b", 2),
            ("same", d2, "a", 5),
            ("silver_earlier", d2, "a", 6),
            ("silver_later", d2, "a", 7),
            ("silver_earlier_twice", d2, "a", 8),
            ("silver_earlier_twice", d3, "b", 3),
        ],
        schema,
    )
    silver = spark.createDataFrame(
        [
            ("same", d2, "a", 5),
            ("silver_earlier", d1, "z", 1),
            ("silver_later", d3, "z", 1),
            ("silver_earlier_twice", d1, "z", 2),
            ("untouched", d1, "z", 3),
        ],
        schema,
    )
    contested = contested_keys(batch, silver, "k", prefer_latest).localCheckpoint()
    rows = classify_deliveries(batch, contested, "k", prefer_latest).collect()
    expected = (
        sum(r["_status"] == ACCEPTED for r in rows),
        sum(r["_status"] != ACCEPTED for r in rows),
        sum(r["_changed"] for r in rows),
    )
    got = tally_deliveries(contested, batch.count(), prefer_latest)
    assert (got.accepted, got.duplicates, got.changed) == expected
    # By hand. Earliest wins: new, twice, thrice, same and silver_later are accepted,
    # all but same changed; the later deliveries and silver_earlier* are duplicates.
    # Latest wins: silver_earlier and silver_earlier_twice win instead of silver_later.
    assert expected == ((6, 5, 5) if prefer_latest else (5, 6, 4))


def test_a_raw_root_without_the_layout_is_an_error_naming_the_folder(spark, raw, tmp_path):
    with pytest.raises(Exception, match=r"reference/markets: not found; EVENTS.md expects"):
        _ingest(spark, tmp_path / "nothing-here", tmp_path / "lake")
    # A product-event file outside the date= folders would be read by nobody.
    source = tmp_path / "raw"
    for folder in ("reference", "labels"):
        shutil.copytree(raw / folder, source / folder)
    (source / "events").mkdir()
    (source / "events" / "stray.jsonl").write_text("{}\n")
    with pytest.raises(Exception, match=r"events/stray.jsonl: expected date=YYYY-MM-DD/ folders"):
        _ingest(spark, source, tmp_path / "lake2")


def _lines_in(folder: Path) -> int:
    total = 0
    for path in folder.iterdir():
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            total += sum(1 for _ in fh)
    return total


def test_a_run_without_dates_reads_only_new_or_changed_files(spark, settings, raw, full, tmp_path):
    source, root = tmp_path / "raw", tmp_path / "lake"
    shutil.copytree(raw, source)  # copy2: the same sizes and modification times
    shutil.copytree(full["root"], root)
    lake = _lake(spark, settings, root)
    before = _versions(lake)
    recorded = lake.read("ops.ingest_files").count()
    folders = [source / folder for folder, _ in SOURCE_DIRS.values()]
    assert recorded == sum(1 for f in folders for p in f.rglob("*") if p.is_file())

    # Nothing new: no line is read and nothing is committed.
    runs = _runs(lake, _ingest(spark, source, root)["run_id"])
    assert {s: (r["lines_read"], r["landing_dates"]) for s, r in runs.items()} == {
        **{s: (0, "none new") for s in ("markets", "fixtures", "events", "social", "labels")},
        "quarantine_replay": (runs["quarantine_replay"]["lines_read"], "quarantined lines"),
    }
    assert _versions(lake) == before and _snapshot(lake) == full["snapshot"]

    # A file arrives in a landing date done before: that date is read again as a whole
    # (its old files are duplicates now), no other; the new event lands once.
    day = sorted(p.name for p in (source / "events").iterdir())[2]
    event = {
        "event_id": "ev-arrived-1",
        "event_type": "app_open",
        "ts": f"{day.removeprefix('date=')}T19:00:00.000Z",
        "user_id": "u-de-999998",
        "market": "DE",
        "device": "web",
    }
    (source / "events" / day / "part-arrived.jsonl").write_text(json.dumps(event) + "\n")
    # A reference file rewritten with the same content: read again, nothing changes.
    fixtures = next((source / "reference" / "fixtures").iterdir())
    fixtures.write_bytes(fixtures.read_bytes())
    events_before = lake.read("silver.events").count()
    runs = _runs(lake, _ingest(spark, source, root)["run_id"])
    day_date = day.removeprefix("date=")
    assert runs["events"]["landing_dates"] == f"{day_date}..{day_date} (1 dates)"
    assert runs["events"]["lines_read"] == _lines_in(source / "events" / day)
    assert runs["events"]["reconciled"]
    assert runs["fixtures"]["lines_read"] == _lines_in(fixtures.parent)
    assert (runs["social"]["lines_read"], runs["markets"]["lines_read"]) == (0, 0)
    assert lake.read("silver.events").count() == events_before + 1
    assert lake.version("silver.fixtures") == before["silver.fixtures"]
    # And now that is done too.
    runs = _runs(lake, _ingest(spark, source, root)["run_id"])
    assert runs["events"]["lines_read"] == runs["fixtures"]["lines_read"] == 0


@pytest.mark.slow
def test_landing_dates_in_two_batches_equal_one_full_run(spark, settings, raw, full, tmp_path):
    dates = sorted(p.name.removeprefix("date=") for p in (raw / "events").iterdir())
    middle = len(dates) // 2
    root = tmp_path / "lake"
    # later landing dates first: the outcome must not depend on the order
    _ingest(spark, raw, root, "--from", dates[middle], "--to", dates[-1])
    _ingest(spark, raw, root, "--from", dates[0], "--to", dates[middle - 1])
    assert _snapshot(_lake(spark, settings, root)) == full["snapshot"]


@pytest.mark.slow
def test_new_files_in_a_landing_date_and_replay_once_the_calendar_catches_up(
    spark, settings, raw, tmp_path
):
    source = tmp_path / "raw"
    shutil.copytree(raw, source, ignore=shutil.ignore_patterns("_truth"))
    root = tmp_path / "lake"
    day = sorted(p.name for p in (source / "events").iterdir())[3]
    _ingest(spark, source, root, "--date", day.removeprefix("date="))
    lake = _lake(spark, settings, root)
    before = lake.read("silver.events").count()

    playback = {
        "event_id": "ev-added-1",
        "event_type": "playback",
        "ts": f"{day.removeprefix('date=')}T20:00:00.000Z",
        "user_id": "u-de-999999",
        "market": "DE",
        "session_id": "ss-added-1",
        "fixture_id": "fx-added-1",
        "device": "tv",
        "mode": "live",
        "watch_seconds": 5400,
        "buffering_seconds": 3,
    }
    app_open = {
        "event_id": "ev-added-2",
        "event_type": "app_open",
        "ts": f"{day.removeprefix('date=')}T19:00:00.000Z",
        "user_id": "u-de-999999",
        "market": "DE",
        "device": "tv",
    }
    late_file = source / "events" / day / "part-late.jsonl"
    late_file.write_text(json.dumps(playback) + "\n" + json.dumps(app_open) + "\n")
    _ingest(spark, source, root, "--date", day.removeprefix("date="))
    assert lake.read("silver.events").count() == before + 1
    waiting = lake.read("silver.quarantine").where("source_file LIKE '%part-late.jsonl'").first()
    assert (waiting.reason, waiting.replayable, waiting.resolved_run_id) == (
        "unknown_fixture",
        True,
        None,
    )

    fixture = {
        "fixture_id": "fx-added-1",
        "sport": "football",
        "competition": "Testliga",
        "home": "A",
        "away": "B",
        "kickoff": f"{day.removeprefix('date=')}T19:30:00.000Z",
        "duration_minutes": 115,
        "markets": ["DE"],
        "tier": "marquee",
    }
    (source / "reference" / "fixtures" / "update.jsonl").write_text(json.dumps(fixture) + "\n")
    other_day = sorted(p.name for p in (source / "events").iterdir())[5].removeprefix("date=")
    summary = _ingest(spark, source, root, "--date", other_day)
    replay = _runs(lake, summary["run_id"])["quarantine_replay"]
    # Our line is accepted; the generator's own unknown-fixture faults of earlier days
    # are tried too and stay quarantined. (Those of the day read were just validated.)
    waiting = lake.read("silver.quarantine").where(
        "replayable AND resolved_run_id IS NULL AND source_file NOT LIKE '%part-late.jsonl'"
        f" AND landing_date != DATE'{other_day}'"
    )
    assert replay["accepted"] == 1
    assert replay["lines_read"] == 1 + waiting.count() == 1 + replay["quarantined"]
    assert {r.reason for r in waiting.collect()} <= {"unknown_fixture"}
    resolved = lake.read("silver.quarantine").where("source_file LIKE '%part-late.jsonl'").first()
    assert resolved.resolved_run_id == summary["run_id"]
    session = lake.read("silver.playback_sessions").where("event_id = 'ev-added-1'").first()
    assert (session.sport, session.competition, session.tier) == ("football", "Testliga", "marquee")


def test_a_run_stopped_between_the_silver_merge_and_the_derived_tables_is_made_whole(
    spark, settings, raw, full, tmp_path, monkeypatch
):
    """The narrowest crash window, hit on purpose: silver.events has the batch, playback
    sessions and spells do not. The rerun finds nothing new for silver, and must still
    derive sessions and spells from the events it accepted."""
    from fanbase.ingest.load import IngestRun

    class Stop(Exception):
        pass

    def stop(self, events, dates):
        raise Stop("killed after the silver MERGE")

    root = tmp_path / "lake"
    with monkeypatch.context() as patch:
        patch.setattr(IngestRun, "_derive_from_events", stop)
        with pytest.raises(Stop):
            _ingest(spark, raw, root)
    lake = _lake(spark, settings, root)
    assert lake.read("silver.events").count() == full["lake"].read("silver.events").count()
    assert lake.read("silver.playback_sessions").count() == 0
    _ingest(spark, raw, root)
    assert _snapshot(lake) == full["snapshot"]


@pytest.mark.slow
def test_a_run_killed_mid_way_then_rerun_equals_an_uninterrupted_run(
    spark, settings, raw, full, tmp_path
):
    root = tmp_path / "lake"
    env = {**os.environ, "FANBASE_LOG_LEVEL": "INFO"}
    command = [
        sys.executable,
        "-m",
        "fanbase.cli",
        "ingest",
        "--raw-root",
        str(raw),
        "--set",
        f"lakehouse.root={root}",
        "--set",
        "spark.conf.spark.driver.memory=1g",
    ]
    proc = subprocess.Popen(
        command,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    killed_at = None
    try:
        for line in proc.stderr:
            # kill while events are being written: their lines are in bronze, silver next
            if "fanbase.ingest.load: events: bronze" in line:
                time.sleep(1)
                os.killpg(proc.pid, signal.SIGKILL)
                killed_at = line
                break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert killed_at is not None, "the run ended before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    lake = _lake(spark, settings, root)
    # It really stopped part-way: events in bronze, the run neither logged nor derived.
    assert lake.read("bronze.raw_lines").where("source = 'events'").count() > 0
    assert lake.read("ops.ingest_runs").count() == 0
    assert lake.read("silver.playback_sessions").count() == 0
    _ingest(spark, raw, root)
    assert _snapshot(lake) == full["snapshot"]


def test_silver_is_readable_without_spark(full):
    import duckdb
    import polars as pl
    from deltalake import DeltaTable

    root = full["root"]
    events = DeltaTable(str(root / "silver" / "events")).to_pyarrow_dataset()
    query = "SELECT event_type, count(*) FROM events GROUP BY 1"
    by_type = dict(duckdb.from_arrow(events).query("events", query).fetchall())
    spark_counts = {
        r.event_type: r["count"]
        for r in full["lake"].read("silver.events").groupBy("event_type").count().collect()
    }
    assert by_type == spark_counts
    spells = pl.read_delta(str(root / "silver" / "subscriptions"))
    assert spells.height == full["lake"].read("silver.subscriptions").count()
