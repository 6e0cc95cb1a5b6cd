"""Dev chore: the int8 ONNX encoder against the sentence-transformers reference, in one run.

Prints, over the dev set and scenario bank messages ("query: " + message): the cosine of each
int8 vector to the reference (min, 1st percentile, mean), and for both backends the single-message
encode time (p50/p95 over 200 messages, one at a time) and batch-32 throughput. Needs the model
prepared by `kefu build`. Run: .venv/bin/python scripts/measure_onnx.py
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings  # noqa: E402
from app.models.embedding import load_embedder  # noqa: E402


def main() -> None:
    settings = Settings()
    texts = []
    for name in ("eval/dev.jsonl", "training/scenario_bank.jsonl"):
        lines = (settings.corpus_dir / name).read_text(encoding="utf-8").splitlines()
        texts += ["query: " + json.loads(line)["message"] for line in lines if line.strip()]
    encoders = {backend: load_embedder("", settings.default_model_dir, 32, backend=backend)
                for backend in ("onnx", "sentence-transformers")}
    vectors = {backend: encoder.encode(texts) for backend, encoder in encoders.items()}
    cosine = (vectors["onnx"] * vectors["sentence-transformers"]).sum(axis=1)
    print(f"{len(texts)} messages; cosine int8 vs reference: min {cosine.min():.4f}  "
          f"p1 {np.percentile(cosine, 1):.4f}  mean {cosine.mean():.5f}")
    for backend, encoder in encoders.items():
        single = []
        for text in texts[:200]:
            started = time.perf_counter()
            encoder.encode([text])
            single.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for at in range(0, len(texts), 32):
            encoder.encode(texts[at : at + 32])
        rate = len(texts) / (time.perf_counter() - started)
        print(f"{backend:<22} single p50 {np.percentile(single, 50):6.1f} ms  p95 {np.percentile(single, 95):6.1f} ms"
              f"  batch-32 {rate:6.1f} msg/s")


if __name__ == "__main__":
    main()
