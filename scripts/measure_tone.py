"""The tone model's threshold, measured on its own training file (never on an evaluation set).

    KEFU_INDEX_DIR=index .venv/bin/python scripts/measure_tone.py

Reads the tone collection (replies, labels, embeddings) from the built index and prints, for each
threshold, out-of-fold precision and recall of "rude" by 5-fold stratified cross-validation over
five shuffles; and, since the file has several authors (ids tone-*, tone2-*, tone3-*), the precision
and recall of a model fitted on the other authors' replies on each author's: how far the model
carries to another writer.
"""

from __future__ import annotations

import json

import numpy as np
from sklearn.model_selection import StratifiedKFold

from app.build import TONE
from app.config import Settings
from app.models.tone import ToneModel
from app.retrieval.store import load_collections

THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)


def figures(labels: np.ndarray, scores: np.ndarray) -> str:
    cells = []
    for threshold in THRESHOLDS:
        flagged = scores >= threshold
        caught = int((flagged & labels).sum())
        precision = caught / max(int(flagged.sum()), 1)
        recall = caught / max(int(labels.sum()), 1)
        cells.append(f"{threshold:.2f}: P {precision:.3f} R {recall:.3f}")
    return "\n  ".join(cells)


def main() -> None:
    settings = Settings()
    tone = load_collections(settings.store_dir.resolve(), [TONE])[TONE]
    texts = [row["text"] for row in tone.rows]
    labels = np.array([bool(row["rude"]) for row in tone.rows])
    ids = [json.loads(line)["id"] for line in (settings.corpus_dir / "training" / "reply_tone.jsonl")
           .read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(ids) == len(texts), "the index was built from another tone file: rebuild it"
    scores = np.zeros((5, len(texts)))
    for shuffle in range(5):
        for train, test in StratifiedKFold(5, shuffle=True, random_state=shuffle).split(texts, labels):
            model = ToneModel.fit([texts[i] for i in train], labels[train], tone.vectors[train])
            scores[shuffle, test] = model.rudeness([texts[i] for i in test], tone.vectors[test])
    print(f"{len(texts)} replies, {int(labels.sum())} rude; out of fold (mean of 5 shuffles):")
    print("  " + figures(labels, scores.mean(axis=0)))
    authors = np.array([name.split("-", 1)[0] for name in ids])
    for author in sorted(set(authors.tolist())):
        test = authors == author
        train = ~test
        if train.any() and test.any():
            model = ToneModel.fit([t for t, k in zip(texts, train) if k], labels[train], tone.vectors[train])
            held = model.rudeness([t for t, k in zip(texts, test) if k], tone.vectors[test])
            print(f"the other authors -> {author}-* ({int(test.sum())} replies):\n  " + figures(labels[test], held))


if __name__ == "__main__":
    main()
