"""Issue 13's feedback targets: recording feedback adds at most 10 % to /v1/reply's p50, and no feedback is
lost when the server is killed and restarted.

    .venv/bin/python scripts/measure_feedback.py [--replies 300]

Needs a built index. Starts `kefu serve` on a fresh SQLite shop database (KEFU_FEEDBACK_URL), then:
1. one client asks /v1/reply --replies times, alone, then again while a second client records one
   feedback event per reply it sees (as the panel does after each copy); the two p50s, interleaved in
   rounds so the machine's drift hits both alike;
2. four clients post events without pause and count those answered 201; after 3 s the server is
   killed with SIGKILL, restarted, and the clients go on for 3 s more; the events stored are counted
   against the events acknowledged.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MESSAGES = ["这件衣服170斤穿什么码", "能便宜点吗", "什么时候发货", "收到的衣服有个洞", "可以开发票吗", "在吗",
            "快递到哪了", "尺码偏大还是偏小", "有没有优惠券", "退货运费谁出"]


def post(url: str, body: dict, timeout: float = 30) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body, ensure_ascii=False).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replies", type=int, default=300, help="replies timed per condition")
    args = parser.parse_args()

    from app.bench import ServerProcess
    from app.feedback.store import FeedbackStore

    folder = Path(tempfile.mkdtemp(prefix="kefu-feedback-"))
    database = f"sqlite:///{folder / 'shop.sqlite3'}"
    os.environ["KEFU_FEEDBACK_URL"] = database
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ServerProcess("127.0.0.1", port)
    server.start()
    try:
        server.wait_ready(timeout=900)
        base = server.url
        for message in MESSAGES:  # warm: every message's vector cached alike in both conditions
            post(f"{base}/v1/reply", {"message": message})
        alone, with_feedback = [], []
        rounds = 6
        for _ in range(rounds):
            alone += timed_replies(base, args.replies // rounds, feedback=False)
            with_feedback += timed_replies(base, args.replies // rounds, feedback=True)
        p50_alone, p50_with = statistics.median(alone), statistics.median(with_feedback)
        print(f"/v1/reply p50 alone {p50_alone * 1000:.2f} ms, while feedback is recorded "
              f"{p50_with * 1000:.2f} ms: {p50_with / p50_alone:.3f}x (target <= 1.10)", flush=True)

        acknowledged = 0
        sent = 0
        lock = threading.Lock()
        stop = threading.Event()

        def send(worker: int) -> None:
            nonlocal acknowledged, sent
            i = 0
            while not stop.is_set():
                try:
                    status, _ = post(f"{base}/v1/feedback", {"events": [{
                        "action": "copied", "message": MESSAGES[i % len(MESSAGES)], "template_id": "measure.kill",
                        "suggestion_id": f"kill-{worker}-{i}"}]}, timeout=5)
                except OSError:
                    status = 0  # the server is down: not acknowledged
                    time.sleep(0.05)
                with lock:
                    sent += 1
                    acknowledged += status == 201
                i += 1

        senders = [threading.Thread(target=send, args=(worker,)) for worker in range(4)]
        for thread in senders:
            thread.start()
        time.sleep(3)
        os.killpg(server.pid, signal.SIGKILL)  # while four clients are posting
        assert server.process is not None
        server.process.wait(timeout=30)
        with lock:
            at_kill = acknowledged
        server = ServerProcess("127.0.0.1", port)
        server.start()
        server.wait_ready(timeout=900)
        print(f"killed with SIGKILL after {at_kill} events acknowledged, restarted", flush=True)
        time.sleep(3)
        stop.set()
        for thread in senders:
            thread.join()
        print(f"events posted {sent} (some while the server was down)", flush=True)
    finally:
        server.stop()
    store = FeedbackStore(database)
    stored = sum(1 for event in store.read("default") if event.template_id == "measure.kill")
    store.close()
    print(f"feedback events acknowledged {acknowledged}, stored {stored}, lost {max(0, acknowledged - stored)}")
    return 0 if stored >= acknowledged and p50_with / p50_alone <= 1.10 else 1


def timed_replies(base: str, count: int, *, feedback: bool) -> list[float]:
    """Reply latencies of one client; with `feedback`, a second client records an event for each answer."""
    seen: list[dict] = []
    done = threading.Event()

    def record() -> None:
        sent = 0
        while not done.is_set() or sent < len(seen):
            if sent < len(seen):
                answer = seen[sent]
                top = answer["replies"][0]
                post(f"{base}/v1/feedback", {"events": [{
                    "action": "copied", "message": answer["message"], "template_id": top["template_id"],
                    "suggestion_id": answer["suggestion_id"], "scenario": top["scenario"], "rank": 1}]})
                sent += 1
            else:
                time.sleep(0.001)

    recorder = threading.Thread(target=record) if feedback else None
    if recorder:
        recorder.start()
    times = []
    for i in range(count):
        started = time.perf_counter()
        status, answer = post(f"{base}/v1/reply", {"message": MESSAGES[i % len(MESSAGES)]})
        times.append(time.perf_counter() - started)
        if status == 200 and feedback:
            seen.append(answer)
    done.set()
    if recorder:
        recorder.join()
    return times


if __name__ == "__main__":
    sys.exit(main())
