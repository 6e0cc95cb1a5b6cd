"""InOrder: calls run a few at once, results come back in the order they were given."""

from __future__ import annotations

import threading
import time

import pytest

from app.pipeline import InOrder


def test_results_come_back_in_order_with_at_most_in_flight_running():
    settled, running, most = [], [0], [0]
    lock = threading.Lock()

    def work(number: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05 if number % 2 == 0 else 0.0)  # even calls finish after the odd one behind them
        with lock:
            running[0] -= 1
        return number

    with InOrder(2, settled.append) as calls:
        for number in range(7):
            calls.submit(work, number)
    assert settled == list(range(7)) and most[0] <= 2


def test_a_failing_call_reaches_the_caller_and_nothing_after_it_is_settled():
    settled = []

    def work(number: int) -> int:
        if number == 2:
            raise ValueError("broken batch")
        return number

    with pytest.raises(ValueError, match="broken batch"), InOrder(1, settled.append) as calls:
        for number in range(5):
            calls.submit(work, number)
    assert settled == [0, 1]
