"""Benchmark the demo generator: wall time, lines, events/s, peak memory, parallel speed-up.

    python benchmarks/bench_generator.py [--users N --days D --workers W]

Runs the default demo (or the given size) once with the default workers and once with
workers=1, and writes benchmarks/results/generator.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

import psutil

from fanbase.demo import generate
from fanbase.demo.settings import GeneratorSettings

RESULTS = Path(__file__).parent / "results" / "generator.json"


class RssSampler:
    """Peak of (parent + all children) resident memory, sampled every 50 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _run(settings: GeneratorSettings) -> dict:
    with tempfile.TemporaryDirectory(prefix="fanbase-bench-") as tmp, RssSampler() as rss:
        started = time.perf_counter()
        report = generate(tmp, settings)
        wall = time.perf_counter() - started
    return {
        "workers": report.workers,
        "wall_seconds": round(wall, 2),
        "lines_written": report.lines_written,
        "event_lines": report.event_lines,
        "social_lines": report.social_lines,
        "event_lines_per_second": round(report.event_lines / wall, 1),
        "lines_per_second": round(report.lines_written / wall, 1),
        "peak_rss_total_mb": round(rss.peak / 2**20, 1),
        "first_signups": report.first_signups,
        "fixtures": report.fixtures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--skip-serial", action="store_true", help="do not run workers=1")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    overrides = {k: v for k, v in vars(args).items() if k in ("users", "days", "workers") and v}
    settings = GeneratorSettings(**overrides)
    parallel = _run(settings)
    result = {
        "settings": {"users": settings.users, "days": settings.days, "shards": settings.shards},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m_before": os.getloadavg()[0],
        },
        "parallel": parallel,
    }
    if not args.skip_serial:
        serial = _run(settings.model_copy(update={"workers": 1}))
        result["serial"] = serial
        result["speedup"] = round(serial["wall_seconds"] / parallel["wall_seconds"], 2)
        result["identical_line_counts"] = serial["lines_written"] == parallel["lines_written"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
