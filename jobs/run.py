"""The whole pipeline, in dependency order: the README's main command.

On the embedded default it first generates the demo data when the raw root holds
none, then runs each step: ingest, features, train (the model catalog), score, and
survival (survival models and customer value), attribution (which fixtures bring
new subscribers) and social (sentiment, entities and topics of social posts).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fanbase.jobs._runner import JobContext, main_for

NAME = "run"
HELP = "run the whole pipeline (generating demo data first when there is none)"
# The daily pipeline in dependency order. The cluster descriptors (deploy/emr/steps.json,
# databricks.yml) run the same steps in the same order; tests/test_descriptors.py checks.
STEPS = ("ingest", "features", "train", "score", "survival", "attribution", "social")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-generate", action="store_true", help="never generate demo data, even if none"
    )


def _has_raw_data(root: str) -> bool:
    if "://" in root:
        return True  # a remote raw root is the real service's data
    return (Path(root) / "events").is_dir()


def _step(ctx: JobContext, name: str, args: list[str], summary: list[dict]) -> dict:
    from fanbase.cli import load_job
    from fanbase.jobs._runner import build_parser

    module = load_job(name)
    parsed = build_parser(module).parse_args(args)
    started = time.monotonic()
    ctx.log.info("step %s: starting", name)
    try:
        result = module.run(_child(ctx, name), parsed) or {}
    except Exception as err:
        raise RuntimeError(f"step {name} failed: {type(err).__name__}: {err}") from err
    row = {"step": name, "seconds": round(time.monotonic() - started, 1), **result}
    summary.append(row)
    ctx.log.info("step %s: done in %.1fs", name, row["seconds"])
    return row


def _child(ctx: JobContext, job: str) -> JobContext:
    child = JobContext(ctx.config, job, run_id=ctx.run_id)
    if "spark" in ctx.__dict__:
        child.__dict__["spark"] = ctx.__dict__["spark"]
    return child


def format_summary(rows: list[dict]) -> str:
    """The table printed at the end of a pipeline run."""
    lines = [f"{'step':<12}{'rows in':>12}{'rows out':>12}{'seconds':>10}  status"]
    for row in rows:
        rows_in = row.get("rows_in", "")
        rows_out = row.get("rows_out", "")
        lines.append(f"{row['step']:<12}{rows_in!s:>12}{rows_out!s:>12}{row['seconds']:>10.1f}  ok")
    return "\n".join(lines)


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    summary: list[dict] = []
    if not args.no_generate and not _has_raw_data(ctx.config.raw.root):
        _step(ctx, "generate", [], summary)
    for name in STEPS:
        _step(ctx, name, [], summary)
    print(format_summary(summary))
    return {"steps": [row["step"] for row in summary]}


if __name__ == "__main__":
    main_for(__name__)
