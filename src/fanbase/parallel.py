"""Side-by-side Spark work from one driver.

Much of fanbase's Spark work is many small jobs (one model per market, a MERGE per
table): each is mostly fixed driver-side time (planning, scheduling, Delta log replay,
MLflow), so while one thread waits another keeps the executors busy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor


def in_parallel(fn: Callable, items: Iterable, workers: int, name: str = "fanbase") -> list:
    """``fn`` of every item, ``workers`` at a time on threads sharing the session;
    results in the items' order. The first exception is raised once all have run."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        return list(pool.map(fn, items))
