"""What every job shares: arguments, config, the session, timing and exit codes.

A job module in jobs/ exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(ctx, args) -> dict`` and ends with ``if __name__ == "__main__": main_for(__name__)``.
The same module then runs as ``fanbase <job>``, ``spark-submit jobs/<job>.py`` and as a
Databricks wheel task.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
import traceback
import uuid
from functools import cached_property
from types import ModuleType

from fanbase import code_version
from fanbase.config import ConfigError, Settings, load_settings
from fanbase.logs import configure_logging

log = logging.getLogger("fanbase.jobs")

EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2


class JobContext:
    """Config, run id and the lazily built SparkSession, handed to a job's ``run``."""

    def __init__(self, config: Settings, job: str, run_id: str | None = None, spark=None):
        self.config = config
        self.job = job
        self.run_id = run_id or f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.log = logging.getLogger(f"fanbase.jobs.{job}")
        self.code_version = code_version()
        if spark is not None:
            self.__dict__["spark"] = spark

    @cached_property
    def spark(self):
        from fanbase.session import build_spark

        return build_spark(self.config.spark, app_name=f"{self.config.spark.app_name}-{self.job}")

    @cached_property
    def lakehouse(self):
        from fanbase.lakehouse import Lakehouse

        lakehouse = Lakehouse(self.spark, self.config.lakehouse)
        lakehouse.register_all()
        return lakehouse

    def configure_mlflow(self) -> str:
        """Point MLflow at the configured stores; returns the experiment id."""
        if "_experiment_id" not in self.__dict__:
            from fanbase.tracking import configure_mlflow

            self._experiment_id = configure_mlflow(self.config.mlflow)
        return self._experiment_id


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration")
    group.add_argument("--env", help="config environment: local (default), emr, databricks")
    group.add_argument("--conf-dir", help="config folder (default: the packaged conf/)")
    group.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set spark.master=local[1] (repeatable)",
    )
    group.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")


def build_parser(module: ModuleType, prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog or f"fanbase {module.NAME}", description=module.HELP)
    module.add_arguments(parser)
    add_common_arguments(parser)
    return parser


def run_job(module: ModuleType, args: argparse.Namespace, spark=None) -> dict:
    """Load config, run the job and log its summary. Raises on failure."""
    config = load_settings(args.env, args.conf_dir, args.overrides)
    configure_logging(args.log_level or config.app.log_level)
    ctx = JobContext(config, module.NAME, spark=spark)
    ctx.log.info("run %s starting, code %s", ctx.run_id, ctx.code_version)
    ctx.log.info("resolved config: %s", json.dumps(config.model_dump(mode="json"), default=str))
    from fanbase import runlog

    started, started_at = time.monotonic(), dt.datetime.now(dt.UTC).replace(tzinfo=None)
    try:
        summary = module.run(ctx, args) or {}
    except Exception as err:
        runlog.record(ctx, runlog.parameters(args), started_at, time.monotonic() - started, {}, err)
        raise
    summary = {"job": module.NAME, "run_id": ctx.run_id, **summary}
    summary["seconds"] = round(time.monotonic() - started, 2)
    runlog.record(ctx, runlog.parameters(args), started_at, summary["seconds"], summary)
    ctx.log.info("done: %s", json.dumps(summary, default=str))
    return summary


def execute(module: ModuleType, argv: list[str], prog: str | None = None) -> int:
    """Parse, run, and turn failures into one clear line and an exit code."""
    args = build_parser(module, prog).parse_args(argv)
    configure_logging(args.log_level or "INFO")
    try:
        run_job(module, args)
    except ConfigError as err:
        print(f"fanbase {module.NAME}: config error: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except Exception as err:  # one line for the operator; the trace with --log-level DEBUG
        if (args.log_level or "").upper() == "DEBUG":
            traceback.print_exc()
        print(f"fanbase {module.NAME}: failed: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def main_for(module_name: str) -> None:
    """``if __name__ == "__main__": main_for(__name__)`` at the end of a job file."""
    module = sys.modules[module_name]
    sys.exit(execute(module, sys.argv[1:], prog=f"{module.NAME}.py"))
