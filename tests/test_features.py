"""The feature store against oracles written the slow obvious way: features per row,
point-in-time joins, incremental builds against a full rebuild, and no leakage."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fanbase.config import ConfigError, load_settings
from fanbase.demo import generate
from fanbase.demo.settings import GeneratorSettings
from fanbase.features import training
from fanbase.featurestore import FeatureStore, describe
from fanbase.jobs import features as features_job
from fanbase.jobs import ingest
from fanbase.jobs._runner import build_parser, run_job
from fanbase.lakehouse import Lakehouse

DAY = dt.timedelta(days=1)


# ---------------------------------------------------------------- no Spark


def test_every_feature_is_listed_once_with_type_and_description():
    rows = describe(load_settings("local").features)
    names = [r["feature"] for r in rows]
    assert len(names) == len(set(names)), "a feature name is declared twice"
    assert {r["group"] for r in rows} == {
        "engagement",
        "content_mix",
        "devices",
        "quality",
        "billing",
        "lifecycle",
    }
    assert all(r["type"] and len(r["description"]) > 10 for r in rows)
    assert {"watch_hours_28d", "live_share_28d", "favourite_competition_in_season"} <= set(names)


def test_a_group_config_mistake_names_the_key():
    with pytest.raises(ConfigError, match=r"features\.groups\.quality\.window_days"):
        load_settings("local", overrides=["features.groups.quality.window_days=3"])
    with pytest.raises(ConfigError, match=r"features\.groups\.engagement\.windows"):
        load_settings("local", overrides=["features.groups.engagement.windows=[]"])


def test_disabling_a_group_removes_its_features():
    settings = load_settings("local", overrides=["features.groups.devices.enabled=false"])
    assert "devices" not in {r["group"] for r in describe(settings.features)}


def test_list_command_prints_every_feature(capsys):
    from fanbase.cli import main

    assert main(["features", "list"]) == 0
    out = capsys.readouterr().out
    assert "features.engagement" in out and "days_since_last_watch" in out


# ---------------------------------------------------------------- with Spark


def _run(module, spark, root: Path, *argv: str) -> dict:
    args = build_parser(module).parse_args([*argv, "--set", f"lakehouse.root={root}"])
    return run_job(module, args, spark=spark)


def _store(spark, settings, root: Path) -> FeatureStore:
    lake = Lakehouse(spark, settings.lakehouse.model_copy(update={"root": str(root)}))
    return FeatureStore(lake, settings.features)


def _rows(store: FeatureStore, table: str) -> dict[tuple, dict]:
    df = store.lake.read(table).drop("as_of_month")
    return {(r.user_id, r.as_of_date): r.asDict() for r in df.collect()}


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("raw-features")
    generate(out, GeneratorSettings.tiny(workers=1))
    return out


@pytest.fixture(scope="module")
def built(spark, settings, raw, tmp_path_factory):
    """All landing dates ingested, then one feature build (a full one)."""
    root = tmp_path_factory.mktemp("lake-features")
    _run(ingest, spark, root, "--raw-root", str(raw))
    summary = _run(features_job, spark, root)
    store = _store(spark, settings, root)
    return {"root": root, "store": store, "summary": summary}


@pytest.mark.spark
def test_first_build_is_full_and_a_rerun_with_nothing_new_is_skipped(spark, built):
    assert built["summary"]["mode"] == "full"
    lake = built["store"].lake
    silver = (
        "silver.playback_sessions",
        "silver.events",
        "silver.subscriptions",
        "silver.fixtures",
    )
    assert built["summary"]["input_tables"] == {t: lake.version(t) for t in silver}
    again = _run(features_job, spark, built["root"])
    assert again["mode"] == "skipped"
    versions = {t: built["store"].lake.version(t) for t in ("features.engagement",)}
    assert versions["features.engagement"] >= 1


def _oracle(store: FeatureStore) -> dict[tuple, dict]:
    """Selected features for every (user, as-of date), computed row by row in Python."""
    lake = store.lake
    plays = lake.read("silver.playback_sessions").collect()
    payments = lake.read("silver.events").where("event_type = 'payment'").collect()
    spells = lake.read("silver.subscriptions").collect()
    last_day = lake.read("silver.events").agg(F.max("event_date")).first()[0]
    first_day = lake.read("silver.events").agg(F.min("event_date")).first()[0]
    by_user = defaultdict(list)
    for p in plays:
        by_user[p.user_id].append(p)
    pays = defaultdict(list)
    for p in payments:
        pays[p.user_id].append(p)

    out = {}
    day = first_day + DAY
    while day <= last_day + DAY:
        midnight = dt.datetime.combine(day, dt.time())
        holders = {}
        for s in spells:
            start = s.started_at or s.first_seen_at
            if start < midnight and (s.ended_at is None or s.ended_at > midnight):
                best = holders.get(s.user_id)
                if best is None or (start, s.subscription_id) > best[0]:
                    holders[s.user_id] = ((start, s.subscription_id), s)
        for user, ((start, _), s) in holders.items():

            def within(days, rows=by_user[user], day=day):
                return [p for p in rows if day - dt.timedelta(days=days) <= p.event_date < day]

            w7, w28, w90 = within(7), within(28), within(90)
            watch28 = sum(p.watch_seconds for p in w28)
            per_comp = defaultdict(int)
            for p in w90:
                if p.competition is not None:
                    per_comp[p.competition] += p.watch_seconds
            fav = max(((v, k) for k, v in per_comp.items() if v > 0), default=None)
            last = max((p.event_date for p in w90), default=None)
            failed30 = [
                p
                for p in pays[user]
                if p.status == "failed" and day - dt.timedelta(days=30) <= p.event_date < day
            ]
            out[(user, day)] = {
                "watch_hours_7d": sum(p.watch_seconds for p in w7) / 3600.0,
                "sessions_28d": len(w28),
                "distinct_fixtures_7d": len({p.fixture_id for p in w7 if p.fixture_id}),
                "distinct_fixtures_90d": len({p.fixture_id for p in w90 if p.fixture_id}),
                "active_days_28d": len({p.event_date for p in w28}),
                "live_share_28d": (
                    sum(p.watch_seconds for p in w28 if p.mode == "live") / watch28
                    if watch28
                    else 0.0
                ),
                "days_since_last_watch": (day - last).days if last else 91,
                "favourite_competition_90d": fav[1] if fav else None,
                "devices_28d": len({p.device for p in w28}),
                "failed_payments_30d": len(failed30),
                "tenure_days": (day - start.date()).days,
                "spell_number": s.spell_number,
            }
        day += DAY
    return out


@pytest.mark.spark
def test_features_equal_a_row_by_row_oracle(built):
    store = built["store"]
    expected = _oracle(store)
    got = {}
    for table in [g.table for g in store.groups]:
        for key, row in _rows(store, table).items():
            got.setdefault(key, {}).update(row)
    assert set(got) == set(expected), "spine rows differ from the oracle's subscribers"
    assert len(expected) > 1000
    mismatches = []
    for key, want in expected.items():
        for name, value in want.items():
            have = got[key][name]
            same = abs(have - value) < 1e-9 if isinstance(value, float) else have == value
            if not same:
                mismatches.append((key, name, have, value))
    assert not mismatches, mismatches[:10]


@pytest.mark.spark
def test_incremental_days_equal_a_full_rebuild(spark, settings, raw, built, tmp_path):
    """Ingest the first days, build, then one landing day at a time with an incremental
    build after each: the tables end equal to the full build of everything."""
    root = tmp_path / "lake"
    dates = sorted(p.name.removeprefix("date=") for p in (raw / "events").glob("date=*"))
    head, tail = dates[:-2], dates[-2:]
    _run(ingest, spark, root, "--raw-root", str(raw), "--from", head[0], "--to", head[-1])
    assert _run(features_job, spark, root)["mode"] == "full"
    modes = []
    for day in tail:
        _run(ingest, spark, root, "--raw-root", str(raw), "--date", day)
        modes.append(_run(features_job, spark, root)["mode"])
    assert modes == ["incremental"] * len(tail)
    store = _store(spark, settings, root)
    builds = store.lake.read("ops.feature_builds").where("mode = 'incremental'").collect()
    assert len(builds) == len(tail) and sum(b.rows_written for b in builds) > 0
    for g in store.groups:
        assert _rows(store, g.table) == _rows(built["store"], g.table), g.table


@pytest.mark.spark
def test_a_late_cancel_deletes_the_rows_after_access_ended(spark, settings, built, tmp_path):
    """A cancel that arrives late ends a spell before as-of dates already built: the
    incremental build deletes those rows (and only those), like a full rebuild would."""
    import shutil

    root = tmp_path / "lake"
    shutil.copytree(built["root"], root)
    store = _store(spark, settings, root)
    lake = store.lake
    last = lake.read("features.engagement").agg(F.max("as_of_date")).first()[0]
    cut = last - dt.timedelta(days=3)
    spell = (
        lake.read("silver.subscriptions")
        .where("cancelled_at IS NULL AND started_at IS NOT NULL")
        .where(F.col("started_at") < F.lit(cut - dt.timedelta(days=2)).cast("timestamp"))
        .orderBy("subscription_id")
        .first()
    )
    ended = dt.datetime.combine(cut, dt.time(12))
    lake.delta("silver.subscriptions").update(
        condition=F.col("subscription_id") == spell.subscription_id,
        set={
            "cancelled_at": F.lit(ended),
            "ended_at": F.lit(ended),
            "churned": F.lit(True),
        },
    )
    result = store.build("late-cancel")
    assert result.mode == "incremental"
    assert result.rows_deleted == 3 * len(store.groups)  # cut+1 .. last, in every table
    for g in store.groups:
        dates = {k[1] for k in _rows(store, g.table) if k[0] == spell.user_id}
        assert max(dates) == cut, g.table
    incremental = {g.table: _rows(store, g.table) for g in store.groups}
    store.build("late-cancel-full", full=True)
    for g in store.groups:
        assert _rows(store, g.table) == incremental[g.table], g.table


@pytest.mark.spark
def test_features_at_a_date_do_not_change_when_later_data_is_removed(spark, built):
    """No leakage: features as of A from silver cut at A equal the stored ones."""
    from fanbase.features.spine import subscriber_spine
    from fanbase.ingest.silver import subscription_spells

    store = built["store"]
    lake = store.lake
    cut = lake.read("silver.events").agg(F.min("event_date")).first()[0] + dt.timedelta(days=12)
    events = lake.read("silver.events").where(F.col("event_date") < cut)
    inputs = {
        "playback": lake.read("silver.playback_sessions").where(F.col("event_date") < cut),
        "events": events,
        "subscriptions": subscription_spells(events),
        "fixtures": lake.read("silver.fixtures"),
    }
    spine = subscriber_spine(inputs["subscriptions"], cut, cut)
    frames = store.frames(inputs, spine)
    for g in store.groups:
        stored = {k: v for k, v in _rows(store, g.table).items() if k[1] == cut}
        cut_rows = {(r.user_id, r.as_of_date): r.asDict() for r in frames[g.table].collect()}
        assert cut_rows == stored, g.table
        assert len(stored) > 50


def _subscriptions(spark, rows):
    schema = (
        "subscription_id string, user_id string, market string, spell_number int, "
        "plan string, price double, currency string, acquisition_channel string, "
        "promo_code string, started_at timestamp, first_seen_at timestamp, "
        "cancelled_at timestamp, ended_at timestamp, left_truncated boolean"
    )
    ts = dt.datetime.fromisoformat
    data = [
        (
            sid,
            user,
            "DE",
            n,
            "monthly",
            9.99,
            "EUR",
            "organic",
            None,
            ts(start),
            ts(start),
            ts(cancel) if cancel else None,
            ts(end) if end else None,
            False,
        )
        for sid, user, n, start, cancel, end in rows
    ]
    return spark.createDataFrame(data, schema)


@pytest.mark.spark
def test_churn_labels_on_a_small_example(spark):
    subs = _subscriptions(
        spark,
        [
            # u1 cancels on day 10 (access to day 20): label 1 at as-of 01-05, out from 01-11
            ("s1", "u1", 1, "2025-01-01T08:00:00", "2025-01-10T12:00:00", "2025-01-20T08:00:00"),
            # u2 never cancels
            ("s2", "u2", 1, "2025-01-02T08:00:00", None, None),
            # u3 asks to cancel at 00:00 on 01-15, access to 01-20: inside [01-15, 01-25)
            ("s3", "u3", 1, "2025-01-03T08:00:00", "2025-01-15T00:00:00", "2025-01-20T00:00:00"),
        ],
    )
    dates = [dt.date(2025, 1, 5), dt.date(2025, 1, 15), dt.date(2025, 1, 25)]
    labels = training.churn_labels(subs, dates, horizon_days=10, data_end=dt.date(2025, 2, 4))
    got = sorted((r.user_id, str(r.as_of_date), r.label) for r in labels.collect())
    assert got == [
        ("u1", "2025-01-05", 1),
        ("u2", "2025-01-05", 0),
        ("u2", "2025-01-15", 0),
        ("u2", "2025-01-25", 0),
        ("u3", "2025-01-05", 0),
        ("u3", "2025-01-15", 1),
    ]
    # 01-25 + 10 days is after 01-30: only matured dates make it.
    short = training.churn_labels(subs, dates, horizon_days=10, data_end=dt.date(2025, 1, 30))
    assert {str(r.as_of_date) for r in short.collect()} == {"2025-01-05", "2025-01-15"}


@pytest.mark.spark
def test_point_in_time_join_equals_a_brute_force_as_of_lookup(spark, built):
    store = built["store"]
    table = store.lake.read("features.engagement").drop("as_of_month")
    # Keep every third snapshot so the as-of lookup has to reach back.
    sparse = table.where(F.dayofmonth("as_of_date") % 3 == 0).select(
        "user_id", "as_of_date", "watch_hours_28d", "sessions_7d"
    )
    spine = store.lake.read("silver.subscriptions")
    span = table.agg(F.min("as_of_date"), F.max("as_of_date")).first()
    dates = training.as_of_dates(span[0], span[1], 2)
    labels = training.churn_labels(spine, dates, horizon_days=1, data_end=span[1] + DAY)
    lookback = 1
    joined = training.point_in_time_join(labels, sparse, lookback)
    got = {(r.user_id, r.as_of_date): (r.watch_hours_28d, r.sessions_7d) for r in joined.collect()}
    feature_rows = defaultdict(list)
    for r in sparse.collect():
        feature_rows[r.user_id].append(r)
    expected = {}
    for r in labels.collect():
        candidates = [
            f
            for f in feature_rows[r.user_id]
            if r.as_of_date - dt.timedelta(days=lookback) <= f.as_of_date <= r.as_of_date
        ]
        newest = max(candidates, key=lambda f: f.as_of_date, default=None)
        expected[(r.user_id, r.as_of_date)] = (
            (newest.watch_hours_28d, newest.sessions_7d) if newest else (None, None)
        )
    assert got == expected
    assert sum(v != (None, None) for v in got.values()) > 100
    assert sum(v == (None, None) for v in got.values()) > 100


@pytest.mark.spark
def test_survival_set_on_a_small_example(spark):
    subs = _subscriptions(
        spark,
        [
            ("s1", "u1", 1, "2025-01-01T00:00:00", "2025-01-11T00:00:00", "2025-01-20T00:00:00"),
            ("s2", "u1", 2, "2025-02-01T00:00:00", None, None),
            ("s3", "u2", 1, "2025-01-05T00:00:00", "2025-03-01T00:00:00", "2025-03-01T00:00:00"),
        ],
    )
    snapshot = dt.date(2025, 2, 11)
    at_start = training.survival_set(subs, snapshot)
    got = sorted(
        (r.subscription_id, r.duration_days, r.event, str(r.as_of_date), r.entry_days)
        for r in at_start.collect()
    )
    assert got == [
        ("s1", 10.0, 1, "2025-01-02", 0.0),
        ("s2", 10.0, 0, "2025-02-02", 0.0),  # censored at the snapshot
        ("s3", 37.0, 0, "2025-01-06", 0.0),  # its cancel comes after the snapshot
    ]
    at_date = training.survival_set(subs, snapshot, "as_of", dt.date(2025, 1, 15))
    got = sorted((r.subscription_id, r.entry_days) for r in at_date.collect())
    # s1 has a cancel pending on 01-15 (known outcome): left out; s3 entered at 10 days.
    assert got == [("s3", 10.0)]


@pytest.mark.spark
def test_feature_tables_have_comments_and_are_readable_by_name_and_without_spark(spark, built):
    import duckdb
    import polars as pl
    from deltalake import DeltaTable

    store, root = built["store"], built["root"]
    store.lake.register_all()  # other tests point the names at their own copies
    columns = {
        r.col_name: r.comment
        for r in spark.sql(f"DESCRIBE TABLE {store.lake.ref('features.engagement')}").collect()
    }
    assert "hours watched" in columns["watch_hours_28d"]
    by_name = spark.sql("SELECT count(*) AS n FROM features.quality").first().n
    path = root / "features" / "quality"
    dataset = DeltaTable(str(path)).to_pyarrow_dataset()
    duck = duckdb.from_arrow(dataset).query("q", "SELECT count(*) FROM q").fetchall()[0][0]
    assert by_name == duck == pl.read_delta(str(path)).height > 0


@pytest.mark.spark
def test_both_window_engines_agree_on_a_small_example_with_ties_and_expiry(spark):
    """Exact values on a hand-made history, from the dense and the at-dates engine."""
    from fanbase.features import windows
    from fanbase.features.spec import Aggregate

    d = dt.date.fromisoformat
    plays = spark.createDataFrame(
        [
            # user, day, competition, fixture, watch seconds
            ("u1", d("2025-01-01"), "A", "f1", 100),
            ("u1", d("2025-01-02"), "B", "f2", 100),  # ties A: the larger key wins
            ("u1", d("2025-01-02"), "B", "f2", 0),
            ("u1", d("2025-01-04"), "A", "f1", 50),  # f1 again: still one distinct fixture
            ("u2", d("2025-01-03"), None, None, 30),
        ],
        "user_id string, day date, competition string, fixture_id string, watch_seconds long",
    )
    aggregates = [
        Aggregate("w3", "playback", "sum", "watch_seconds", 3),
        Aggregate("fx3", "playback", "distinct", "fixture_id", 3),
        Aggregate("days3", "playback", "distinct", "day", 3),
        Aggregate("last3", "playback", "last_day", "true", 3),
        Aggregate("top3", "playback", "top", "watch_seconds", 3, by="competition"),
    ]
    dates = [d("2025-01-02"), d("2025-01-03"), d("2025-01-05"), d("2025-01-08")]
    spine = spark.createDataFrame(
        [(u, x) for u in ("u1", "u2") for x in dates], "user_id string, as_of_date date"
    )
    columns = ["w3", "fx3", "days3", "last3", "top3", "top3_value"]
    expected = {
        ("u1", "2025-01-02"): (100, 1, 1, d("2025-01-01"), "A", 100),
        ("u1", "2025-01-03"): (200, 2, 2, d("2025-01-02"), "B", 100),
        ("u1", "2025-01-05"): (150, 2, 2, d("2025-01-04"), "B", 100),
        ("u1", "2025-01-08"): (0, 0, 0, None, None, None),
        ("u2", "2025-01-02"): (0, 0, 0, None, None, None),
        ("u2", "2025-01-03"): (0, 0, 0, None, None, None),
        ("u2", "2025-01-05"): (30, 0, 1, d("2025-01-03"), None, None),
        ("u2", "2025-01-08"): (0, 0, 0, None, None, None),
    }
    for frame in (
        windows.dense(spine, {"playback": plays}, aggregates),
        windows.at_dates(spine, {"playback": plays}, aggregates, dates),
    ):
        got = {
            (r.user_id, str(r.as_of_date)): tuple(r[c] for c in columns) for r in frame.collect()
        }
        assert got == expected
