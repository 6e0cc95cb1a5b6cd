"""ReplyInspector: quality inspection (质检) of an agent's reply to a buyer message -> findings and a score.

The rules are data (corpus/inspection_rules.yaml, plus the etiquette the reply generator applies,
corpus/etiquette.yaml). The inspector is pure: no model and no I/O after loading. The caller may
pass what needs a model: the classifier's scenario for the message, the probability that the reply
answers it (app/models/relevance.py).

Conventions (docs in the YAML say why each word list looks the way it does):
- ok: "fine to send as it is": no finding of medium or high severity (results.BLOCKING). Low
  findings (polite, greeting, closing) are suggestions that lower the score.
- position: where the reply stands in its conversation (first / middle / last). A greeting is owed by
  the first agent reply only, a closing by the reply that ends the conversation only.
- score: 100 minus the penalty of every rule broken, each rule counted once, never below 0.
- A too-short reply gets too_short (unless it is a whole yes/no or when answer, the buyer asked
  nothing, it asks back about the buyer's words: 怎么坏了 to 东西坏了, it says something beyond
  fillers: 中通 to 发的什么快递, or it answers a mid-conversation 在吗), the content rules (rude,
  jd_qin, placeholder, absolute, ad_law, shouting), polite, no_apology, and greeting or closing
  where its position owes them; relevance is not checked on it.
- rude has two halves: words rude anywhere, and curt cues (没办法, 你自己去问吧) that are rude only
  in a cold register, a reply with no 您, 请, 亲 or apology to soften them. A third, semantic signal
  is the caller's: the ToneModel's rudeness probability (app/models/tone.py), which adds a rude finding
  (span None) at or above rude.tone_threshold when the word lists found nothing and the reply is
  not too short to judge by its tone.
- no_apology: an apology is owed (unless the caller's flag says otherwise) as the etiquette says
  (app/etiquette.py): when a complaint or logistics message states a problem in words the lists
  know ("都五天了还没到" is logistics), and on any other complaint-scenario message that is not an
  inquiry: "吹风机冒烟了" is owed one, "怎么退货" and "能退吗" are not.
- relevance has three signals: the caller's probability that the reply answers the message
  (app/models/relevance.py), a reply talking about another scenario's matters, and a sales pitch where
  the buyer asked about something else.
- spans are character offsets into the reply as given; absence findings have span None.
"""

from __future__ import annotations

import re
from pathlib import Path

from app.errors import InputError
from app.etiquette import Etiquette
from app.inspection.results import BLOCKING, RULES, SEVERITIES, Finding, Inspection, RuleName
from app.inspection.rules import InspectionRules, RuleSpec
from app.lexicon import Hit, matchable, overlap
from app.vocabulary import POSITIONS, SCENARIOS

# For each scenario whose replies have a vocabulary of their own, the scenarios a reply to it
# clearly talks about instead when it has none of its own cues. A reply to a complaint often speaks
# of couriers and sizes (补发, 换一码), so only a sales pitch marks it as off the point.
OFF_TOPIC: dict[str, tuple[str, ...]] = {
    "size": ("price", "logistics"),
    "price": ("size", "logistics"),
    "logistics": ("size", "price"),
    "complaint": ("price",),
}
# Order that breaks ties when guessing a message's scenario: a return because of fit is size
# (docs/data-formats.md); otherwise an apology nobody needed costs less than a missing one.
GUESS_ORDER: tuple[str, ...] = ("size", "complaint", "price", "logistics")
_COUNTED = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]", re.IGNORECASE)
_BRACKET = re.compile(r"【([^【】\n]{0,20})】")
# A slot in ASCII brackets ([色号], [链接]); 千牛's emoticons are written the same way ([微笑], [可爱]), so only
# a bracket that names a value (BracketNouns: 号, 名, 接 …) counts.
_SQUARE = re.compile(r"\[([^\[\]\n]{1,12})\]")
_THANKS = re.compile(r"感谢|谢谢|多谢")
_QUESTION_MARK = re.compile(r"[?？]")
# Where a buyer's message breaks into clauses: punctuation and spaces.
_CLAUSE_BREAK = re.compile(r"[\s,，。.!！?？;；~～、…]+")


def _without(text: str, hits: tuple[Hit, ...]) -> str:
    """The text with every hit blanked out (a space keeps what is left on either side apart)."""
    chars = list(text)
    for hit in hits:
        chars[hit.start : hit.end] = [" "] * (hit.end - hit.start)
    return "".join(chars)


class ReplyInspector:
    def __init__(self, rules: InspectionRules) -> None:
        self.rules = rules
        # OpenCC reads its dictionaries on first use; do it here so inspect() never touches the disk.
        matchable("測試")

    @classmethod
    def load(cls, corpus_dir: Path, etiquette: Etiquette | None = None) -> ReplyInspector:
        """The inspector over the corpus's rules; pass the Etiquette when the caller has it loaded."""
        return cls(InspectionRules.load(corpus_dir, etiquette or Etiquette.load(corpus_dir)))

    def inspect(
        self,
        message: str,
        reply: str,
        *,
        platform: str = "taobao",
        position: str = "middle",
        scenario: str | None = None,
        complaint: bool | None = None,
        relevance: float | None = None,
        rudeness: float | None = None,
    ) -> Inspection:
        """Inspect one reply.

        scenario: the message's scenario as the classifier predicted it; None guesses it from the
        message's words (scenario_cues). complaint: overrides "scenario is complaint and the
        message states a problem" for the apology rule. relevance: the caller's probability that the
        reply answers the message (app/models/relevance.py); None skips that half of the relevance rule. rudeness: the ToneModel's
        probability that the reply is rude (app/models/tone.py); None skips the semantic half of rude.
        """
        rules = self.rules
        self._check(message, reply, platform, scenario, relevance, rudeness)
        if position not in POSITIONS:
            raise InputError(f"unknown position {position!r}; valid positions: {', '.join(POSITIONS)}")
        text = matchable(reply)
        findings: list[Finding] = []

        short = len(_COUNTED.findall(text)) < rules.min_chars
        promises = self._find("absolute", text)
        rude = self._found("rude", reply, self._rude(text))
        # The tone model learnt from whole replies; on "稍等" or "嗯嗯" its score means nothing, and on a
        # reply that over-promises (永远不会过期的, 随便退！) it reads the promise's bluster, which the
        # absolute finding already names.
        if (not rude and not short and not promises and rudeness is not None
                and rudeness >= rules.tone_threshold):
            spec = rules.specs["rude"]
            rude.append(Finding("rude", spec.severity, f"语气生硬/不耐烦（语义模型 {rudeness:.2f}）", None, spec.fix))
        findings += rude
        if not rules.etiquette.platforms[platform].allows_qin:
            findings += self._found("jd_qin", reply, self._find("jd_qin", text))
        findings += self._found("placeholder", reply, self._placeholders(text))
        findings += self._found("absolute", reply, promises)
        findings += self._found("ad_law", reply, self._find("ad_law", text))
        findings += self._found("shouting", reply, self._find("shouting", text))

        if not self._find("polite", text):
            findings.append(self._missing("polite"))
        if short and not self._short_is_enough(message, text, position):
            findings.append(self._missing("too_short"))
        # Owed by the buyer's message and where the reply stands, however short the reply is.
        if position == "first" and not self._greets(text):
            findings.append(self._missing("greeting"))
        if position == "last" and not self._closes(text):
            findings.append(self._missing("closing"))
        topic = scenario if scenario is not None else self.guess_scenario(message)
        owed = complaint if complaint is not None else rules.etiquette.owes_apology(message, topic)
        if owed and not rules.etiquette.apology.find(text):
            findings.append(self._missing("no_apology"))
        # A brush-off (你自己联系快递, 详情页写得清清楚楚) answers nothing by being one: the leads name it rude
        # alone, and relevance beside it only counted the same defect twice.
        if not short and not rude:
            off_topic = self._relevance(message, reply, text, topic, relevance)
            if off_topic is not None:
                findings.append(off_topic)

        findings.sort(key=lambda f: (SEVERITIES.index(f.severity), RULES.index(f.rule), f.span or (-1, -1)))
        broken = {finding.rule for finding in findings}
        score = max(0, 100 - sum(rules.specs[rule].penalty for rule in broken))
        return Inspection(ok=not any(f.severity in BLOCKING for f in findings), score=score, findings=tuple(findings))

    def _short_is_enough(self, message: str, text: str, position: str) -> bool:
        """A short reply is an answer when it is a whole yes/no or when answer, when the buyer asked
        nothing, when it asks back about what the buyer said, when it says something beyond fillers
        (中通, 48小时内: terse, but an answer), or when it answers a mid-conversation "在吗". To a
        message asking two things only asking back will do: a few characters leave one open."""
        asked = matchable(message or "")
        if self._asks_twice(asked):
            return self._asks_back(asked, text)
        # A message of marks alone ("？", "。。。") names nothing to answer: asking what the buyer means
        # (亲 怎么了) is the reply it needs.
        if not _COUNTED.search(asked) and self.rules.asks_back.find(text):
            return True
        return (bool(self.rules.short_answers.find(text)) or self._asks_nothing(message)
                or self._asks_back(asked, text) or self._says_something(asked, text)
                or (position != "first" and self._only_pings(asked)))

    def _asks_twice(self, asked: str) -> bool:
        """Two clauses of the buyer's message (matchable) ask something; one that only calls for the
        agent (在吗) does not count."""
        clauses = (clause for clause in _CLAUSE_BREAK.split(asked) if _COUNTED.search(clause))
        asking = (clause for clause in clauses
                  if self.rules.question_clauses.find(clause) and not self._only_pings(clause))
        return next(asking, None) is not None and next(asking, None) is not None

    def _says_something(self, asked: str, text: str) -> bool:
        """Something is left once the fillers (嗯, 稍等, 您好, 快了, 为什么, particles) are taken out: two
        characters or more (有 or M alone is too curt), not a flat refusal (没有, 不能) and not the
        buyer's own words asked back ("退货？" to 我要退货)."""
        rest = _without(text, self.rules.fillers.find(text))
        said = "".join(_COUNTED.findall(rest)).lower()
        if len(said) < 2 or self.rules.flat_no.find(said):
            return False
        asked_back = bool(_QUESTION_MARK.search(text)) and not self.rules.asks_back.find(text)
        return not (asked_back and said in asked.lower())

    def _only_pings(self, asked: str) -> bool:
        """The buyer's message (matchable) only asks whether anyone is there (在吗在吗, 客服在不在)."""
        pings = self.rules.presence.find(asked)
        return bool(pings) and not _COUNTED.search(_without(asked, pings))

    def _asks_back(self, asked: str, text: str) -> bool:
        """The reply asks about the buyer's own words ("怎么坏了" to "东西坏了"): a question word, and two
        characters in a row outside it that the message holds. "为什么" alone names nothing of theirs."""
        words = self.rules.asks_back.find(text)
        if not words:
            return False
        said = asked.lower()
        rest = _without(text, words).lower()
        pairs = (rest[i : i + 2] for i in range(len(rest) - 1))
        return any(len(_COUNTED.findall(pair)) == 2 and pair in said for pair in pairs)

    def _asks_nothing(self, message: str) -> bool:
        """The buyer acknowledges or thanks ("好的 那就拍M了", "ok 谢谢") and neither asks nor reports anything."""
        rules = self.rules
        asked = matchable(message or "")
        return bool(rules.acknowledgements.find(asked)) and not rules.questions.find(asked)

    def guess_scenario(self, message: str) -> str | None:
        """The scenario with the most different cue words in the message; None when there are none."""
        text = matchable(message or "")
        counts = {
            name: len({hit.text.lower() for hit in cues.lexicon.find(text)})
            for name, cues in self.rules.cues.items()
        }
        best = max(counts.values(), default=0)
        if best == 0:
            return None
        return next(name for name in GUESS_ORDER if counts.get(name) == best)

    # -- checks --------------------------------------------------------------------------------

    def _check(self, message: object, reply: object, platform: str, scenario: str | None,
               relevance: float | None, rudeness: float | None = None) -> None:
        if not isinstance(message, str) or not isinstance(reply, str):
            raise InputError("the message and the reply must be text")
        platforms = self.rules.etiquette.platforms
        if platform not in platforms:
            raise InputError(f"unknown platform {platform!r}; valid platforms: {', '.join(platforms)}")
        if scenario is not None and scenario not in SCENARIOS:
            raise InputError(f"unknown scenario {scenario!r}; valid scenarios: {', '.join(SCENARIOS)}")
        if relevance is not None and not (isinstance(relevance, (int, float)) and 0.0 <= relevance <= 1.0):
            raise InputError(f"relevance must be a probability between 0 and 1, got {relevance!r}")
        if rudeness is not None and not (isinstance(rudeness, (int, float)) and 0.0 <= rudeness <= 1.0):
            raise InputError(f"rudeness must be a probability between 0 and 1, got {rudeness!r}")

    def _find(self, rule: str, text: str) -> tuple[Hit, ...]:
        return self.rules.specs[rule].lexicon.find(text)

    def _rude(self, text: str) -> tuple[Hit, ...]:
        """Words rude anywhere, then curt cues in a cold register where they add a new span."""
        hits = self._find("rude", text)
        curt = [hit for hit in self.rules.cold.find(text) if not any(overlap(hit, other) for other in hits)]
        return tuple(sorted((*hits, *curt), key=lambda hit: hit.start))

    def _placeholders(self, text: str) -> tuple[Hit, ...]:
        hits = list(self._find("placeholder", text))
        brackets = self.rules.brackets
        for match in (*_BRACKET.finditer(text), *_SQUARE.finditer(text)):
            inside_hit = any(hit.start <= match.start() < hit.end for hit in hits)
            if not inside_hit and brackets.is_placeholder(match.group(), match.group(1)):
                hits.append(Hit(match.start(), match.end(), match.group()))
        return tuple(sorted(hits, key=lambda hit: hit.start))

    def _greets(self, text: str) -> bool:
        window = self.rules.specs["greeting"].window or 0
        start = len(text) - len(text.lstrip())
        return any(hit.start < start + window for hit in self._find("greeting", text))

    def _closes(self, text: str) -> bool:
        window = self.rules.specs["closing"].window or 0
        end = len(text.rstrip())
        # In the last `window` characters; thanks also in the second half: 感谢您的耐心等待 opening a
        # short reply thanks the buyer for waiting and does not see them off, while
        # "不客气，有问题随时联系我们" is a send-off however short.
        return any(hit.end > end - window and (hit.start >= end // 2 or not _THANKS.match(text, hit.start))
                   for hit in self._find("closing", text))

    def _relevance(self, message: str, reply: str, text: str, topic: str | None,
                   answer_probability: float | None) -> Finding | None:
        rules = self.rules
        reasons: list[str] = []
        span = None
        # A message that asks nothing ("ok 谢谢") has no question to miss: the model's low score on a
        # thanks-and-goodbye reply says only that the pair is unlike a question and its answer.
        if (answer_probability is not None and answer_probability < rules.min_answer_probability
                and not self._asks_nothing(message)):
            reasons.append(f"语义上不像在回答这条消息（相关度 {answer_probability:.2f}，低于 {rules.min_answer_probability:.2f}）")
        if topic in OFF_TOPIC and not self._on_topic(text, topic):
            others = OFF_TOPIC[topic]
            found = {name: rules.cues[name].lexicon.find(text) for name in others}
            distinct = {name: {hit.text.lower() for hit in hits} for name, hits in found.items()}
            other = max(others, key=lambda name: (len(distinct[name]), -others.index(name)))
            if len(distinct[other]) >= rules.min_cues:
                first = found[other][0]
                span = (first.start, first.end)
                words = "、".join(dict.fromkeys(reply[h.start : h.end] for h in found[other]))
                reasons.append(f"买家问的是{rules.cues[topic].label}，回复却在说{rules.cues[other].label}（{words}）")
        said = matchable(message)
        asked = rules.unanswered.asked(said)
        answered = topic is not None and topic in rules.cues and bool(rules.cues[topic].lexicon.find(text))
        if topic != "price" and not answered and not rules.cues["price"].lexicon.find(said):
            # A sales pitch in place of an answer: the buyer asked about anything but price, and
            # the reply says nothing of what they asked about (an apology alone does not count).
            pitch = rules.pitch.find(text)
            pitched = list(dict.fromkeys(reply[h.start : h.end] for h in pitch))
            # Unless the reply answers the question's form before it starts selling: "这款只有图上三个
            # 颜色哦，另外推荐…新款" to "有没有别的颜色" is a pitch beside the answer, not in its place.
            beside = bool(pitch) and bool(asked) and not rules.unanswered.left_open(asked, text[: pitch[0].start])
            if len({word.lower() for word in pitched}) >= rules.min_cues and not beside:
                span = span or (pitch[0].start, pitch[0].end)
                reasons.append(f"回复在推销（{'、'.join(pitched)}），买家并没有问价格优惠")
        # The question's kind left open: only where nothing above already says the reply misses.
        if not reasons:
            reasons += rules.unanswered.left_open(asked, text)
        if not reasons:
            return None
        spec = rules.specs["relevance"]
        return Finding("relevance", spec.severity, self._detail(spec, why="：" + "；".join(reasons)), span, spec.fix)

    def _on_topic(self, text: str, topic: str) -> bool:
        if self.rules.cues[topic].lexicon.find(text):
            return True
        # An apology answers a complaint even when it names nothing that went wrong.
        return topic == "complaint" and bool(self.rules.etiquette.apology.find(text))

    # -- findings ------------------------------------------------------------------------------

    def _found(self, rule: RuleName, reply: str, hits: tuple[Hit, ...]) -> list[Finding]:
        spec = self.rules.specs[rule]
        return [
            Finding(rule, spec.severity, self._detail(spec, word=reply[hit.start : hit.end]), (hit.start, hit.end),
                    spec.fix)
            for hit in hits[: self.rules.max_findings_per_rule]
        ]

    def _missing(self, rule: RuleName) -> Finding:
        spec = self.rules.specs[rule]
        return Finding(rule, spec.severity, self._detail(spec), None, spec.fix)

    def _detail(self, spec: RuleSpec, *, word: str = "", why: str = "") -> str:
        return spec.detail.format(word=word, why=why, min_chars=self.rules.min_chars)


__all__ = ["GUESS_ORDER", "OFF_TOPIC", "ReplyInspector"]
