"""The whole pipeline, in dependency order: the README's main command.

On the embedded default it first generates the demo data when the raw root holds
none, then runs each step: ingest, features, train (the model catalog), score,
survival (survival models and customer value), attribution (which fixtures bring new
subscribers), social (sentiment, entities and topics of social posts), monitor (drift
and performance of every model) and report (the analyst's HTML page). Train trains what
is due: new or changed catalog entries and the models monitor flagged for retraining.

Ingest always runs (it is incremental per landing date: `--date` or `--from`/`--to`
backfill a range). A later step is skipped when its inputs are unchanged since its last
successful run in the pipeline (the same Delta versions of the tables it reads, config,
model catalog and code: its fingerprint in ``ops.job_runs``) and no step before it
changed anything (ran and wrote rows);
``--force`` runs every step. The summary table says which ran, with rows and times, and
a failed step stops the pipeline with its name and reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from fanbase.jobs._runner import JobContext, main_for

NAME = "run"
HELP = "run the whole pipeline (generating demo data first when there is none)"
# The daily pipeline in dependency order. The cluster descriptors (deploy/emr/steps.json,
# databricks.yml) run the same steps in the same order; tests/test_descriptors.py checks.
STEPS = (
    "ingest",
    "features",
    "train",
    "score",
    "survival",
    "attribution",
    "social",
    "monitor",
    "report",
)
# Arguments of a step in the pipeline: train only what is due (new, changed or flagged).
STEP_ARGS = {"train": ["--due"]}
# What each step after ingest reads (layers, or layer.table): its fingerprint's tables.
READS = {
    "features": ("silver",),
    "train": ("silver", "features", "ops.model_evaluations"),
    "score": ("features",),
    "survival": ("silver", "features"),
    "attribution": ("silver", "gold.customer_value"),
    "social": ("silver",),
    # Champions' drift and metrics: features and spells (silver), their own outputs
    # (scores, segments, scored posts, survival models) and which versions are champions.
    "monitor": ("silver", "features", "gold", "ops.model_runs"),
    "report": ("gold", "ops.model_curves", "ops.model_runs", "ops.model_evaluations"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-generate", action="store_true", help="never generate demo data, even if none"
    )
    parser.add_argument("--date", type=dt.date.fromisoformat, help="ingest one landing date")
    parser.add_argument("--from", dest="date_from", type=dt.date.fromisoformat)
    parser.add_argument("--to", dest="date_to", type=dt.date.fromisoformat)
    parser.add_argument("--force", action="store_true", help="run every step, even if done")


def _has_raw_data(root: str) -> bool:
    if "://" in root:
        return True  # a remote raw root is the real service's data
    return (Path(root) / "events").is_dir()


def _step(
    ctx: JobContext,
    name: str,
    args: list[str],
    summary: list[dict],
    total: int,
    reads=None,
    force=True,
) -> dict:
    """Run one step (unless ``reads`` is given, ``force`` is false and its fingerprint
    matches its last successful run), log it in ``ops.job_runs`` and add its row to
    ``summary``; a failure is re-raised naming the step."""
    from fanbase import runlog
    from fanbase.cli import load_job
    from fanbase.jobs._runner import build_parser

    module = load_job(name)
    parsed = build_parser(module).parse_args(args)
    child = _child(ctx, name)
    started, started_at = time.monotonic(), dt.datetime.now(dt.UTC).replace(tzinfo=None)
    position = f"{len(summary) + 1}/{total}"
    params = runlog.parameters(parsed)
    print_ = runlog.fingerprint(child, reads) if reads is not None else None
    done = None if force or print_ is None else runlog.done_before(child, name, print_)
    if done:
        ctx.log.info("step %s %s: skipped, inputs unchanged since run %s", position, name, done)
        runlog.record(child, params, started_at, 0.0, {}, None, NAME, "skipped", print_)
        row = {"step": name, "seconds": 0.0, "status": "skipped"}
        summary.append(row)
        return row
    ctx.log.info("step %s %s: starting", position, name)
    try:
        result = module.run(child, parsed) or {}
    except Exception as err:
        seconds = time.monotonic() - started
        runlog.record(child, params, started_at, seconds, {}, err, NAME, fingerprint=print_)
        raise RuntimeError(f"step {name} failed: {type(err).__name__}: {err}") from err
    if "spark" in child.__dict__:
        ctx.__dict__.setdefault("spark", child.__dict__["spark"])  # the next steps share it
    seconds = time.monotonic() - started
    runlog.record(child, params, started_at, seconds, result, None, NAME, fingerprint=print_)
    row = {"step": name, "seconds": round(seconds, 1), "status": "ok", **result}
    summary.append(row)
    ctx.log.info("step %s %s: done in %.1fs", position, name, row["seconds"])
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
        status = row.get("status", "ok")
        lines.append(
            f"{row['step']:<12}{rows_in!s:>12}{rows_out!s:>12}{row['seconds']:>10.1f}  {status}"
        )
    return "\n".join(lines)


def ingest_args(args: argparse.Namespace) -> list[str]:
    """The landing dates of the run, passed on to ingest."""
    out = []
    for flag, value in (("--date", args.date), ("--from", args.date_from), ("--to", args.date_to)):
        if value is not None:
            out += [flag, value.isoformat()]
    return out


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    summary: list[dict] = []
    generate = not args.no_generate and not _has_raw_data(ctx.config.raw.root)
    total = len(STEPS) + generate
    if generate:
        _step(ctx, "generate", [], summary, total)
    _step(ctx, "ingest", ingest_args(args), summary, total)
    ran = False  # once a step after ingest changes something, every later one runs too
    for name in STEPS[1:]:
        row = _step(
            ctx, name, STEP_ARGS.get(name, []), summary, total, READS[name], args.force or ran
        )
        ran = ran or (row["status"] == "ok" and row.get("rows_out") != 0)
    print(format_summary(summary))
    return {
        "steps": [row["step"] for row in summary],
        "skipped": [row["step"] for row in summary if row["status"] == "skipped"],
    }


if __name__ == "__main__":
    main_for(__name__)
