"""The console command: job list, and a config mistake that fails fast and clearly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fanbase.cli import JOBS

pytestmark = pytest.mark.unit

FANBASE = [sys.executable, "-m", "fanbase.cli"]


def test_help_lists_every_job():
    out = subprocess.run([*FANBASE, "--help"], capture_output=True, text=True, check=True)
    for job in JOBS:
        assert f"    {job} " in out.stdout
    assert {"run", "generate", "ingest", "features", "smoke"} <= set(JOBS)


def test_unknown_job_is_named():
    out = subprocess.run([*FANBASE, "ingst"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "unknown job 'ingst'" in out.stderr


def test_misspelt_key_fails_fast_naming_file_and_key(tmp_path: Path):
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "local").mkdir()
    (conf / "base" / "fanbase.yml").write_text("spark:\n  master: local[1]\n")
    bad = conf / "local" / "fanbase.yml"
    bad.write_text("lakehouse:\n  rooot: /tmp/x\n")
    started = time.monotonic()
    out = subprocess.run(
        [*FANBASE, "smoke", "--conf-dir", str(conf)],
        capture_output=True,
        text=True,
        env={**os.environ, "FANBASE_HOME": str(tmp_path)},
    )
    elapsed = time.monotonic() - started
    assert out.returncode == 2
    assert f"{bad}: unknown key 'lakehouse.rooot'" in out.stderr
    assert "Traceback" not in out.stderr
    assert elapsed < 10  # no Spark was started
    assert len(out.stderr.strip().splitlines()) == 1


def test_each_job_file_runs_as_a_script():
    jobs_dir = Path(__file__).resolve().parents[1] / "jobs"
    for job in JOBS:
        out = subprocess.run(
            [sys.executable, str(jobs_dir / f"{job}.py"), "--help"],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        assert "--set KEY=VALUE" in out.stdout


def test_pipeline_summary_table():
    from fanbase.jobs.run import format_summary

    table = format_summary(
        [
            {"step": "generate", "rows_out": 1200, "seconds": 2.04},
            {"step": "ingest", "rows_in": 1200, "rows_out": 1100, "seconds": 30.0},
        ]
    )
    assert table.splitlines() == [
        "step             rows in    rows out   seconds  status",
        "generate" + " " * 24 + "1200       2.0  ok",
        "ingest" + " " * 14 + "1200        1100      30.0  ok",
    ]
