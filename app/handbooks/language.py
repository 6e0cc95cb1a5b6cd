"""What plausible Chinese looks like, from jieba's dictionary: character costs and word breaks.

Handbook repair (mojibake) and heading labels ask it; it is our own jieba.Tokenizer instance, never
jieba's global one, and it changes no logging (the entry points quiet jieba's logger).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jieba


@dataclass(frozen=True)
class ChineseStatistics:
    segmenter: jieba.Tokenizer  # our own instance: jieba's global one is shared state
    costs: dict[str, float]  # -log p of Simplified characters


@functools.cache
def chinese_statistics() -> ChineseStatistics:
    """Loaded once, on first use, and never changed after: a read-only resource, not shared state."""
    import tempfile

    import jieba

    segmenter = jieba.Tokenizer()
    segmenter.tmp_dir = tempfile.gettempdir()
    segmenter.initialize()
    counts: dict[str, int] = {}
    for word, freq in segmenter.FREQ.items():
        if freq:
            for char in word:
                counts[char] = counts.get(char, 0) + freq
    total = sum(counts.values())
    return ChineseStatistics(segmenter, {char: -math.log(n / total) for char, n in counts.items()})


def word_breaks(text: str) -> set[int]:
    """Offsets in `text` where one dictionary word ends and the next begins."""
    breaks, at = set(), 0
    for token in chinese_statistics().segmenter.cut(text, HMM=False):
        at += len(token)
        breaks.add(at)
    return breaks
