"""Shared fixtures: a deterministic fake embedder, and indexes built once per session (fake and real)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path

import numpy as np
import pytest

from app.config import Settings

os.environ["HF_HUB_OFFLINE"] = "1"
POSTGRES = os.environ.get("KEFU_TEST_POSTGRES_URL")  # .ci/run starts Debian's PostgreSQL and sets it

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"


class FakeEmbedder:
    """Implements the Embedder protocol with hashed character n-grams: fast, deterministic, no weights."""

    model_id = "fake-hashed-ngrams"
    dimension = 384

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def encode(self, texts):
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            text = text.split(": ", 1)[-1]  # ignore e5 prefixes, like a symmetric model would
            grams = list(text) + [text[i : i + 2] for i in range(len(text) - 1)]
            for gram in grams:
                out[row, zlib.crc32(gram.encode()) % self.dimension] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
        return out


@pytest.fixture(scope="session")
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def fake_index(tmp_path_factory, fake_embedder) -> Settings:
    """The real corpus indexed with the fake embedder (seconds, no model)."""
    from app.build import build_index

    settings = Settings(corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("fake-index"))
    build_index(settings, embedder=fake_embedder)
    return settings


@pytest.fixture(scope="session")
def fake_service(fake_index, fake_embedder):
    """One service over the fake index for the session (loading reads the models the build fitted).

    The shipped reranker was calibrated on the real encoder's scores; over the fake encoder's
    meaningless vectors it would abstain on every message, so this service never abstains (tests of
    abstention use the real service or set the threshold themselves).
    """
    from dataclasses import replace

    from app.models.reranker import Reranker
    from app.service import KefuService

    return KefuService.load(fake_index, embedder=fake_embedder, reranker=replace(Reranker.load(CORPUS), abstain_below=0.0))


@pytest.fixture(scope="session")
def real_model_dir() -> Path:
    """The converted default model, cached in the project's index/ like a user's `kefu build` does."""
    from app.models.embedding import prepare_default_model

    folder = Settings().default_model_dir
    prepare_default_model(folder)
    return folder


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory, real_model_dir) -> Settings:
    """The real corpus indexed with the real model, into a temporary folder."""
    from app.build import build_index

    settings = Settings(corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("real-index"), model_dir=real_model_dir)
    build_index(settings)
    return settings


@pytest.fixture(scope="session")
def real_service(real_settings):
    from app.service import KefuService

    return KefuService.load(real_settings)


MINI_TEMPLATES = """\
- id: price.bargain.no_discount
  scenario: price
  topic: price.bargain
  reply: 亲，我们的价格已经很实在了，现在下单还可以用{coupon}。
  examples: [能便宜点吗, 少点呗老板, 还能优惠不, 打个折吧, 便宜10块我就买]
  platforms: [taobao, tmall, jd]
  source: team
- id: logistics.ship_time.normal
  scenario: logistics
  topic: logistics.ship_time
  reply: 您好，付款后48小时内发货，发货后可以在订单里查看{tracking_no}。
  examples: [什么时候发货, 今天能发吗, 几天发货啊, 咋还不发货, 明天能到吗]
  platforms: [taobao, tmall, jd]
  source:
    doc: 002_d5e9aecbfc807c3b.txt
    heading: 4.3 发货
"""

MINI_BANK = "\n".join([
    '{"id": "b1", "message": "能便宜点吗", "scenario": "price", "also": []}',
    '{"id": "b2", "message": "什么时候发货", "scenario": "logistics", "also": []}',
    '{"id": "b3", "message": "170穿什么码", "scenario": "size", "also": []}',
]) + "\n"


@pytest.fixture
def mini_corpus(tmp_path) -> Path:
    """A small corpus (real handbooks, two templates, three labelled messages) that tests may change."""
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / "handbooks", corpus / "handbooks")
    for name in ("userdict.txt", "stopwords.txt", "etiquette.yaml", "inspection_rules.yaml", "understanding.yaml",
                 "reranker.json"):
        shutil.copy(CORPUS / name, corpus / name)
    (corpus / "templates.yaml").write_text(MINI_TEMPLATES, encoding="utf-8")
    (corpus / "training").mkdir()
    (corpus / "training" / "scenario_bank.jsonl").write_text(MINI_BANK, encoding="utf-8")
    shutil.copy(CORPUS / "training" / "reply_tone.jsonl", corpus / "training" / "reply_tone.jsonl")
    return corpus


@pytest.fixture(scope="session")
def live_url(fake_index, fake_service):
    """A real uvicorn serving the app on a free port of 127.0.0.1, in a background thread."""
    import uvicorn

    from app.api import create_app

    app = create_app(fake_index, service_factory=lambda settings: fake_service)
    # Bind first and hand uvicorn the socket, so no other process can take the port in between.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_ready(url, thread)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def wait_ready(url: str, thread: threading.Thread, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the server thread stopped before /readyz answered 200")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            with exc:
                error = json.loads(exc.read() or b"{}").get("error", {})
            if error.get("code") != "not_ready":  # loading failed: waiting longer cannot help
                raise RuntimeError(f"/readyz answered {exc.code}: {error}") from None
            last = error.get("message", f"HTTP {exc.code}")
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise RuntimeError(f"{url}/readyz did not answer 200 within {timeout:.0f}s (last: {last})")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh shop database: SQLite in the test's folder, and the real PostgreSQL when .ci/run runs one."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
        return
    if not POSTGRES:
        pytest.skip("KEFU_TEST_POSTGRES_URL is not set (.ci/run starts PostgreSQL and sets it)")
    # A schema of its own per test, so tests neither see nor break each other's tables.
    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {name}"))
    separator = "&" if "?" in POSTGRES else "?"
    yield f"{POSTGRES}{separator}options=-csearch_path%3D{name}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {name} CASCADE"))
    admin.dispose()
