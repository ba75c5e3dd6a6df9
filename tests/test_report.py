"""The analyst report on small hand-written gold and ops tables (in the jobs' own
schemas): exact contents of its tables, a PNG per figure, and the page rendered in
headless Chromium with every section and image present."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    TimestampType,
)

from fanbase.jobs import report as report_job
from fanbase.jobs._runner import build_parser, run_job
from fanbase.lakehouse import Lakehouse
from fanbase.models.attribution_output import FIXTURE_SCHEMA
from fanbase.models.monitor import EVALUATION_SCHEMA
from fanbase.models.score import PROFILE_SCHEMA
from fanbase.models.social_output import DAILY_SCHEMA
from fanbase.models.survival_fit import CURVE_SCHEMA, HAZARD_SCHEMA
from fanbase.models.train import MODEL_CURVES_SCHEMA, MODEL_RUNS_SCHEMA
from fanbase.runlog import SCHEMA as JOB_RUNS_SCHEMA

pytestmark = pytest.mark.spark

SECTIONS = ["attention", "survival", "hazards", "churn", "segments", "fixtures", "social", "runs"]
DAY0 = dt.date(2025, 3, 1)
_DEFAULTS = {
    StringType: "",
    LongType: 0,
    IntegerType: 0,
    DoubleType: 0.0,
    BooleanType: False,
    DateType: DAY0,
    TimestampType: dt.datetime(2025, 3, 1, 12),
}


def _write(spark, lake, table, schema, rows: list[dict]) -> None:
    """``rows`` as the table's schema: columns not given are null, or a plain default
    where the schema forbids null."""

    def value(f, row):
        if f.name in row:
            return row[f.name]
        if f.nullable:
            return None
        if isinstance(f.dataType, ArrayType):
            return []
        if isinstance(f.dataType, MapType):
            return {}
        return _DEFAULTS[type(f.dataType)]

    data = [tuple(value(f, r) for f in schema.fields) for r in rows]
    lake.create(table, schema)
    lake.append(table, spark.createDataFrame(data, schema))


def _km(days: int, hazard: float) -> list[float]:
    return [(1 - hazard) ** d for d in range(days)]


def _gold(spark, lake) -> None:
    curves = []
    for model, part, column, value, hazard, subjects in [
        ("by_market", "market=DE", "all", "all", 0.01, 500),
        ("by_market", "market=GB", "all", "all", 0.02, 300),
        ("pooled", "", "all", "all", 0.015, 800),
        ("pooled", "", "market", "DE", 0.01, 500),
        ("pooled", "", "market", "GB", 0.02, 300),
        ("pooled", "", "plan", "annual", 0.005, 200),  # not shown: markets come first
    ]:
        for day, s in enumerate(_km(120, hazard)):
            curves.append(
                dict(model=model, partition=part, group_column=column, group_value=value)
                | dict(day=day, survival=s, subjects=subjects, events=int(subjects * 0.6))
                | dict(median_days=69.0 if hazard == 0.01 else None)
            )
    _write(spark, lake, "gold.survival_curves", CURVE_SCHEMA, curves)
    hazards = [
        dict(model="pooled", partition="", term=t, hazard_ratio=hr, ci_lower=lo, ci_upper=hi)
        for t, hr, lo, hi in [("high_buffering_14d", 2.0, 1.7, 2.4), ("live_share", 0.4, 0.3, 0.5)]
    ] + [
        dict(model="by_market", partition=f"market={m}", term="live_share", hazard_ratio=hr)
        | dict(ci_lower=hr * 0.8, ci_upper=hr * 1.25)
        for m, hr in (("DE", 0.5), ("GB", 0.6))
    ]
    _write(spark, lake, "gold.hazard_ratios", HAZARD_SCHEMA, hazards)
    runs, points = [], []
    for version, lift_top in ((1, 2.0), (2, 3.0)):  # the report shows version 2 only
        for m in ("DE", "GB"):
            name = f"fanbase_churn_{m.lower()}"
            metrics = f'{{"roc_auc": 0.7{version}, "top_decile_lift": {lift_top}}}'
            runs.append(
                dict(job_run_id=f"j{version}", entry="churn", kind="churn")
                | dict(partition=f"market={m}", registered_model=name, version=version)
                | dict(alias="champion", metrics=metrics, trained_at=dt.datetime(2025, 3, version))
            )
            for i in range(10):
                points.append(
                    dict(job_run_id=f"j{version}", entry="churn", partition=f"market={m}")
                    | dict(registered_model=name, version=version, curve="lift", point=i)
                    | dict(x=(i + 1) / 10, y=lift_top - (lift_top - 1) * i / 9, n=10 * (i + 1))
                )
                points.append(
                    dict(job_run_id=f"j{version}", entry="churn", partition=f"market={m}")
                    | dict(registered_model=name, version=version, curve="reliability")
                    | dict(point=i, x=i / 10 + 0.05, y=i / 10 + 0.04, n=10)
                )
    runs.append(
        dict(job_run_id="j2", entry="churn", kind="churn", partition="market=US")
        | dict(registered_model="fanbase_churn_us", error="too few churners")
    )
    _write(spark, lake, "ops.model_runs", MODEL_RUNS_SCHEMA, runs)
    _write(spark, lake, "ops.model_curves", MODEL_CURVES_SCHEMA, points)
    profiles = [
        dict(model="segments", partition="market=DE", segment_id=i, segment_name=name)
        | dict(size=size, share=size / 100, distinguishing={"live": z, "tv": -z / 2})
        for i, name, size, z in ((0, "live fans", 60, 1.5), (1, "highlights", 40, -0.8))
    ]
    _write(spark, lake, "gold.segment_profiles", PROFILE_SCHEMA, profiles)
    fixtures = [
        dict(model="fixture_lift", method="lift", market="DE", fixture_id=f"F{rank}")
        | dict(home=home, away="Köln", kickoff=DAY0, attributed_signups=signups, rank=rank)
        for rank, home, signups in ((1, "Bayern", 30.0), (2, "Dortmund", 12.5), (3, "Mainz", 2.0))
    ] + [
        dict(model="fixture_lift", method="lift", market="GB", fixture_id="F9", rank=1)
        | dict(home="Arsenal", away="Spurs", kickoff=DAY0, attributed_signups=8.0),
        # The touch method of a model with lift is not the one shown.
        dict(model="fixture_lift", method="first_watch", market="DE", fixture_id="F3", rank=1)
        | dict(home="Mainz", away="Köln", kickoff=DAY0, attributed_signups=99.0),
    ]
    _write(spark, lake, "gold.fixture_attribution", FIXTURE_SCHEMA, fixtures)
    daily = []
    for d in range(40):
        day = DAY0 + dt.timedelta(days=d)
        spike = d == 30
        daily.append(
            dict(market="DE", post_date=day, entity_type="*", entity="*", posts=80 if spike else 10)
            | dict(scored_posts=10, mean_sentiment=-0.5 if spike else 0.1, spike=spike)
            | dict(usual_posts=10.0 if d >= 5 else None, spike_score=7.0 if spike else 0.1)
        )
        if spike:
            for entity, posts in (("Bayern", 50), ("Köln", 20)):
                daily.append(
                    dict(market="DE", post_date=day, entity_type="team", entity=entity)
                    | dict(posts=posts, scored_posts=posts)
                )
    _write(spark, lake, "gold.social_daily", DAILY_SCHEMA, daily)
    jobs = [
        dict(run_id="r1", job=job, parent_job=parent, env="local", seconds=1.0, status=status)
        | dict(started_at=dt.datetime(2025, 3, 2, 1, i), ended_at=dt.datetime(2025, 3, 2, 1, i))
        | dict(code_version="test", rows_out=i)
        for i, (job, parent, status) in enumerate(
            [("ingest", "run", "ok"), ("features", "run", "skipped"), ("run", None, "ok")]
        )
    ]
    _write(spark, lake, "ops.job_runs", JOB_RUNS_SCHEMA, jobs)
    evaluations = [
        dict(entry=entry, kind="churn", partition=part, version=1, drift_score=score)
        | dict(flagged=flagged, evaluated_at=dt.datetime(2025, 3, 3, hour))
        | dict(reasons="feature drift" if flagged else None, drifted_features=drifted)
        for entry, part, score, flagged, hour, drifted in [
            ("churn", "market=DE", 0.05, False, 1, []),
            ("churn", "market=GB", 0.4, False, 1, []),  # older: not shown
            ("churn", "market=GB", 0.02, False, 2, []),
            ("churn", "market=US", 0.7, True, 2, ["high_buffering_14d"]),
        ]
    ]
    _write(spark, lake, "ops.model_evaluations", EVALUATION_SCHEMA, evaluations)


def _run(spark, root: Path, out: Path | str, *sets: str) -> dict:
    argv = ["--out", str(out), "--set", f"lakehouse.root={root}"]
    for s in sets:
        argv += ["--set", s]
    return run_job(report_job, build_parser(report_job).parse_args(argv), spark=spark)


@pytest.fixture(scope="module")
def written(spark, settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("lake-report")
    lake = Lakehouse(spark, settings.lakehouse.model_copy(update={"root": str(root)}))
    _gold(spark, lake)
    out = tmp_path_factory.mktemp("report")
    (out / "figures").mkdir()
    (out / "figures" / "stale.png").write_bytes(b"old")  # a rerun's leftovers go
    summary = _run(spark, root, out, "report.top_fixtures=2", "report.social_days=20")
    html = (out / "report.html").read_text()
    return {"summary": summary, "out": out, "html": html, "lake": lake}


def _section(html: str, key: str) -> str:
    return re.search(rf'<section id="{key}">(.*?)</section>', html, re.S).group(1)


def test_every_section_has_its_figures_and_a_png_of_each(written):
    html, out = written["html"], written["out"]
    assert re.findall(r'<section id="(\w+)">', html) == SECTIONS
    names = re.findall(r'data-figure="([^"]+)"', html)
    assert names == [
        "attention_drift",
        "survival_by_market",
        "survival_pooled",
        "hazards_by_market",
        "hazards_pooled",
        "churn_churn",
        "segments_segments",
        "fixtures_fixture_lift",
        "social_sentiment",
    ]
    pngs = sorted(p.name for p in (out / "figures").iterdir())
    assert pngs == sorted(f"{n}.png" for n in names)
    assert all((out / "figures" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert written["summary"]["figures"] == len(names) and not written["summary"]["empty_sections"]
    assert 'class="empty"' not in html


def test_tables_show_the_newest_models_and_top_fixtures_exactly(written):
    html = written["html"]
    survival = _section(html, "survival")
    assert "pooled: per market" in survival and "annual" not in survival
    churn = _section(html, "churn")
    assert "0.720" in churn and "0.710" not in churn  # version 2's metrics, not version 1's
    fixtures = _section(html, "fixtures")
    de = re.findall(r"<td>DE</td>\s*<td>(\d)</td>\s*<td>([^<]+)</td>", fixtures)
    assert de == [("1", "Bayern v Köln (01 Mar)"), ("2", "Dortmund v Köln (01 Mar)")]
    assert "Mainz" not in fixtures  # rank 3, and the touch method's row
    segments = _section(html, "segments")
    assert "live +1.5σ, tv -0.8σ" in segments
    social = _section(html, "social")
    spikes = re.findall(r"<tr>\s*<td>DE</td>\s*<td>([\d-]+)</td>.*?</tr>", social, re.S)
    assert spikes == ["2025-03-31"] and "team: Bayern" in social
    attention = _section(html, "attention")
    order = re.findall(r"<tr>\s*<td>churn</td>\s*<td>market=(\w\w)</td>", attention)
    assert order == ["US", "DE", "GB"] and "high_buffering_14d" in attention
    runs = _section(html, "runs")
    assert "Run r1" in runs and "skipped" in runs
    # entry, kind, models, champions, challengers, failed: the newest training only.
    counts = r"<td>churn</td>\s*<td>churn</td>\s*<td>3</td>\s*<td>2</td>\s*<td>0</td>\s*<td>1</td>"
    assert re.search(counts, runs)


def test_the_run_log_lists_the_table_versions_read(written):
    read = written["summary"]["input_tables"]
    tables = {"gold.survival_curves", "gold.hazard_ratios", "ops.model_curves", "ops.model_runs"}
    tables |= {"gold.segment_profiles", "gold.fixture_attribution", "gold.social_daily"}
    tables |= {"ops.model_evaluations"}
    # Each table was created (version 0), then written once (version 1).
    assert read == {t: 1 for t in tables | {"ops.job_runs"}}
    logged = written["lake"].read("ops.job_runs").where("job = 'report'").collect()
    assert [json.loads(r.input_tables) for r in logged] == [read]


def test_a_lakehouse_with_no_gold_tables_still_renders_naming_the_jobs(tmp_path, spark):
    summary = _run(spark, tmp_path / "empty-lake", tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    assert summary["empty_sections"] == SECTIONS and summary["figures"] == 0
    for key, job in zip(
        SECTIONS,
        ["monitor", "survival", "survival", "train", "score", "attribution", "social", "run"],
    ):
        assert f"`fanbase {job}` writes it" in _section(html, key)


def test_remote_output_folders_are_refused_with_the_key(tmp_path, spark):
    with pytest.raises(ValueError, match="report.out_dir s3://bucket/r"):
        _run(spark, tmp_path / "lake", "s3://bucket/r")


def _chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        if os.environ.get("CI"):
            pytest.fail("chromedriver is missing: `make browser` installs Chromium and its driver")
        pytest.skip("no chromedriver on this machine (`make browser` installs it)")
    options = webdriver.ChromeOptions()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(driver_path))


def test_the_page_renders_in_headless_chromium_with_every_section_and_image(written, tmp_path):
    browser = _chromium()
    try:
        browser.get((written["out"] / "report.html").as_uri())
        sections = browser.execute_script(
            "return [...document.querySelectorAll('section')].map(s => "
            "[s.id, s.querySelector('h2').innerText, s.getBoundingClientRect().height])"
        )
        images = browser.execute_script(
            "return [...document.images].map(i => [i.dataset.figure, i.complete, "
            "i.naturalWidth, i.naturalHeight])"
        )
        links = browser.execute_script(
            "return [...document.querySelectorAll('nav a')].map(a => a.hash)"
        )
    finally:
        browser.quit()
    assert [s[0] for s in sections] == SECTIONS and all(s[1] and s[2] > 50 for s in sections)
    assert links == [f"#{key}" for key in SECTIONS]
    assert len(images) == written["summary"]["figures"]
    assert all(done and w >= 300 and h >= 200 for _, done, w, h in images), images
