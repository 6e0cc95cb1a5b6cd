"""Word lists matched against text folded to Simplified Chinese and half-width ASCII, offsets kept.

The inspection's rules and the etiquette's apology cues are Lexicons: written once, in Simplified
Chinese, they still match 請/您 typed in Traditional and ！！ typed full-width.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from app.text import normalize_text

# Whitespace and invisible characters: normalize_text drops or merges them, so they are not folded.
_UNFOLDED = re.compile(r"[\s\u200b-\u200d\u2060\ufeff\u00ad\ud800-\udfff]")


def matchable(text: str) -> str:
    """The text in Simplified Chinese and half-width ASCII, one character for one character.

    Word lists are written once, in Simplified Chinese, and still match 請/您 typed in Traditional and
    ！！ typed full-width; because lengths never change, an offset here is an offset in the original.
    """
    out, at = [], 0
    for separator in _UNFOLDED.finditer(text):
        out.append(_fold_run(text[at : separator.start()]))
        out.append(separator.group())
        at = separator.end()
    out.append(_fold_run(text[at:]))
    return "".join(out)


def _fold_run(run: str) -> str:
    if not run:
        return run
    folded = normalize_text(run)
    if len(folded) == len(run):
        return folded
    # A phrase conversion changed the length: fold character by character instead.
    return "".join(char if len(one := normalize_text(char)) != 1 else one for char in run)


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    text: str  # as matched in the folded text


@dataclass(frozen=True)
class Lexicon:
    """Words and patterns to find, minus hits lying inside a compound that means something else."""

    finders: tuple[re.Pattern[str], ...]
    exceptions: tuple[re.Pattern[str], ...]

    @classmethod
    def build(cls, terms: Iterable[str] = (), patterns: Iterable[str] = (), exceptions: Iterable[str] = (),
              exception_patterns: Iterable[str] = ()) -> Lexicon:
        words = _longest_first(terms)
        compounds = _longest_first(exceptions)
        finders = [re.compile("|".join(map(re.escape, words)), re.IGNORECASE)] if words else []
        # Patterns are compiled one by one: joined, their backreferences (爱(.)不\1) would renumber.
        finders += [re.compile(pattern, re.IGNORECASE) for pattern in patterns]
        # Lookaheads find overlapping compounds too (母亲 and 亲自 in 母亲自己).
        excepts = [re.compile("(?=(" + "|".join(map(re.escape, compounds)) + "))", re.IGNORECASE)] if compounds else []
        excepts += [re.compile(f"(?=({pattern}))", re.IGNORECASE) for pattern in exception_patterns]
        return cls(tuple(finders), tuple(excepts))

    def find(self, text: str) -> tuple[Hit, ...]:
        if not self.finders or not text:
            return ()
        covered = [
            (match.start(), match.start() + len(match.group(1)))
            for pattern in self.exceptions
            for match in pattern.finditer(text)
        ]
        found = sorted(
            (match.start(), -match.end(), match.group())
            for pattern in self.finders
            for match in pattern.finditer(text)
            if match.end() > match.start()
        )
        hits: list[Hit] = []
        reached = 0
        for start, negative_end, word in found:
            end = -negative_end
            if start < reached:
                continue  # overlaps a longer or earlier hit already kept
            if any(low <= start and end <= high for low, high in covered):
                continue
            hits.append(Hit(start, end, word))
            reached = end
        return tuple(hits)


def overlap(one: Hit, other: Hit) -> bool:
    return one.start < other.end and other.start < one.end


def _longest_first(words: Iterable[str]) -> list[str]:
    # Words are folded like the text they are matched against, so a list may be typed either way.
    folded = {normalize_text(word) for word in words}
    return sorted((word for word in folded if word), key=lambda word: (-len(word), word))


class LexiconSpec(BaseModel):
    """A word list as the YAML rule files write it: terms, patterns and the compounds to except."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    terms: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    except_: list[str] = Field(default_factory=list, alias="except")
    except_patterns: list[str] = Field(default_factory=list)

    def lexicon(self) -> Lexicon:
        return Lexicon.build(self.terms, self.patterns, self.except_, self.except_patterns)
