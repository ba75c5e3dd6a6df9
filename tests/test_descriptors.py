"""The cluster descriptors (EMR steps, the Databricks Asset Bundle) stay consistent with
the jobs: they are what deploy/render.py renders from the pipeline's steps, every job
they run exists with an entry point, and every parameter they pass parses."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from fanbase.cli import JOBS, load_job
from fanbase.jobs._runner import build_parser
from fanbase.jobs.run import STEP_ARGS, STEPS

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
# Jobs that are not steps of the daily pipeline: the pipeline itself, the demo data
# generator and the runtime check.
NOT_STEPS = {"run", "generate", "smoke"}


def _render():
    spec = importlib.util.spec_from_file_location("render", REPO / "deploy" / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _packages() -> list[str]:
    return yaml.safe_load((REPO / "conf/base/fanbase.yml").read_text())["spark"]["packages"]


def test_every_job_is_a_step_of_the_pipeline_or_deliberately_not():
    assert set(STEPS) <= set(JOBS)
    assert set(JOBS) - set(STEPS) == NOT_STEPS


def test_the_committed_descriptors_are_the_rendered_ones():
    for path, text in _render().rendered().items():
        assert path.read_text() == text, f"{path.name} is stale: run deploy/render.py"


def test_emr_steps_submit_each_job_file_with_valid_parameters():
    steps = json.loads((REPO / "deploy/emr/steps.json").read_text())
    version = (REPO / "src/fanbase/VERSION").read_text().strip()
    names = []
    for step in steps:
        assert step["Type"] == "Spark" and step["ActionOnFailure"] == "CANCEL_AND_WAIT"
        args = step["Args"]
        assert args[args.index("--packages") + 1] == ",".join(_packages())
        assert args[args.index("--py-files") + 1].endswith(f"/fanbase-{version}.zip")
        script = next(a for a in args if a.endswith(".py"))
        name = Path(script).stem
        source = REPO / "jobs" / f"{name}.py"
        assert source.is_file(), script
        assert "main_for(__name__)" in source.read_text(), f"{source} cannot be submitted"
        # What follows the script is the job's own command line.
        parsed = build_parser(load_job(name)).parse_args(args[args.index(script) + 1 :])
        assert parsed.env == "emr"
        assert args[args.index(script) + 1 : -2] == STEP_ARGS.get(name, [])  # train --due
        assert (REPO / "conf" / parsed.env / "fanbase.yml").is_file()
        names.append(name)
    assert tuple(names) == STEPS


def test_the_databricks_bundle_runs_the_steps_in_order_through_the_wheel_entry_point():
    bundle = yaml.safe_load((REPO / "databricks.yml").read_text())
    assert bundle["artifacts"]["fanbase_wheel"]["type"] == "whl"
    (job,) = bundle["resources"]["jobs"].values()
    clusters = {c["job_cluster_key"] for c in job["job_clusters"]}
    names, previous = [], None
    for task in job["tasks"]:
        wheel = task["python_wheel_task"]
        assert wheel["package_name"] == "fanbase"
        # The entry point is a console script of the installed wheel.
        (entry,) = importlib.metadata.entry_points(
            group="console_scripts", name=wheel["entry_point"]
        )
        assert entry.value == "fanbase.cli:main"
        name, *rest = wheel["parameters"]
        assert name in JOBS and task["task_key"] == name
        parsed = build_parser(load_job(name)).parse_args(rest)
        assert (REPO / "conf" / parsed.env / "fanbase.yml").is_file()
        assert rest[:-2] == STEP_ARGS.get(name, [])
        needs = [d["task_key"] for d in task.get("depends_on", [])]
        assert needs == ([previous] if previous else [])
        assert task["job_cluster_key"] in clusters
        maven = [lib["maven"]["coordinates"] for lib in task["libraries"] if "maven" in lib]
        assert maven == [p for p in _packages() if "spark-nlp" in p]
        assert {"whl": "./dist/*.whl"} in task["libraries"]
        names.append(name)
        previous = name
    assert tuple(names) == STEPS


def test_a_bad_parameter_in_a_descriptor_would_be_caught():
    with pytest.raises(SystemExit):
        build_parser(load_job("train")).parse_args(["--env", "databricks", "--wokers", "2"])
