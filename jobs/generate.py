"""Generate the demo raw data (EVENTS.md contract) and its planted truths."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging

from fanbase.demo import generate
from fanbase.demo.settings import GeneratorSettings
from fanbase.jobs._runner import JobContext, main_for

NAME = "generate"
HELP = "write demo raw data and planted truths"

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="raw root to write (default: config raw.root)")
    parser.add_argument("--users", type=int, help="expected baseline first signups")
    parser.add_argument("--days", type=int, help="days to simulate")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--start-date", type=dt.date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--shards", type=int, help="part files per landing day (fixed output)")
    parser.add_argument("--workers", type=int, help="processes (output does not depend on it)")
    parser.add_argument("--tiny", action="store_true", help="test-sized preset")


def resolve_settings(base: GeneratorSettings, args: argparse.Namespace) -> GeneratorSettings:
    """Config settings (or the tiny preset), overridden by the command-line flags given."""
    overrides = {
        name: getattr(args, name)
        for name in ("users", "days", "seed", "start_date", "shards", "workers")
        if getattr(args, name, None) is not None
    }
    if args.tiny:
        return GeneratorSettings.tiny(**overrides)
    return base.model_copy(update=overrides) if overrides else base


def run(ctx: JobContext, args: argparse.Namespace) -> dict:
    # The generator needs no Spark: ctx.spark is deliberately left untouched.
    settings = GeneratorSettings.model_validate(
        resolve_settings(ctx.config.generator, args).model_dump()
    )
    out = args.out or ctx.config.raw.root
    ctx.log.info("generating demo data into %s with %s", out, settings.model_dump_json())
    report = generate(out, settings)
    summary = {k: v for k, v in dataclasses.asdict(report).items() if k != "summary"}
    summary["rows_out"] = report.lines_written
    return summary


if __name__ == "__main__":
    main_for(__name__)
