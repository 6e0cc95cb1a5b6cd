"""InOrder: a few calls at once on worker threads, their results handed back in the order they were given.

Batch work (`kefu eval`, `kefu qc` in full mode) keeps two batches in flight: while one is encoded
(onnxruntime, outside the GIL, on the encoder's thread) the other is ranked or inspected in Python, so
both cores work. The results must still come back in the file's order, one batch at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class InOrder(Generic[T]):
    """`submit(work, *args)` runs `work(*args)` on a worker; once `in_flight` calls are under way the
    oldest one's result goes to `settle(result)` before more is taken. Leaving the `with` block settles
    the rest in order (or, after an error, waits for the calls under way and drops their results)."""

    def __init__(self, in_flight: int, settle: Callable[[T], None], name: str = "kefu-batch") -> None:
        if in_flight < 1:
            raise ValueError(f"in_flight must be at least 1, not {in_flight}")
        self._in_flight = in_flight
        self._settle = settle
        self._pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix=name)
        self._running: deque[Future[T]] = deque()

    def submit(self, work: Callable[..., T], *args: Any) -> None:
        self._running.append(self._pool.submit(work, *args))
        if len(self._running) >= self._in_flight:
            self._settle(self._running.popleft().result())

    def __enter__(self) -> InOrder[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            while kind is None and self._running:
                self._settle(self._running.popleft().result())
        finally:
            self._pool.shutdown(wait=True)


__all__ = ["InOrder"]
