"""Dev chore: which e5 prefix suits template example questions? Dense Q->Q retrieval on the dev set.

Embeds every template example with "query: " and with "passage: ", and every dev message with
"query: ", then reports how often the nearest example's template is in the message's scenario
(a prediction in `also` counts). Run: .venv/bin/python scripts/measure_prefixes.py
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings  # noqa: E402
from app.corpus import load_templates  # noqa: E402
from app.models.embedding import load_embedder  # noqa: E402
from app.text import normalize_text  # noqa: E402


def main() -> None:
    settings = Settings()
    embedder = load_embedder(settings.embedding_model, settings.default_model_dir, settings.embedding_batch_size)
    templates = load_templates(settings.corpus_dir)
    examples = [(t.scenario, normalize_text(e)) for t in templates for e in t.examples]
    dev = [json.loads(line) for line in (settings.corpus_dir / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines()]
    queries = embedder.encode(["query: " + normalize_text(row["message"]) for row in dev])
    for prefix in ("query: ", "passage: "):
        vectors = embedder.encode([prefix + text for _, text in examples])
        nearest = np.argmax(queries @ vectors.T, axis=1)
        hits = [examples[i][0] == row["scenario"] or examples[i][0] in row["also"] for i, row in zip(nearest, dev)]
        print(f"examples with {prefix!r:12} nearest-example scenario accuracy {np.mean(hits):.3f} (n={len(dev)})")


if __name__ == "__main__":
    main()
