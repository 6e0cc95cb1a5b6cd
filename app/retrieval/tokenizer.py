"""Shop-aware Chinese segmentation: our own jieba.Tokenizer with the shop user dictionary."""

from __future__ import annotations

import hashlib
import marshal
import re
import tempfile
from pathlib import Path
from typing import Any

# Tokens made only of punctuation, symbols or spaces carry no retrieval signal.
_NOISE = re.compile(r"^[\W_]+$", re.UNICODE)


class ShopTokenizer:
    """Segments normalized text into lowercase search terms, never touching jieba's globals."""

    def __init__(self, userdict: Path, stopwords: Path) -> None:
        import jieba

        self._jieba = jieba.Tokenizer()
        self._jieba.tmp_dir = tempfile.gettempdir()
        _load_cached_dictionary(self._jieba)
        with userdict.open("rb") as handle:  # jieba leaves a path's file unclosed
            self._jieba.load_userdict(handle)
        self._stopwords = frozenset(
            line.strip() for line in stopwords.read_text(encoding="utf-8").splitlines() if line.strip()
        )
        self.fingerprint = _sha256_files(userdict, stopwords)

    def tokenize(self, text: str) -> list[str]:
        """Search terms of `text` (already normalized), in order, duplicates kept for BM25's tf."""
        terms = []
        for token in self._jieba.cut_for_search(text.lower(), HMM=True):
            token = token.strip()
            if token and token not in self._stopwords and not _NOISE.match(token):
                terms.append(token)
        return terms


def _load_cached_dictionary(tokenizer: Any) -> None:
    """Give a fresh jieba.Tokenizer its default prefix dictionary from jieba's own cache file, read whole.

    jieba reads the cache with marshal.load on the open file, which fetches it in small pieces: 0.7-0.9 s
    of every start-up for a 9 MB file that marshal.loads takes in 0.25 s. Same file, same dictionary; when
    it is missing or unreadable nothing is set and jieba builds it (and writes the cache) as before.
    """
    if tokenizer.initialized or tokenizer.dictionary is not None or tokenizer.cache_file:
        return  # not jieba's default dictionary, or already loaded
    try:
        freq, total = marshal.loads((Path(tokenizer.tmp_dir or tempfile.gettempdir()) / "jieba.cache").read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return
    tokenizer.FREQ, tokenizer.total = freq, total
    tokenizer.initialized = True


def _sha256_files(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()
