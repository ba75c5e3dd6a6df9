"""Side-by-side Spark work from one driver.

Much of fanbase's Spark work is many small jobs (one model per market, a MERGE per
table): each is mostly fixed driver-side time (planning, scheduling, Delta log replay,
MLflow), so while one thread waits another keeps the executors busy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

# Writes to different Delta tables side by side: each MERGE, overwrite or CREATE is
# mostly fixed driver-side work (log replay, planning, commit) that overlaps well.
WRITERS = 3


def in_parallel(fn: Callable, items: Iterable, workers: int, name: str = "fanbase") -> list:
    """``fn`` of every item, ``workers`` at a time on threads sharing the session;
    results in the items' order. Every item runs even when one fails: then the first
    failure is raised once all have run, and any later ones are logged."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        outcomes = [_attempt(fn, item) for item in items]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
            outcomes = list(pool.map(lambda item: _attempt(fn, item), items))
    errors = [err for _, err in outcomes if err is not None]
    for err in errors[1:]:
        log.error("%s: another item failed too: %s: %s", name, type(err).__name__, err)
    if errors:
        raise errors[0]
    return [result for result, _ in outcomes]


def _attempt(fn: Callable, item) -> tuple:
    try:
        return fn(item), None
    except Exception as err:  # noqa: BLE001 - raised by in_parallel after the others ran
        return None, err
