"""BM25 over caller-supplied tokens (bm25s), saved without pickle."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class BM25Index:
    def __init__(self, retriever: Any, size: int) -> None:  # a bm25s.BM25, imported lazily
        self._retriever = retriever
        self.size = size

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]]) -> BM25Index:
        import bm25s
        retriever = bm25s.BM25()
        # An empty document would otherwise have no token at all; bm25s pads it with an empty token.
        retriever.index([list(doc) for doc in documents], show_progress=False)
        return cls(retriever, len(documents))

    def save(self, folder: Path) -> None:
        self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> BM25Index:
        import bm25s
        retriever = bm25s.BM25.load(str(folder), load_corpus=False, show_progress=False)
        return cls(retriever, size)

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for `terms`; zeros when no term is in the vocabulary."""
        ids = self._retriever.get_tokens_ids(list(terms))
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores_from_ids(ids), dtype=np.float32)

    def vocabulary(self) -> frozenset[str]:
        return frozenset(self._retriever.vocab_dict)
