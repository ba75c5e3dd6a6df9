"""Logging configured once per process, by the entry point."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_fanbase", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
        handler._fanbase = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # py4j logs every JVM call at DEBUG/INFO; keep it to warnings.
    logging.getLogger("py4j").setLevel(logging.WARNING)
