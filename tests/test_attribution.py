"""Content attribution: touch credits and windows on hand-made rows, the lift's sharing
against a numpy oracle, the baseline GLM on planted hourly rates, and the job on
generated data against the lifts the generator planted."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_lake

from fanbase.jobs import attribution as attribution_job
from fanbase.jobs._runner import build_parser, run_job
from fanbase.lakehouse import Lakehouse
from fanbase.models import attribution_lift as lift
from fanbase.models import attribution_touch as touch
from fanbase.models.catalog import TOUCH_METHODS, LiftOptions, TouchOptions

pytestmark = pytest.mark.spark

T = dt.datetime


def _fixtures(spark, rows):
    return spark.createDataFrame(
        rows,
        "fixture_id string, sport string, competition string, home string, away string, "
        "kickoff timestamp, duration_minutes int, markets array<string>, tier string",
    )


def _markets(spark, rows=(("DE", dt.date(2016, 8, 10), "EUR"),)):
    return spark.createDataFrame(list(rows), "market string, launched_on date, currency string")


def _new(spark, rows):
    """(subscription_id, user_id, market, started_at, ended_at)."""
    return spark.createDataFrame(
        [(*r, "monthly", 9.99) for r in rows],
        "subscription_id string, user_id string, market string, started_at timestamp, "
        "ended_at timestamp, plan string, price double",
    )


def _playback(spark, rows):
    """(event_id, user_id, market, ts, fixture_id)."""
    return spark.createDataFrame(
        rows, "event_id string, user_id string, market string, ts timestamp, fixture_id string"
    )


def _credits(df) -> dict:
    return {(r.method, r.subscription_id, r.fixture_id): round(r.credit, 9) for r in df.collect()}


# ---- touch -----------------------------------------------------------------------------
def test_touch_credits_each_method_on_a_small_example(spark):
    new = _new(
        spark,
        [
            ("s1", "u1", "DE", T(2024, 9, 1, 18, 0), None),
            ("s2", "u2", "DE", T(2024, 9, 1, 20, 0), T(2024, 9, 2, 0, 0)),
            ("s3", "u3", "DE", T(2024, 9, 1, 12, 0), None),
        ],
    )
    playback = _playback(
        spark,
        [
            # s1: A at +0.5 h, B at +24.5 h, A again at +48.5 h; a non-fixture session.
            ("e1", "u1", "DE", T(2024, 9, 1, 18, 30), "A"),
            ("e2", "u1", "DE", T(2024, 9, 2, 18, 30), "B"),
            ("e3", "u1", "DE", T(2024, 9, 3, 18, 30), "A"),
            ("e4", "u1", "DE", T(2024, 9, 1, 18, 5), None),
            # after the 7 days: not a first touch
            ("e5", "u1", "DE", T(2024, 9, 9, 18, 30), "C"),
            # s2: before signup (ignored), then B; after the spell ended (ignored)
            ("e6", "u2", "DE", T(2024, 9, 1, 19, 0), "A"),
            ("e7", "u2", "DE", T(2024, 9, 1, 21, 0), "B"),
            ("e8", "u2", "DE", T(2024, 9, 2, 1, 0), "C"),
        ],
    )
    # Live at signup (kickoff to end + 2 h, in the market): s1 (18:00) sees A (kicked off
    # 17:30) and B (16:00): A kicked off last. s2 (20:00) sees A, B, C and E; C and E
    # both kicked off last, at 19:00: half each. D is not broadcast in DE. s3 (12:00)
    # has nothing live.
    fixtures = _fixtures(
        spark,
        [
            ("A", "football", "L", "h", "a", T(2024, 9, 1, 17, 30), 105, ["DE"], "marquee"),
            ("B", "tennis", "O", "h", "a", T(2024, 9, 1, 16, 0), 150, ["DE"], "standard"),
            ("C", "football", "L", "h", "a", T(2024, 9, 1, 19, 0), 105, ["DE"], "standard"),
            ("D", "football", "L", "h", "a", T(2024, 9, 1, 19, 30), 105, ["GB"], "standard"),
            ("E", "darts", "P", "h", "a", T(2024, 9, 1, 19, 0), 60, ["DE"], "standard"),
        ],
    )
    opts = TouchOptions(first_days=7, first_sessions=5, half_life_hours=24, last_live_hours=2)
    live = lift.window_hours(
        fixtures, _markets(spark), 0, 120, dt.date(2024, 9, 1), dt.date(2024, 9, 10)
    ).selectExpr(
        "market",
        "hour_start",
        "fixture_id",
        "kickoff",
        "window_start AS live_start",
        "window_end AS live_end",
    )
    got = _credits(touch.touch_credits(new, playback, live, list(TOUCH_METHODS), opts))
    w = [0.5 ** (0.5 / 24), 0.5 ** (24.5 / 24), 0.5 ** (48.5 / 24)]
    expected = {
        ("first_watch", "s1", "A"): 1.0,
        ("first_watch", "s2", "B"): 1.0,
        ("linear", "s1", "A"): 0.5,
        ("linear", "s1", "B"): 0.5,
        ("linear", "s2", "B"): 1.0,
        ("time_decay", "s1", "A"): round((w[0] + w[2]) / sum(w), 9),
        ("time_decay", "s1", "B"): round(w[1] / sum(w), 9),
        ("time_decay", "s2", "B"): 1.0,
        ("last_live", "s1", "A"): 1.0,
        ("last_live", "s2", "C"): 0.5,
        ("last_live", "s2", "E"): 0.5,
    }
    assert got == expected


def test_first_sessions_keep_at_most_n_by_time(spark):
    new = _new(spark, [("s1", "u1", "DE", T(2024, 9, 1, 18, 0), None)])
    playback = _playback(
        spark, [(f"e{i}", "u1", "DE", T(2024, 9, 1, 19, i), f"F{i}") for i in range(6)]
    )
    got = touch.first_sessions(new, playback, TouchOptions(first_sessions=3))
    assert sorted((r.n, r.fixture_id) for r in got.collect()) == [(1, "F0"), (2, "F1"), (3, "F2")]


# ---- windows and sharing ---------------------------------------------------------------
def test_window_hours_cover_the_window_with_fractions_and_launch(spark):
    fixtures = _fixtures(
        spark,
        [("A", "football", "L", "h", "a", T(2024, 9, 1, 19, 30), 105, ["DE", "BR"], "marquee")],
    )
    markets = _markets(
        spark, [("DE", dt.date(2016, 8, 10), "EUR"), ("BR", dt.date(2024, 9, 2), "BRL")]
    )
    rows = lift.window_hours(fixtures, markets, 120, 0, dt.date(2024, 8, 1), dt.date(2025, 1, 1))
    got = sorted((r.market, r.hour_start.hour, r.covered) for r in rows.collect())
    # [17:30, 21:15): half of 17h, all of 18h-20h, a quarter of 21h; BR not yet launched.
    assert got == [
        ("DE", 17, 0.5),
        ("DE", 18, 1.0),
        ("DE", 19, 1.0),
        ("DE", 20, 1.0),
        ("DE", 21, 0.25),
    ]


def test_share_excess_equals_a_numpy_oracle_for_overlapping_windows(spark):
    h = [T(2024, 9, 1, 18), T(2024, 9, 1, 19), T(2024, 9, 1, 20)]
    hours = spark.createDataFrame(
        [("DE", h[0], 5.0, 1.0), ("DE", h[1], 2.0, 1.5), ("DE", h[2], 0.0, 0.5)],
        "market string, hour_start timestamp, signups double, baseline double",
    )
    # A covers 18h and half of 19h; B covers 19h and 20h fully.
    windows = spark.createDataFrame(
        [
            ("A", "DE", h[0], 1.0, h[0], T(2024, 9, 1, 19, 30)),
            ("A", "DE", h[1], 0.5, h[0], T(2024, 9, 1, 19, 30)),
            ("B", "DE", h[1], 1.0, h[1], T(2024, 9, 1, 21)),
            ("B", "DE", h[2], 1.0, h[1], T(2024, 9, 1, 21)),
        ],
        "fixture_id string, market string, hour_start timestamp, covered double, "
        "window_start timestamp, window_end timestamp",
    )
    # Three signups of 18h watched A; one of 19h watched B.
    marks = spark.createDataFrame(
        [("DE", h[0], "A", 3.0), ("DE", h[1], "B", 1.0)],
        "market string, hour_start timestamp, fixture_id string, watchers double",
    )
    opts = LiftOptions(share_prior=0.1, level=0.95)
    shares = lift.hour_shares(windows, marks, opts)
    got = {r.fixture_id: r for r in lift.share_excess(hours, shares, opts).collect()}
    # Oracle: share = (watchers + prior x covered / max(1, coverage)) / (watchers + prior).
    signups, base = np.array([5.0, 2.0, 0.0]), np.array([1.0, 1.5, 0.5])
    p = 0.1
    coverage = np.array([1.0, 1.5, 1.0])
    slots = np.maximum(coverage, 1.0)
    watchers = np.array([3.0, 1.0, 0.0])
    w_a = np.array([3.0, 0.0, 0.0]) + p * np.array([1.0, 0.5, 0.0]) / slots
    w_b = np.array([0.0, 1.0, 0.0]) + p * np.array([0.0, 1.0, 1.0]) / slots
    total = watchers + p
    for name, w, cov in (("A", w_a, [1.0, 0.5, 0]), ("B", w_b, [0, 1.0, 1.0])):
        share = w / total
        lift_ = float((share * (signups - base)).sum())
        se = math.sqrt(float((share**2 * np.maximum(signups, base)).sum()))
        assert got[name].lift == pytest.approx(lift_, abs=1e-12)
        assert got[name].lift_se == pytest.approx(se, abs=1e-12)
        assert got[name].lift_upper - got[name].lift == pytest.approx(1.959963985 * se, rel=1e-8)
        assert got[name].baseline_signups == pytest.approx(float((np.array(cov) * base).sum()))
    # The whole excess of the covered hours is shared out, nothing more.
    assert got["A"].lift + got["B"].lift == pytest.approx(float((signups - base).sum()))


def test_an_hour_a_window_only_grazes_keeps_most_of_its_excess_unattributed(spark):
    h = T(2024, 9, 1, 18)
    hours = spark.createDataFrame(
        [("DE", h, 4.0, 1.0)],
        "market string, hour_start timestamp, signups double, baseline double",
    )
    windows = spark.createDataFrame(
        [("A", "DE", h, 0.25, T(2024, 9, 1, 18, 45), T(2024, 9, 1, 21))],
        "fixture_id string, market string, hour_start timestamp, covered double, "
        "window_start timestamp, window_end timestamp",
    )
    marks = spark.createDataFrame(
        [], "market string, hour_start timestamp, fixture_id string, watchers double"
    )
    opts = LiftOptions(share_prior=0.1)
    (row,) = lift.share_excess(hours, lift.hour_shares(windows, marks, opts), opts).collect()
    assert row.lift == pytest.approx(3.0 * 0.25)


def test_watchers_outvote_many_windows_in_the_same_hour(spark):
    """Forty tennis windows and one Super Bowl window cover an hour; the two new
    subscribers of that hour watched the Super Bowl: it takes nearly all the excess."""
    h = T(2025, 1, 14, 2)
    hours = spark.createDataFrame(
        [("DE", h, 3.0, 0.5)],
        "market string, hour_start timestamp, signups double, baseline double",
    )
    names = ["nfl", *[f"tennis{i}" for i in range(40)]]
    windows = spark.createDataFrame(
        [(n, "DE", h, 1.0, h, T(2025, 1, 14, 5)) for n in names],
        "fixture_id string, market string, hour_start timestamp, covered double, "
        "window_start timestamp, window_end timestamp",
    )
    marks = spark.createDataFrame(
        [("DE", h, "nfl", 2.0)],
        "market string, hour_start timestamp, fixture_id string, watchers double",
    )
    opts = LiftOptions(share_prior=0.1)
    got = {
        r.fixture_id: r.lift
        for r in lift.share_excess(hours, lift.hour_shares(windows, marks, opts), opts).collect()
    }
    assert got["nfl"] == pytest.approx(2.5 * (2 + 0.1 / 41) / 2.1)
    assert sum(got.values()) == pytest.approx(2.5)


# ---- the baseline ----------------------------------------------------------------------
def test_hourly_signups_include_empty_hours_in_local_time(spark):
    new = _new(
        spark,
        [
            ("s1", "u1", "DE", T(2024, 9, 1, 22, 10), None),  # 00:10 Monday in Berlin
            ("s2", "u2", "DE", T(2024, 9, 1, 22, 50), None),
        ],
    )
    hourly = lift.hourly_signups(
        spark,
        new,
        _markets(spark),
        {"DE": "Europe/Berlin"},
        dt.date(2024, 9, 1),
        dt.date(2024, 9, 3),
        per_market_profile=True,
    )
    rows = {r.hour_start: r for r in hourly.collect()}
    assert len(rows) == 48
    assert sum(r.signups for r in rows.values()) == 2
    # Levels are per market; Sunday, midnight and the market's first month are the
    # reference levels the GLM leaves out (Spark's dayofweek: 1 = Sunday, 2 = Monday).
    ref = lift.REFERENCE
    busy = rows[T(2024, 9, 1, 22)]  # 00:00 Monday in Berlin
    assert (busy.signups, busy.weekday_level, busy.hour_of_day_level, busy.month_level) == (
        2.0,
        "DE:2",
        ref,
        ref,
    )
    late = rows[T(2024, 9, 1, 21)]  # 23:00 Sunday in Berlin
    assert (late.weekday_level, late.hour_of_day_level) == (ref, "DE:23")


def test_baseline_glm_recovers_planted_hourly_rates_and_leaves_spikes_out(spark):
    """Two markets, rate = size x hour profile x weekday factor x trend; 120 days of
    Poisson counts and a planted spike of 40 signups. The fitted baseline is within 10 %
    of the planted rate on average, and the spike hour is flagged, not absorbed."""
    rng = np.random.default_rng(3)
    start = dt.date(2024, 9, 2)  # a Monday
    days = 120
    profile = 0.3 + np.sin(np.linspace(0, np.pi, 24)) ** 2
    weekday = np.array([0.8, 0.8, 0.9, 0.9, 1.1, 1.4, 1.3])
    rows, truth = [], {}
    spike_at = T(2024, 10, 5, 19)
    for market, size in (("DE", 2.0), ("GB", 1.0)):
        for d in range(days):
            for hour in range(24):
                ts = T.combine(start + dt.timedelta(days=d), dt.time(hour))
                rate = size * profile[hour] * weekday[d % 7] * (1 + 0.3 * d / days)
                truth[(market, ts)] = rate
                n = rng.poisson(rate) + (40 if (market, ts) == ("DE", spike_at) else 0)
                rows += [(f"{market}{d}{hour}{i}", market, ts) for i in range(n)]
    new = spark.createDataFrame(rows, "subscription_id string, market string, started_at timestamp")
    markets = _markets(
        spark, [("DE", dt.date(2016, 1, 1), "EUR"), ("GB", dt.date(2016, 1, 1), "GBP")]
    )
    hourly = lift.hourly_signups(spark, new, markets, {}, start, start + dt.timedelta(days=days))
    fitted = lift.fit_baseline(hourly, LiftOptions())
    got = {(r.market, r.hour_start): (r.baseline, r.spike) for r in fitted.hours.collect()}
    ratio = np.array([got[k][0] / v for k, v in truth.items()])
    assert abs(ratio.mean() - 1) < 0.03
    assert np.median(np.abs(ratio - 1)) < 0.10
    assert got[("DE", spike_at)][1] is True
    assert got[("DE", spike_at)][0] == pytest.approx(truth[("DE", spike_at)], rel=0.3)
    metrics = {
        r.market: r
        for r in lift.fit_metrics(fitted.hours, lift.parameters_per_market(2, False)).collect()
    }
    assert 0.8 < metrics["DE"].dispersion < 1.25


def test_the_baseline_fitted_on_its_cached_design_equals_the_one_pipeline_fit(spark):
    """``_fit`` computes the design once and fits the GLM on it cached; the model must
    be the one that fitting the design's stages and the GLM as one Pipeline gives."""
    from pyspark.ml import Pipeline
    from pyspark.sql import functions as F

    rng = np.random.default_rng(5)
    start = dt.date(2024, 9, 20)  # three weeks over two months (a month term to fit)
    rows = [
        (f"{market}{d}{h}{i}", market, T.combine(start + dt.timedelta(days=d), dt.time(h)))
        for market, size in (("DE", 1.5), ("GB", 0.5))
        for d in range(21)
        for h in range(24)
        for i in range(rng.poisson(size * (1 + (h >= 18))))
    ]
    new = spark.createDataFrame(rows, "subscription_id string, market string, started_at timestamp")
    markets = _markets(
        spark, [("DE", dt.date(2016, 1, 1), "EUR"), ("GB", dt.date(2016, 1, 1), "GBP")]
    )
    hourly = lift.hourly_signups(spark, new, markets, {}, start, start + dt.timedelta(days=21))
    hours = hourly.withColumn("weight", F.when(F.hour("hour_start") == 3, 0.0).otherwise(1.0))
    opts = LiftOptions()

    fast = lift._fit(hours, opts)
    stock = Pipeline(stages=[*lift._design().getStages(), lift._glm(opts)]).fit(hours)

    assert [type(s).__name__ for s in fast.stages] == [type(s).__name__ for s in stock.stages]
    fast_glm, stock_glm = fast.stages[-1], stock.stages[-1]
    # Equal up to the order Spark sums rows in (the joins under the hours may give them
    # in another order each time they are computed).
    assert fast_glm.intercept == pytest.approx(stock_glm.intercept, rel=1e-9)
    assert fast_glm.coefficients.toArray() == pytest.approx(
        stock_glm.coefficients.toArray(), rel=1e-9, abs=1e-12
    )
    key = ["market", "hour_start"]
    got = {tuple(r[:2]): r[2] for r in fast.transform(hours).select(*key, "baseline").collect()}
    want = {tuple(r[:2]): r[2] for r in stock.transform(hours).select(*key, "baseline").collect()}
    assert got.keys() == want.keys() and len(got) == 2 * 21 * 24
    assert [got[k] for k in want] == pytest.approx(list(want.values()), rel=1e-9)


# ---- the job on generated data ---------------------------------------------------------
def _catalog(folder: Path) -> Path:
    src = Path(__file__).resolve().parents[1] / "conf/models/attribution.yml"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog.yml").write_text("files: [attribution.yml]\n")
    (folder / "attribution.yml").write_text(src.read_text())
    return folder


@pytest.fixture(scope="module")
def attributed(spark, settings, model_store, tmp_path_factory):
    root = copy_lake(model_store, tmp_path_factory.mktemp("lake-attribution"))
    mlflow_home = tmp_path_factory.mktemp("mlflow-attribution")
    catalog = _catalog(tmp_path_factory.mktemp("catalog-attribution") / "models")
    sets = [
        f"lakehouse.root={root}",
        f"mlflow.tracking_uri=sqlite:///{mlflow_home}/mlflow.db",
        f"mlflow.artifact_root={mlflow_home}/artifacts",
        f"models.catalog_dir={catalog}",
    ]

    def run(*argv):
        extra = [x for s in sets for x in ("--set", s)]
        args = build_parser(attribution_job).parse_args([*argv, *extra])
        return run_job(attribution_job, args, spark=spark)

    started = time.perf_counter()
    summary = run()
    seconds = time.perf_counter() - started
    lake = Lakehouse(spark, settings.lakehouse.model_copy(update={"root": str(root)}))
    return {"lake": lake, "summary": summary, "run": run, "mlflow": mlflow_home, "seconds": seconds}


def test_subscriber_outcomes_on_a_small_example(spark):
    from fanbase.models.attribution_output import subscriber_outcomes

    snapshot = dt.date(2024, 12, 1)
    new = _new(
        spark,
        [
            # stayed past 90 days, still running
            ("s1", "u1", "DE", T(2024, 8, 1), None),
            # left on day 40: stayed 30, not 90
            ("s2", "u2", "DE", T(2024, 8, 1), T(2024, 9, 10)),
            # signed up 20 days before the snapshot: day 30 not reached yet
            ("s3", "u3", "DE", T(2024, 11, 11), None),
        ],
    )
    payments = spark.createDataFrame(
        [
            ("s1", T(2024, 8, 1), 10.0, "succeeded"),
            ("s1", T(2024, 9, 1), 10.0, "succeeded"),
            ("s1", T(2024, 10, 1), 10.0, "failed"),
            ("s2", T(2024, 8, 1), 10.0, "succeeded"),
            ("s2", T(2024, 8, 2), 10.0, "refunded"),
            ("s3", T(2024, 12, 5), 10.0, "succeeded"),  # after the snapshot
        ],
        "subscription_id string, ts timestamp, amount double, status string",
    )
    remaining = spark.createDataFrame(
        [("s1", 50.0), ("s3", 20.0)], "subscription_id string, lifetime_value double"
    )
    got = {
        r.subscription_id: r
        for r in subscriber_outcomes(new, payments, remaining, snapshot, margin=0.5).collect()
    }
    assert (got["s1"].stayed_30, got["s1"].stayed_90) == (1.0, 1.0)
    assert (got["s2"].stayed_30, got["s2"].stayed_90) == (1.0, 0.0)
    assert (got["s3"].stayed_30, got["s3"].stayed_90) == (None, None)
    assert got["s1"].value == pytest.approx(0.5 * 20 + 50)
    assert got["s2"].value == pytest.approx(0.0)
    assert got["s3"].value == pytest.approx(20.0)
    without = subscriber_outcomes(new, payments, None, snapshot, margin=0.5).collect()
    assert all(r.value is None for r in without)


def test_the_job_writes_every_method_with_lineage_ranks_and_rollups(attributed):
    from pyspark.sql import functions as F

    lake = attributed["lake"]
    rows = lake.read("gold.fixture_attribution")
    methods = {r.method for r in rows.select("method").distinct().collect()}
    assert methods == {*TOUCH_METHODS, "lift"}
    lineage = rows.where(
        F.col("run_id").isNull() | F.col("mlflow_run_id").isNull() | F.col("input_tables").isNull()
    )
    assert lineage.count() == 0
    tables = json.loads(rows.first().input_tables)
    assert {"silver.subscriptions", "silver.playback_sessions", "silver.fixtures"} <= set(tables)
    # Ranks run 1..n within each model, method and market.
    ranks = rows.groupBy("model", "method", "market").agg(
        F.min("rank").alias("lo"), F.max("rank").alias("hi"), F.count("*").alias("n")
    )
    assert ranks.where("lo != 1 OR hi != n").count() == 0
    # Each touch method hands out at most one credit per new subscription, first_watch
    # exactly one per subscription with a fixture session.
    touch_sums = {
        (r.method, r.market): r.s
        for r in rows.where("model = 'fixture_touch'")
        .groupBy("method", "market")
        .agg(F.sum("attributed_signups").alias("s"))
        .collect()
    }
    new = attributed["summary"]["rows_in"]
    assert 0 < sum(v for (m, _), v in touch_sums.items() if m == "linear") <= new
    for method in TOUCH_METHODS:
        total = sum(v for (m, _), v in touch_sums.items() if m == method)
        assert total == pytest.approx(round(total), abs=1e-6), method  # whole subscriptions
    # Roll-ups add up to the fixture rows.
    for table in ("gold.attribution_by_competition", "gold.attribution_by_sport"):
        rolled = (
            lake.read(table)
            .groupBy("model", "method", "market")
            .agg(F.sum("attributed_signups").alias("a"), F.sum("fixtures").alias("n"))
        )
        fixtures = rows.groupBy("model", "method", "market").agg(
            F.sum("attributed_signups").alias("a0"), F.count("*").alias("n0")
        )
        joined = fixtures.join(rolled, ["model", "method", "market"], "left")
        assert joined.where("n IS NULL OR n != n0 OR abs(a - a0) > 1e-6").count() == 0, table
    # Retained counts follow the rates.
    bad = rows.where(
        "retention_30d < 0 OR retention_30d > 1 OR "
        "abs(retained_30d - greatest(attributed_signups, 0) * retention_30d) > 1e-9"
    )
    assert bad.count() == 0


def test_the_lift_baseline_is_registered_with_an_alias(attributed):
    from mlflow import MlflowClient

    rows = attributed["lake"].read("gold.fixture_attribution").where("method = 'lift'")
    first = rows.first()
    assert first.registered_model == "fanbase_fixture_lift"
    client = MlflowClient(tracking_uri=f"sqlite:///{attributed['mlflow']}/mlflow.db")
    version = client.get_model_version(first.registered_model, str(first.model_version))
    assert version.run_id == first.mlflow_run_id
    aliases = client.get_registered_model(first.registered_model).aliases
    assert set(aliases) & {"champion", "challenger"}
    run = client.get_run(first.mlflow_run_id)
    assert "dispersion" in run.data.metrics and run.data.tags["fanbase.entry"] == "fixture_lift"
    (logged,) = (
        attributed["lake"]
        .read("ops.model_runs")
        .where(f"registered_model = 'fanbase_fixture_lift' AND version = {first.model_version}")
        .collect()
    )
    assert logged.mlflow_run_id == first.mlflow_run_id and logged.rows_fit > 0


def test_each_entry_run_records_its_wall_time_in_the_job(attributed):
    """The job's run log has only the whole job's seconds; each entry's MLflow run has
    its own (``entry_seconds``), and together they fit in the job's."""
    from mlflow import MlflowClient

    from fanbase.jobs.attribution import ENTRY_SECONDS

    client = MlflowClient(tracking_uri=f"sqlite:///{attributed['mlflow']}/mlflow.db")
    runs = attributed["lake"].read("gold.fixture_attribution").select("model", "mlflow_run_id")
    seconds = {
        r.model: client.get_run(r.mlflow_run_id).data.metrics[ENTRY_SECONDS]
        for r in runs.distinct().collect()
    }
    assert set(seconds) == {"fixture_touch", "fixture_lift"}
    assert all(s > 0 for s in seconds.values())
    assert sum(seconds.values()) < attributed["seconds"]


def test_lift_finds_the_planted_fixtures_at_test_scale(spark, attributed, model_raw):
    """Against the extra signups the generator planted per fixture (2,000 users, 180
    days). DE, the big market, has ~400 planted signups: its top 10 by lift hold at
    least 8 of the planted top 10, the rank correlation is at least 0.7, the attributed
    total is within 15 % of the planted and at least 85 % of the intervals hold the
    planted lift (measured 1.0, 0.90, -7 % and 0.96). GB has ~70 planted signups, most
    of them one or two per fixture, as noisy as a window's baseline: rank correlation
    at least 0.6 and total within 25 % (0.79 and 0 %). US has a handful: not checked."""
    from fanbase.demo.checks import attribution_vs_truth

    rows = attributed["lake"].read("gold.fixture_attribution")
    got = attribution_vs_truth(spark, model_raw, rows, "fixture_lift", "lift", k=10)
    de, gb = got["DE"], got["GB"]
    assert de["precision_at_k"] >= 0.8, de
    assert de["rank_correlation"] >= 0.7, de
    assert abs(de["attributed_signups"] / de["planted_signups"] - 1) <= 0.15, de
    assert de["interval_coverage"] >= 0.85, de
    assert gb["rank_correlation"] >= 0.6, gb
    assert abs(gb["attributed_signups"] / gb["planted_signups"] - 1) <= 0.25, gb


def test_a_rerun_replaces_the_entry_rows(attributed):
    from pyspark.sql import functions as F

    lake = attributed["lake"]

    def state():
        rows = lake.read("gold.fixture_attribution")
        return sorted(
            (r.model, r.method, r.n, round(r.s, 6))
            for r in rows.groupBy("model", "method")
            .agg(F.count("*").alias("n"), F.sum("attributed_signups").alias("s"))
            .collect()
        )

    before = state()
    attributed["run"]("--model", "fixture_touch")
    assert state() == before
