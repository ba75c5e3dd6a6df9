"""The benchmark code must not rot: `benchmarks/run_all.py --tiny` end to end (every
benchmark script, the whole pipeline (`fanbase run`) on a tiny demo, BENCHMARKS.md), and
the scaling flags against hand-made runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_pipeline  # noqa: E402
import run_all  # noqa: E402


def _run(scale: float, lines: int, steps: dict[str, tuple]) -> dict:
    """A run as bench_pipeline records it: step -> (seconds, python start, python peak,
    JVM heap after GC)."""
    return {
        "scale": scale,
        "raw_lines": lines,
        "run_seconds": sum(s[0] for s in steps.values()),
        "steps": [
            {
                "step": name,
                "status": "ok",
                "seconds": seconds,
                "python_start_mb": start,
                "python_peak_mb": peak,
                "jvm_heap_after_gc_mb": heap,
            }
            for name, (seconds, start, peak, heap) in steps.items()
        ],
    }


def test_growth_flags_steps_slower_than_the_data_or_holding_more_memory():
    small = _run(
        1,
        1000,
        {
            "ingest": (10.0, 400, 450, 300),
            "features": (20.0, 450, 460, 300),
            "train": (30.0, 460, 500, 300),
            "score": (5.0, 500, 510, 300),
        },
    )
    large = _run(
        4,
        4000,
        {
            "ingest": (44.0, 400, 450, 300),  # 4.4x for 4x: the edge, not flagged
            "features": (89.0, 450, 460, 300),  # 4.45x: flagged
            "train": (60.0, 460, 800, 300),  # Python grows 300 MB more: flagged
            "score": (10.0, 500, 510, 600),  # JVM keeps 300 MB more: flagged
        },
    )
    growth = bench_pipeline.growth(small, large)
    assert growth["data_ratio"] == 4.0
    assert growth["target_time_ratio"] == 4.4
    assert growth["run_time_ratio"] == round(203 / 65, 2)
    flags = {s["step"]: s["reasons"] for s in growth["steps"]}
    assert flags["ingest"] == []
    assert flags["features"] == ["time x4.45 for data x4.00"]
    assert flags["train"] == ["Python driver grows +300 MB more"]
    assert flags["score"] == ["JVM keeps +300 MB more after GC"]


def test_growth_skips_steps_that_did_not_run_at_both_sizes():
    small = _run(1, 100, {"ingest": (1.0, 1, 1, 1), "train": (1.0, 1, 1, 1)})
    large = _run(2, 200, {"ingest": (2.0, 1, 1, 1), "train": (9.0, 1, 1, 1)})
    large["steps"][1]["status"] = "skipped"
    assert [s["step"] for s in bench_pipeline.growth(small, large)["steps"]] == ["ingest"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    work = tmp_path_factory.mktemp("bench")
    command = [sys.executable, str(REPO / "benchmarks" / "run_all.py"), "--tiny"]
    done = subprocess.run(
        [*command, "--work", str(work)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    return work


def test_the_tiny_run_writes_every_benchmark_into_one_json_and_page(tiny):
    gathered = json.loads((tiny / "results" / "all.json").read_text())
    names = {"pipeline", "generator", "ingest", "features", "models", "survival"}
    assert set(gathered["results"]) == names | {"attribution", "social"}
    assert gathered["tiny"] is True and gathered["machine"]["cpus"] >= 1

    pipeline = gathered["results"]["pipeline"]
    (run,) = pipeline["runs"]
    steps = [s["step"] for s in run["steps"]]
    # `fanbase run` end to end: every step ran (nothing was done before) and succeeded.
    assert steps == ["ingest", "features", "train", "score", "survival", "attribution"] + [
        "social",
        "monitor",
        "report",
    ]
    assert all(s["status"] == "ok" and s["seconds"] > 0 for s in run["steps"])
    assert all(s["python_peak_mb"] >= s["python_start_mb"] > 0 for s in run["steps"])
    # The analyst report of that run has every section filled (none says "no rows yet").
    html = (Path(run["home"]) / "reports" / "report.html").read_text()
    sections = re.findall(r'<section id="([a-z]+)"', html)
    assert sections == ["attention", "survival", "hazards", "churn", "segments"] + [
        "fixtures",
        "social",
        "runs",
    ]
    assert "has no rows yet" not in html

    page = (tiny / "BENCHMARKS.md").read_text()
    for heading in ("## Summary", "## The pipeline per step", "## When each was measured"):
        assert heading in page
    summary = page.split("## Summary")[1].split("##")[0]
    for row in ("| generator |", "| ingest |", "| models |", "| survival |", "| social |"):
        assert row in summary
    assert "| end to end (1x) |" in summary


def test_the_page_shows_growth_and_the_cluster_when_the_run_has_them(tiny):
    gathered = json.loads((tiny / "results" / "all.json").read_text())
    pipeline = gathered["results"]["pipeline"]
    (small,) = pipeline["runs"]
    large = json.loads(json.dumps(small)) | {"scale": 2.0, "raw_lines": 2 * small["raw_lines"]}
    large["run_seconds"] = 3 * small["run_seconds"]
    for step in large["steps"]:
        step["seconds"] = 3 * step["seconds"]  # every step slower than the data
    pipeline["runs"] = [small, large]
    pipeline["growth"] = bench_pipeline.growth(small, large)
    pipeline["cluster"] = {
        "master": "standalone",
        "run_seconds": 200.0,
        "local_run_seconds": 100.0,
        "ratio_cluster_to_local": 2.0,
        "steps": [{"step": "ingest", "cluster_seconds": 20.0, "local_seconds": 10.0}],
    }
    page = run_all.render(gathered)
    growth = page.split("## Growth, 1x to 2x")[1].split("##")[0]
    assert "| ingest |" in growth and "time x3.00 for data x2.00" in growth
    assert "| scaling | run time x3.0 for data x2.0 | - | - | <= x2.2 | **no** |" in page
    assert "| cluster | standalone 200.0 s | local mode 100.0 s | 2.00x the time |" in page


def test_render_rewrites_the_page_from_the_committed_results_running_nothing(tmp_path):
    import shutil

    results = tmp_path / "results"
    shutil.copytree(REPO / "benchmarks" / "results", results)
    (results / "all.json").unlink()
    page = tmp_path / "BENCHMARKS.md"
    assert run_all.main(["--render", "--results", str(results), "--markdown", str(page)]) == 0
    gathered = json.loads((results / "all.json").read_text())
    assert gathered["benchmark_seconds"] == {}  # nothing ran
    one_x = run_all._one_x(gathered["results"]["pipeline"])
    minutes = f"{one_x['end_to_end_seconds'] / 60:,.1f} min"
    assert minutes in page.read_text()
