"""The serve path's encoder: an LRU cache, micro-batching across threads, a bounded queue (load shedding)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app.errors import OverloadedError
from app.models.serving import BatchSettings, EncoderCache, MicroBatcher
from app.replies import InspectionRequest, ReplyRequest
from tests.conftest import FakeEmbedder


class SlowEmbedder(FakeEmbedder):
    """A fake whose calls block until released, to hold work in the queue."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.batches: list[int] = []

    def encode(self, texts):
        self.release.wait(10)
        self.batches.append(len(texts))
        return super().encode(texts)


def test_the_cache_answers_repeated_texts_without_the_encoder():
    inner = FakeEmbedder()
    cache = EncoderCache(inner, size=2)
    first = cache.encode(["query: 在吗", "query: 包邮吗", "query: 在吗"])
    assert inner.calls == 1
    np.testing.assert_array_equal(first, inner.encode(["query: 在吗", "query: 包邮吗", "query: 在吗"]))
    before = inner.calls
    again = cache.encode(["query: 包邮吗", "query: 在吗"])
    assert inner.calls == before
    np.testing.assert_array_equal(again, first[[1, 0]])
    # 在吗 was used last, so a third text pushes out 包邮吗, the least recently used.
    cache.encode(["query: 几天到"])
    cache.encode(["query: 在吗"])
    assert inner.calls == before + 1
    cache.encode(["query: 包邮吗"])
    assert inner.calls == before + 2


def test_concurrent_callers_share_encoder_calls_and_get_their_own_rows():
    inner = SlowEmbedder()
    batcher = MicroBatcher(inner, BatchSettings(window_seconds=0.05, max_batch=64, max_pending=512))
    messages = [f"query: 第{i}个问题" for i in range(12)]
    results: dict[int, np.ndarray] = {}

    def call(i: int) -> None:
        results[i] = batcher.encode([messages[i]])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    inner.release.set()
    for thread in threads:
        thread.join(10)
    batcher.close()
    expected = FakeEmbedder().encode(messages)
    for i in range(12):
        np.testing.assert_array_equal(results[i][0], expected[i])
    assert sum(inner.batches) == 12 and len(inner.batches) < 12  # shared calls


def test_a_full_queue_refuses_at_once_with_retry_after():
    inner = SlowEmbedder()
    batcher = MicroBatcher(inner, BatchSettings(window_seconds=0.0, max_batch=4, max_pending=4, retry_after_seconds=2))
    first = threading.Thread(target=batcher.encode, args=(["query: a"],))
    first.start()  # taken by the worker, which now blocks in the encoder
    while batcher.pending:
        pass
    waiting = threading.Thread(target=batcher.encode, args=(["query: b", "query: c", "query: d"],))
    waiting.start()
    while batcher.pending < 3:
        pass
    with pytest.raises(OverloadedError) as refused:
        batcher.encode(["query: e", "query: f"])
    assert refused.value.retry_after == 2 and refused.value.code == "overloaded"
    inner.release.set()
    first.join(10)
    waiting.join(10)
    assert batcher.encode(["query: e", "query: f"]).shape == (2, FakeEmbedder.dimension)  # room again
    batcher.close()


def test_an_encoder_failure_reaches_every_caller_of_the_batch():
    class Broken(FakeEmbedder):
        def encode(self, texts):
            raise ValueError("broken model")

    batcher = MicroBatcher(Broken())
    with pytest.raises(ValueError, match="broken model"):
        batcher.encode(["query: 在吗"])
    batcher.close()


def test_a_request_encodes_its_messages_and_replies_in_one_call_one_text_each(fake_index):
    from app.service import KefuService

    counting = FakeEmbedder()
    service = KefuService.load(fake_index, embedder=counting)
    requests = [ReplyRequest("杯子碎了，还有运费谁出", platform="jd"), ReplyRequest("这件多久能到货")]
    agent_replies = ["您好，非常抱歉，给您补发。", None]
    before, texts_before = counting.calls, counting.texts
    reviewed = service.review_many(requests, agent_replies)
    assert counting.calls - before == 1  # the messages and the agent's reply together
    assert counting.texts - texts_before == 3  # one text each: clauses are not encoded
    assert reviewed[0].inspection is not None and reviewed[1].inspection is None
    service.inspect_many([InspectionRequest("杯子碎了，还有运费谁出", "您好，非常抱歉，给您补发。", "jd")])
    assert counting.calls - before == 1  # all of it cached


def test_submit_returns_while_the_encoder_works_and_the_cache_keeps_what_arrives():
    inner = SlowEmbedder()
    cache = EncoderCache(MicroBatcher(inner, BatchSettings()))
    pending = cache.submit(["query: 在吗", "query: 包邮吗"])  # the encoder is blocked: submit must not wait
    assert inner.batches == []
    inner.release.set()
    np.testing.assert_array_equal(pending.result(), FakeEmbedder().encode(["query: 在吗", "query: 包邮吗"]))
    assert cache.submit(["query: 包邮吗"]).result().shape == (1, FakeEmbedder.dimension)
    assert inner.batches == [2]  # the second text came from the cache
    cache.embedder.close()


def test_a_request_reads_its_message_while_the_encoder_embeds_it(fake_index, monkeypatch):
    """The words' work (terms, BM25, entities, stage, mood, sizes, the n-gram classifier) is done before
    the request waits for its vector: here it all happens while the encoder is still blocked."""
    from app.service import KefuService

    inner = SlowEmbedder()
    inner.release.set()  # loading encodes nothing, but be safe
    service = KefuService.load(fake_index, embedder=inner)
    inner.release.clear()
    read_while_blocked = []
    original = service._read

    def read(request, text):
        reading = original(request, text)
        read_while_blocked.append(not inner.release.is_set())
        return reading

    monkeypatch.setattr(service, "_read", read)
    threading.Timer(0.5, inner.release.set).start()
    result = service.reply(ReplyRequest("身高170体重60穿多大"))
    assert read_while_blocked == [True] and result.replies


def test_submit_to_an_idle_encoder_returns_once_the_worker_has_taken_the_job():
    """So the caller's own work (reading the message) overlaps the encoding instead of holding the GIL the
    worker needs to start it."""
    inner = SlowEmbedder()
    batcher = MicroBatcher(inner, BatchSettings())
    pending = batcher.submit(["query: 在吗"])
    assert batcher.pending == 0 and inner.batches == []  # taken by the worker, not yet encoded
    inner.release.set()
    np.testing.assert_array_equal(pending.result(), FakeEmbedder().encode(["query: 在吗"]))
    batcher.close()
