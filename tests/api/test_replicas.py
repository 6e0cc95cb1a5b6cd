"""Replicas behind one port (issue 14): two `kefu serve --reuse-port` processes share a port, the kernel
spreads connections over both, and when one stops the other goes on answering.

Real processes on the real index; every request opens a new connection, as clients behind a load
balancer do.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.model


def start_replica(settings, port: int, log) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", KEFU_INDEX_DIR=str(settings.index_dir),
               KEFU_MODEL_DIR=str(settings.default_model_dir), KEFU_CORPUS_DIR=str(settings.corpus_dir))
    return subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--reuse-port"],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)


def ask(url: str, path: str, **kwargs) -> httpx.Response:
    # A fresh connection per request: the kernel picks a replica per connection.
    with httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        return client.request("POST" if "json" in kwargs else "GET", path, **kwargs)


def wait_for_instances(url: str, wanted: int, deadline: float) -> set[str]:
    seen: set[str] = set()
    while time.monotonic() < deadline and len(seen) < wanted:
        try:
            answer = ask(url, "/readyz")
            if answer.status_code == 200:
                seen.add(answer.json()["instance"])
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return seen


def test_two_replicas_share_one_port_and_survive_each_other(real_settings, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    logs = [tmp_path / "replica-0.log", tmp_path / "replica-1.log"]
    with open(logs[0], "wb") as first, open(logs[1], "wb") as second:
        replicas = [start_replica(real_settings, port, first), start_replica(real_settings, port, second)]
    try:
        instances = wait_for_instances(url, 2, time.monotonic() + 120)
        assert len(instances) == 2, [log.read_text(encoding="utf-8")[-2000:] for log in logs]
        assert {int(instance.rsplit(":", 1)[1]) for instance in instances} == {replica.pid for replica in replicas}

        answered: dict[str, int] = {}
        for i in range(60):
            reply = ask(url, "/v1/reply", json={"message": f"这件衣服{160 + i % 20}能穿吗"})
            assert reply.status_code == 200, reply.text
            ready = ask(url, "/readyz")
            answered[ready.json()["instance"]] = answered.get(ready.json()["instance"], 0) + 1
        assert len(answered) == 2, answered  # both replicas took connections

        replicas[0].send_signal(signal.SIGTERM)
        replicas[0].wait(30)
        survivor = f"{socket.gethostname()}:{replicas[1].pid}"
        for _ in range(30):
            reply = ask(url, "/v1/reply", json={"message": "什么时候发货"})
            assert reply.status_code == 200, reply.text
            assert ask(url, "/readyz").json()["instance"] == survivor
    finally:
        for replica in replicas:
            if replica.poll() is None:
                replica.send_signal(signal.SIGTERM)
                try:
                    replica.wait(30)
                except subprocess.TimeoutExpired:
                    replica.kill()
