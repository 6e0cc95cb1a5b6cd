"""Did the reply answer the kind of question the buyer asked? (the relevance rule's fourth signal)

A near miss talks about the right product and even the right matter, yet leaves the question open:
"这个锅有多重" answered with its diameter, "什么时候发货" with the courier's name, "是油性还是水性"
with the number of colours, "能机洗吗" with the fabric. The embedding-based relevance model cannot
see this (the pair is on topic); the question's form can. Each kind of question has words that ask
it and words an answer of that kind needs (a time, a weight, who pays, one of the two options, a
yes or no or the thing asked about); a reply with none of them has not answered. Patterns live in
corpus/inspection_rules.yaml (relevance: questions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class _KindModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    label: str  # how the finding names what was asked (时间, 重量 …)
    asked: str  # a pattern on the buyer's message
    answered: str  # a pattern any answer of this kind matches in the reply


class _RelatedModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    about: str
    answered: str


class QuestionsModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kinds: list[_KindModel] = Field(min_length=1)
    choice: str  # "A还是B": groups 1 and 2 are the options
    choice_answered: str  # a reply that takes both ("都可以")
    whether: str  # "能机洗吗": the first group that matched is what is asked about
    whether_skip: str  # what group 1 may start with that makes it a request, not a question (帮我…)
    stance: str  # a yes or a no in the reply
    filler: str = ""  # characters that carry no content in what is asked about
    # "能再便宜吗" is answered by "减10块": what a yes/no question is about (`about`, a pattern on it)
    # and the words that answer it without naming it again (`answered`, a pattern on the reply).
    related: list[_RelatedModel] = Field(default_factory=list)


_SLOT = re.compile(r"\{[^{}]+\}|【[^【】]+】")


@dataclass(frozen=True)
class _Kind:
    name: str
    label: str
    asked: re.Pattern[str]
    answered: re.Pattern[str]


@dataclass(frozen=True)
class Asked:
    """What a buyer's message asks, by form: read once, checked against any number of replies."""

    kinds: tuple[_Kind, ...] = ()
    options: tuple[str, str] | None = None  # "A还是B"
    about: str | None = None  # "能机洗吗": what the yes/no question is about

    def __bool__(self) -> bool:
        return bool(self.kinds) or self.options is not None or self.about is not None


class QuestionCheck:
    def __init__(self, model: QuestionsModel) -> None:
        self._kinds = tuple(_Kind(k.name, k.label, re.compile(k.asked), re.compile(k.answered)) for k in model.kinds)
        self._choice = re.compile(model.choice)
        self._choice_answered = re.compile(model.choice_answered)
        self._whether = re.compile(model.whether)
        self._whether_skip = re.compile(model.whether_skip)
        self._stance = re.compile(model.stance)
        self._filler = frozenset(model.filler)
        self._related = tuple((re.compile(r.about), re.compile(r.answered)) for r in model.related)

    def asked(self, message: str) -> Asked:
        """The kinds of question a (matchable) buyer message asks."""
        kinds = tuple(kind for kind in self._kinds if kind.asked.search(message))
        choice = self._choice.search(message)
        if choice is not None:
            return Asked(kinds, (choice.group(1), choice.group(2)))
        whether = self._whether.search(message)
        # The pattern may have several alternatives, each with a group for what is asked about.
        about = next((group for group in whether.groups() if group), None) if whether is not None else None
        if about is not None and not self._whether_skip.match(about):
            return Asked(kinds, about=about)
        return Asked(kinds)

    def left_open(self, asked: Asked, reply: str) -> list[str]:
        """What of `asked` a (matchable) reply leaves open, as the finding says it."""
        if not asked:
            return []
        # A slot or a 【…】 stands for the value the question asks for (the placeholder rule judges it).
        slotted = bool(_SLOT.search(reply))
        left = [f"问的是{kind.label}，回复里没有" for kind in asked.kinds
                if not slotted and not kind.answered.search(reply)]
        if asked.options is not None:
            options = [option.rstrip("的") for option in asked.options]
            if not any(option[-2:] in reply for option in options if option) and not self._choice_answered.search(reply):
                left.append(f"问的是{asked.options[0]}还是{asked.options[1]}，回复没有说是哪个")
        elif asked.about is not None:
            core = [char for char in asked.about if char not in self._filler]
            pairs = ["".join(core[i : i + 2]) for i in range(len(core) - 1)] or core
            # The thing asked about, named again (two characters in a row, or half of its characters:
            # "要签收吗" is answered by "直接拒签"), or a yes or no.
            named = any(pair in reply for pair in pairs) or 2 * sum(char in reply for char in core) >= len(core) > 1
            # Or words that answer it in other terms ("再便宜" by "减10块", "降" by "最低价").
            named = named or any(about.search(asked.about) and answered.search(reply)
                                 for about, answered in self._related)
            if core and not named and not self._stance.search(reply):
                left.append(f"问的是能不能/是不是（{asked.about}），回复没有给出答复")
        return left


__all__ = ["Asked", "QuestionCheck", "QuestionsModel"]
