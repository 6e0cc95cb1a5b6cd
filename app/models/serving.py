"""How the serve path calls the encoder: recent texts from a cache, concurrent requests in shared batches.

Both wrap any Embedder and are Embedders themselves, so the service never knows they are there:

    service -> EncoderCache -> MicroBatcher -> the backend (ONNX or sentence-transformers)

One encoder call for one request costs nearly as much as one for eight (the model is small and the
per-call overhead dominates on short messages), so under load requests that arrive within a few
milliseconds of each other are encoded together. The queue in front of the encoder is bounded:
when it is full a request is refused at once (OverloadedError, 503 with Retry-After over HTTP)
instead of waiting longer and longer.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from app.errors import OverloadedError
from app.models.embedding import Embedder


class EncoderCache:
    """An LRU cache of vectors by exact text (prefix included): a buyer who sends the same message
    twice, or an agent refreshing the panel, costs no second encode."""

    def __init__(self, embedder: Embedder, size: int = 4096) -> None:
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.dimension = embedder.dimension
        self._size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.submit(texts).result()

    def submit(self, texts: Sequence[str]) -> Pending:
        """Start encoding what the cache lacks and return at once; `result()` waits for the vectors."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for row, text in enumerate(texts):
                vector = self._vectors.get(text)
                if vector is None:
                    missing.setdefault(text, []).append(row)
                else:
                    self._vectors.move_to_end(text)
                    out[row] = vector
        if not missing:
            return Ready(out)
        return _CacheFill(self, out, missing, submit(self.embedder, list(missing)))

    def _store(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        with self._lock:
            for text, vector in zip(texts, vectors):
                self._vectors[text] = vector
                self._vectors.move_to_end(text)
            while len(self._vectors) > self._size:
                self._vectors.popitem(last=False)


class Pending(Protocol):
    """Vectors on their way: the encoder works on them while the caller does something else."""

    def result(self) -> np.ndarray: ...


class Ready:
    """Vectors that are already there."""

    def __init__(self, vectors: np.ndarray) -> None:
        self._vectors = vectors

    def result(self) -> np.ndarray:
        return self._vectors


class _CacheFill:
    """The cache's answer: the rows it had, and the rest once the encoder gives them (then kept)."""

    def __init__(self, cache: EncoderCache, out: np.ndarray, missing: dict[str, list[int]], fresh: Pending) -> None:
        self._cache = cache
        self._out = out
        self._missing = missing
        self._fresh = fresh
        self._done = False

    def result(self) -> np.ndarray:
        if not self._done:
            vectors = self._fresh.result()
            for rows, vector in zip(self._missing.values(), vectors):
                self._out[rows] = vector
            self._cache._store(list(self._missing), vectors)
            self._done = True
        return self._out


def submit(embedder: Embedder, texts: Sequence[str]) -> Pending:
    """Start encoding `texts`: in the background when the embedder can (the serve path's MicroBatcher),
    else now."""
    start = getattr(embedder, "submit", None)
    if start is not None:
        pending: Pending = start(texts)
        return pending
    return Ready(embedder.encode(texts))


@dataclass(frozen=True)
class BatchSettings:
    # How long the first request of a batch waits for company. A few milliseconds is nothing next to
    # an encode, and under load it is what lets requests share one.
    window_seconds: float = 0.0  # KEFU_BATCH_WINDOW_MS, 0 by default, is what the service passes
    # Texts per encoder call; a request with more is encoded in one call of its own.
    max_batch: int = 32
    # Texts waiting at most; beyond this a request is refused (OverloadedError) rather than queued.
    max_pending: int = 512
    # What the refusal tells the client to wait before retrying.
    retry_after_seconds: int = 1


@dataclass
class _Job:
    texts: Sequence[str]
    future: Future[np.ndarray]
    started: threading.Event = field(default_factory=threading.Event)  # set when the worker starts encoding it


class MicroBatcher:
    """Encodes the texts of concurrent callers together, on one worker thread.

    `encode` is called from many request threads: it queues the texts and waits for its rows. The
    worker takes the oldest job, waits up to `window_seconds` for more (or until `max_batch` texts
    are ready), encodes them in one call and hands each caller its rows. A failure of the encoder
    reaches every caller of that batch as the same exception.
    """

    def __init__(self, embedder: Embedder, settings: BatchSettings = BatchSettings()) -> None:
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.dimension = embedder.dimension
        self.settings = settings
        self._jobs: list[_Job] = []
        self._pending = 0  # texts queued, not yet taken by the worker
        self._busy = False  # the worker is encoding a batch
        self._condition = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="kefu-encoder", daemon=True)
        self._worker.start()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.submit(texts).result()

    def submit(self, texts: Sequence[str]) -> Pending:
        """Queue the texts and return at once (OverloadedError when the queue is full); the worker
        encodes them while the caller goes on, and `result()` waits for them."""
        if not texts:
            return Ready(np.zeros((0, self.dimension), dtype=np.float32))
        job = _Job(list(texts), Future())
        with self._condition:
            if self._closed:
                raise RuntimeError("the encoder has been closed")
            # An empty queue always takes a job, however large: the bound is against pile-ups.
            if self._pending and self._pending + len(texts) > self.settings.max_pending:
                raise OverloadedError(
                    f"the server is busy ({self._pending} texts waiting for the encoder); retry in "
                    f"{self.settings.retry_after_seconds} s",
                    retry_after=self.settings.retry_after_seconds,
                )
            idle = not self._jobs and not self._busy
            self._jobs.append(job)
            self._pending += len(texts)
            self._condition.notify()
        if idle:
            # The caller goes on with pure Python (reading the message) while the encoder runs, but the worker
            # needs the GIL to wake up and start, and would get it only when the caller blocks or after the
            # interpreter's 5 ms switch interval: waiting here until the encoder has started (~0.1 ms) is what
            # lets the two overlap. With a queue the worker is awake already and nobody waits.
            job.started.wait()
        return job.future

    @property
    def pending(self) -> int:
        """Texts waiting for the encoder now (for /readyz and the bench)."""
        with self._condition:
            return self._pending

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()
        self._worker.join(timeout=5)

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            texts = [text for job in batch for text in job.texts]
            for job in batch:
                job.started.set()
            try:
                vectors = self.embedder.encode(texts)
            except BaseException as exc:  # every waiting caller must hear of it, whatever it is
                for job in batch:
                    job.future.set_exception(exc)
                continue
            at = 0
            for job in batch:
                job.future.set_result(vectors[at : at + len(job.texts)])
                at += len(job.texts)

    def _next_batch(self) -> list[_Job] | None:
        settings = self.settings
        with self._condition:
            self._busy = False  # the last batch is answered
            while not self._jobs and not self._closed:
                self._condition.wait()
            if self._closed and not self._jobs:
                return None
            deadline = time.monotonic() + settings.window_seconds
            while sum(len(job.texts) for job in self._jobs) < settings.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._condition.wait(left)
            batch: list[_Job] = []
            size = 0
            while self._jobs and (not batch or size + len(self._jobs[0].texts) <= settings.max_batch):
                job = self._jobs.pop(0)
                batch.append(job)
                size += len(job.texts)
            self._pending -= size
            self._busy = True
            return batch


__all__ = ["BatchSettings", "EncoderCache", "MicroBatcher", "Pending", "Ready", "submit"]
