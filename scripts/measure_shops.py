"""Issue 13's many-shops target: 20 shops of 500 templates each served by one process within 1 GB RSS.

    .venv/bin/python scripts/measure_shops.py [--shops 20] [--templates 500] [--keep DIR]

Needs the bundled index (`kefu build`). Writes --shops shop folders (each a library of --templates
templates: the bundled library's templates, then numbered variants of them, every one with all its
example questions; a shop profile and copies of the bundled handbooks of its own), builds each with `build_shop` (one encoder for all,
remembering vectors: the shops' libraries are alike, so only the first one's texts are encoded),
starts `kefu serve` with KEFU_SHOPS_DIR pointing there, asks every shop a few messages, and prints the
server's RSS (its process tree) beside the same server with the bundled shop alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shops", type=int, default=20)
    parser.add_argument("--templates", type=int, default=500)
    parser.add_argument("--keep", type=Path, default=None, help="write the shops here (default: a temporary folder)")
    args = parser.parse_args()

    import yaml

    from app.config import Settings
    from app.library.live import built_entries
    from app.models.embedding import load_embedder
    from app.shops import build_shop

    root = args.keep or Path(tempfile.mkdtemp(prefix="kefu-shops-"))
    settings = Settings().model_copy(update={"shops_dir": root})
    built = list(built_entries(settings.corpus_dir).values())
    started = time.perf_counter()
    embedder = RememberingEmbedder(load_embedder(settings.embedding_model, settings.default_model_dir,
                                                 settings.embedding_batch_size, backend=settings.embedding_backend))
    for n in range(args.shops):
        folder = root / f"shop-{n:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        library = []
        for i in range(args.templates):
            entry = dict(built[i % len(built)])
            if i >= len(built):
                entry |= {"id": f"{entry['id']}.v{i}", "reply": f"{entry['reply']}（第{i}条）",
                          "examples": [f"{example}（{i}）" for example in entry["examples"]]}
            library.append(entry)
        write_if_changed(folder / "templates.yaml", yaml.safe_dump(library, allow_unicode=True))
        write_if_changed(folder / "shop.yaml", f"shop:\n  name: 测试{n}号店\n")
        # Each shop has handbooks of its own (copies of the bundled ones), so its passages are its own too.
        shutil.copytree(settings.corpus_dir / "handbooks", folder / "handbooks", dirs_exist_ok=True)
        profiles = settings.corpus_dir / "handbook_profiles.yaml"
        if profiles.is_file():
            shutil.copy(profiles, folder / "handbook_profiles.yaml")
        if built_already(folder):
            print(f"{folder.name}: its index in {folder} is current (--keep), not rebuilt", flush=True)
            continue
        report = build_shop(settings, folder.name, embedder=embedder)
        print(f"built {folder.name}: {report.counts} in {report.seconds:.1f} s", flush=True)
    print(f"{args.shops} shops built in {time.perf_counter() - started:.0f} s", flush=True)

    alone = serve_and_measure(None, [settings.shop])
    together = serve_and_measure(root, [settings.shop] + [f"shop-{n:02d}" for n in range(args.shops)])
    print(f"bundled shop alone: RSS {alone / 2**20:.0f} MiB")
    print(f"bundled + {args.shops} shops of {args.templates} templates: RSS {together / 2**20:.0f} MiB "
          f"(target ≤ 1024 MiB)")
    return 0 if together <= 2**30 else 1


class RememberingEmbedder:
    """The encoder, remembering each text's vector. The shops' libraries are alike (the same 500 templates; each
    shop has its own name and index), so only the first shop's build encodes: building 20 shops on the shared
    2-core machine took 260-440 s a shop. Each served shop still holds its own rows and vectors in memory."""

    def __init__(self, embedder) -> None:
        self.embedder, self.model_id, self.dimension = embedder, embedder.model_id, embedder.dimension
        self.vectors: dict[str, object] = {}

    def encode(self, texts):
        import numpy as np

        missing = list(dict.fromkeys(text for text in texts if text not in self.vectors))
        if missing:
            self.vectors.update(zip(missing, self.embedder.encode(missing)))
        return np.stack([self.vectors[text] for text in texts]) if texts else self.embedder.encode([])


def write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def built_already(folder: Path) -> bool:
    """Whether a kept shop's index was built from the library now in its folder (a run can go on where
    an interrupted one stopped)."""
    from app.errors import KefuError
    from app.retrieval.store import read_manifest
    from app.shops import INDEX, shop_fingerprint

    try:
        return read_manifest((folder / INDEX / "store").resolve()).corpus_hash == shop_fingerprint(folder)
    except (KefuError, OSError):
        return False


def serve_and_measure(shops_dir: Path | None, shops: list[str]) -> int:
    from app.bench import ServerProcess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    if shops_dir is None:
        os.environ["KEFU_SHOPS_DIR"] = tempfile.mkdtemp(prefix="kefu-no-shops-")
    else:
        os.environ["KEFU_SHOPS_DIR"] = str(shops_dir)
    server = ServerProcess("127.0.0.1", port)
    server.start()
    try:
        ready = server.wait_ready(timeout=900)
        with urllib.request.urlopen(f"{server.url}/readyz", timeout=10) as response:
            served = json.loads(response.read())["shops"]
        if sorted(served) != sorted(shops):
            raise SystemExit(f"the server serves {sorted(served)}, expected {sorted(shops)}")
        for shop in shops:
            for message in ("能便宜点吗", "什么时候发货", "170穿什么码"):
                request = urllib.request.Request(f"{server.url}/v1/reply?shop={shop}", method="POST",
                                                 data=json.dumps({"message": message}).encode(),
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert response.status == 200
        rss = server.memory()
        print(f"{len(shops)} shop(s): ready in {ready:.1f} s, RSS {rss / 2**20:.0f} MiB after answering each", flush=True)
        return rss
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
