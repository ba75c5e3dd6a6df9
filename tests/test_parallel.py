"""fanbase.parallel.in_parallel: results in order, and one failure does not stop the
others (a model per market: the markets after a broken one still train)."""

from __future__ import annotations

import threading
import time

import pytest

from fanbase.parallel import in_parallel


@pytest.mark.parametrize("workers", [1, 3])
def test_results_come_back_in_the_order_of_the_items(workers):
    def slow_square(x):
        time.sleep(0.01 * (5 - x))  # the first items finish last
        return x * x

    assert in_parallel(slow_square, range(5), workers) == [0, 1, 4, 9, 16]


def test_items_run_side_by_side_on_that_many_threads():
    seen, lock = set(), threading.Lock()
    barrier = threading.Barrier(3, timeout=5)

    def meet(_):
        barrier.wait()  # only passes when three items run at once
        with lock:
            seen.add(threading.current_thread().name)

    in_parallel(meet, range(3), 3, "meet")
    assert len(seen) == 3 and all(name.startswith("meet") for name in seen)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_item_runs_and_the_first_failure_is_raised(workers, caplog):
    ran = []

    def work(x):
        ran.append(x)
        if x in (1, 3):
            raise ValueError(f"item {x} is broken")
        return x

    with pytest.raises(ValueError, match="item 1 is broken"):
        in_parallel(work, range(5), workers, "work")
    assert sorted(ran) == [0, 1, 2, 3, 4]
    assert "item 3 is broken" in caplog.text


def test_no_items_is_an_empty_list():
    assert in_parallel(lambda x: x, [], 4) == []
