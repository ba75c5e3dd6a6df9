"""The ``fanbase`` console command: one subcommand per job in jobs/."""

from __future__ import annotations

import argparse
import importlib
import sys

from fanbase import __version__

# The jobs, in pipeline order. A job is a module fanbase.jobs.<name> (see jobs/_runner.py).
JOBS = (
    "run",
    "generate",
    "ingest",
    "features",
    "train",
    "score",
    "survival",
    "attribution",
    "social",
    "monitor",
    "report",
    "smoke",
)


def load_job(name: str):
    return importlib.import_module(f"fanbase.jobs.{name}")


def _formatter(prog: str) -> argparse.HelpFormatter:
    """argparse sizes the name column as if subcommands were indented 2, not 4, so a
    long job name wraps; start the column wide enough for every job name."""
    formatter = argparse.HelpFormatter(prog, max_help_position=32)
    formatter._action_max_length = 4 + max(map(len, JOBS))
    return formatter


def _overview() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fanbase",
        description="Subscriber analytics for sports streaming: Spark, Delta Lake, MLflow.",
        epilog="Run `fanbase <job> --help` for a job's options.",
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"fanbase {__version__}")
    sub = parser.add_subparsers(dest="job", title="jobs", metavar="<job>")
    for name in JOBS:
        sub.add_parser(name, help=load_job(name).HELP, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    from fanbase.jobs._runner import execute

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "--version") or argv[0] not in JOBS:
        parser = _overview()
        if argv and argv[0] not in ("-h", "--help", "--version"):
            parser.print_usage(sys.stderr)
            print(f"fanbase: unknown job {argv[0]!r}; jobs: {', '.join(JOBS)}", file=sys.stderr)
            return 2
        parser.parse_args(argv or ["--help"])
        return 0
    return execute(load_job(argv[0]), argv[1:])


if __name__ == "__main__":
    sys.exit(main())
