"""Write the cluster descriptors from the pipeline's step list.

    .venv/bin/python deploy/render.py          # rewrite deploy/emr/steps.json, databricks.yml
    .venv/bin/python deploy/render.py --check  # exit 1 if they differ from the rendered ones

Both run the steps of ``fanbase run`` (``fanbase.jobs.run.STEPS``) in that order against
the built wheel: EMR as Spark steps (``spark-submit`` of each job's file, the wheel
shipped as a ``.zip`` in ``--py-files``), Databricks as one Asset Bundle job whose tasks
call the wheel's ``fanbase`` entry point, each depending on the one before. The
descriptors are committed; ``tests/test_descriptors.py`` checks they are what this
script renders and that every job and parameter in them exists.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STEPS_JSON = REPO / "deploy" / "emr" / "steps.json"
BUNDLE = REPO / "databricks.yml"
# Where the EMR steps find the wheel and the job files (deploy/emr/README.md uploads them).
ARTIFACTS = "s3://fanbase-artifacts/fanbase/{version}"


def version() -> str:
    return (REPO / "src" / "fanbase" / "VERSION").read_text().strip()


def packages() -> list[str]:
    import yaml

    base = yaml.safe_load((REPO / "conf" / "base" / "fanbase.yml").read_text())
    return list(base["spark"]["packages"])


def steps() -> tuple[str, ...]:
    from fanbase.jobs.run import STEPS

    return STEPS


def step_args(name: str) -> list[str]:
    """The step's own arguments in the pipeline (train: --due)."""
    from fanbase.jobs.run import STEP_ARGS

    return STEP_ARGS.get(name, [])


def emr_steps() -> list[dict]:
    """``aws emr add-steps --steps file://deploy/emr/steps.json``: one Spark step per job."""
    where = ARTIFACTS.format(version=version())
    out = []
    for name in steps():
        out.append(
            {
                "Type": "Spark",
                "Name": f"fanbase {name}",
                # A failed step cancels the ones after it: they read what it writes.
                "ActionOnFailure": "CANCEL_AND_WAIT",
                "Args": [
                    "--deploy-mode",
                    "cluster",
                    "--packages",
                    ",".join(packages()),
                    "--py-files",
                    f"{where}/fanbase-{version()}.zip",
                    f"{where}/jobs/{name}.py",
                    *step_args(name),
                    "--env",
                    "emr",
                ],
            }
        )
    return out


def bundle() -> str:
    """``databricks.yml``: the wheel as an artifact, a daily job with a task per step."""
    maven = [p for p in packages() if "spark-nlp" in p]
    lines = [
        "# Databricks Asset Bundle: `databricks bundle deploy -t dev`, then",
        "# `databricks bundle run fanbase_daily`. Rendered by deploy/render.py from the",
        "# steps of `fanbase run`; edit the script, not this file (a test compares them).",
        "bundle:",
        "  name: fanbase",
        "",
        "artifacts:",
        "  fanbase_wheel:",
        "    type: whl",
        "    build: python -m build --wheel",
        "    path: .",
        "",
        "variables:",
        "  spark_version:",
        "    description: Databricks Runtime with Spark 3.5",
        "    default: 15.4.x-scala2.12",
        "  node_type:",
        "    default: i3.xlarge",
        "  workers:",
        "    default: 2",
        "",
        "resources:",
        "  jobs:",
        "    fanbase_daily:",
        "      name: fanbase daily pipeline",
        "      schedule:",
        '        quartz_cron_expression: "0 0 4 * * ?"',
        "        timezone_id: UTC",
        "      max_concurrent_runs: 1",
        "      job_clusters:",
        "        - job_cluster_key: fanbase",
        "          new_cluster:",
        "            spark_version: ${var.spark_version}",
        "            node_type_id: ${var.node_type}",
        "            num_workers: ${var.workers}",
        "            spark_conf:",
        "              spark.serializer: org.apache.spark.serializer.KryoSerializer",
        "              spark.kryoserializer.buffer.max: 512m",
        "      tasks:",
    ]
    previous = None
    for name in steps():
        parameters = ", ".join([name, *step_args(name), "--env", "databricks"])
        lines += [f"        - task_key: {name}"]
        if previous:
            lines += ["          depends_on:", f"            - task_key: {previous}"]
        lines += [
            "          job_cluster_key: fanbase",
            "          python_wheel_task:",
            "            package_name: fanbase",
            "            entry_point: fanbase",
            f"            parameters: [{parameters}]",
            "          libraries:",
            "            - whl: ./dist/*.whl",
            *[f"            - maven: {{coordinates: {m}}}" for m in maven],
        ]
        previous = name
    lines += ["", "targets:", "  dev:", "    mode: development", "    default: true"]
    lines += ["  prod:", "    mode: production"]
    return "\n".join(lines) + "\n"


def rendered() -> dict[Path, str]:
    return {STEPS_JSON: json.dumps(emr_steps(), indent=2) + "\n", BUNDLE: bundle()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    stale = []
    for path, text in rendered().items():
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path.relative_to(REPO)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)}; run deploy/render.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
