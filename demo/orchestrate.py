"""Run the whole generation: build the world, simulate shards in processes, write truths."""

from __future__ import annotations

import logging
import os
import resource
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fanbase.demo.behaviour import ShardSimulator
from fanbase.demo.settings import GeneratorSettings
from fanbase.demo.social import SocialSimulator, market_groups
from fanbase.demo.truth import TRUTH_DIR, write_reference, write_truth
from fanbase.demo.world import World, build_world

logger = logging.getLogger(__name__)

_WORLD: World | None = None  # set once per worker process by _init_worker


@dataclass
class GenerationReport:
    out_root: str
    lines_written: int
    event_lines: int
    social_lines: int
    fixtures: int
    first_signups: int
    elapsed_seconds: float
    events_per_second: float
    workers: int
    peak_rss_parent_mb: float
    peak_rss_child_mb: float
    summary: dict = field(repr=False)


def _init_worker(world: World) -> None:
    global _WORLD
    _WORLD = world


def _run_task(task: tuple[str, int, list[str] | None, str]) -> dict:
    kind, part, markets, root = task
    if kind == "events":
        return ShardSimulator(_WORLD, part, Path(root)).run()
    return SocialSimulator(_WORLD, part, markets, Path(root)).run()


def _clear(root: Path) -> None:
    """Remove what a previous generation wrote here (only the folders this writes)."""
    for name in ("events", "social", "reference", "labels", TRUTH_DIR):
        if (root / name).exists():
            shutil.rmtree(root / name)


def _max_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def generate(out_root: str | Path, settings: GeneratorSettings) -> GenerationReport:
    """Write raw data (EVENTS.md contract) and planted truths under out_root."""
    started = time.perf_counter()
    root = Path(out_root)
    _clear(root)
    root.mkdir(parents=True, exist_ok=True)
    world = build_world(settings)
    write_reference(world, root)
    groups = market_groups(world, settings.shards)
    tasks = [("events", shard, None, str(root)) for shard in range(settings.shards)]
    tasks += [("social", part, markets, str(root)) for part, markets in enumerate(groups)]
    # Longest tasks first keeps both cores busy to the end.
    tasks.sort(key=lambda t: (t[0] != "events", t[1]))
    workers = settings.workers or os.cpu_count() or 1
    logger.info("generating %d tasks on %d workers into %s", len(tasks), workers, root)
    if workers == 1:
        _init_worker(world)
        results = [_run_task(t) for t in tasks]
    else:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(world,)) as pool:
            results = list(pool.map(_run_task, tasks))
    event_results = [r for t, r in zip(tasks, results) if t[0] == "events"]
    social_results = [r for t, r in zip(tasks, results) if t[0] == "social"]
    summary = write_truth(world, root, event_results, social_results, len(groups))
    elapsed = time.perf_counter() - started
    events = summary["sources"]["events"]["lines_written"]
    social = summary["sources"]["social"]["lines_written"]
    report = GenerationReport(
        str(root),
        events + social,
        events,
        social,
        len(world.fixtures),
        summary["first_signups"],
        round(elapsed, 3),
        round(events / elapsed, 1),
        workers,
        round(_max_rss_mb(resource.RUSAGE_SELF), 1),
        round(_max_rss_mb(resource.RUSAGE_CHILDREN), 1),
        summary,
    )
    logger.info(
        "generated %d lines in %.1fs (%.0f events/s)",
        report.lines_written,
        elapsed,
        report.events_per_second,
    )
    return report
