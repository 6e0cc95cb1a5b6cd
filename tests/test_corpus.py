"""The shipped corpus: the script library's shape and coverage, and clear errors for bad data."""

import collections

import pytest

from app.corpus import SLOT_PATTERN, SLOT_PLACEHOLDERS, load_labelled, load_templates
from app.errors import CorpusError
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def templates():
    return load_templates(CORPUS)


def test_library_covers_every_scenario(templates):
    counts = collections.Counter(t.scenario for t in templates)
    assert len(templates) >= 70
    assert all(counts[s] >= 12 for s in ("size", "price", "logistics", "complaint"))
    assert counts["other"] >= 10


def test_templates_are_complete(templates):
    for t in templates:
        assert len(t.examples) >= 5, t.id
        assert t.topic.startswith(t.scenario + "."), t.id
        assert set(SLOT_PATTERN.findall(t.reply)) <= set(SLOT_PLACEHOLDERS), t.id
        for banned in ("!!!", "???", "最低价", "100%"):
            assert banned not in t.reply, (t.id, banned)
    sources = collections.Counter(t.source.doc or "team" for t in templates)
    # Every handbook contributes scripts; the team fills the gaps.
    assert {doc[:3] for doc in sources if doc != "team"} == {"000", "001", "002", "003", "004"}


def test_examples_are_unique_across_the_library(templates):
    examples = [e for t in templates for e in t.examples]
    assert len(examples) == len(set(examples))


def test_no_example_states_what_its_template_asks_for_or_lacks_what_it_needs(templates):
    """An example is a message the template answers: one that already gives the height its template asks
    for, or lacks the order number its template is built on, teaches the ranking the opposite (the
    eleventh session removed 24 such examples that example writers had added)."""
    from app.text import normalize_text
    from app.understanding.entities import extract_entities

    wrong = []
    for t in templates:
        asks, needs = set(t.applies.asks), set(t.applies.needs)
        for example in t.examples:
            facts = extract_entities(normalize_text(example)).facts()
            if asks & facts or not needs <= facts:
                wrong.append((t.id, example, sorted(asks & facts), sorted(needs - facts)))
    assert wrong == []


def test_bank_has_at_least_60_per_scenario():
    counts = collections.Counter(m.scenario for m in load_labelled(CORPUS / "training" / "scenario_bank.jsonl"))
    assert min(counts.values()) >= 60 and len(counts) == 5


def test_bad_template_is_named_in_the_error(mini_corpus):
    path = mini_corpus / "templates.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("scenario: price", "scenario: discount", 1),
                    encoding="utf-8")
    with pytest.raises(CorpusError, match=r"template #1 \(price.bargain.no_discount\) is invalid"):
        load_templates(mini_corpus)


def test_unknown_slot_is_refused(mini_corpus):
    path = mini_corpus / "templates.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("{coupon}", "{voucher}"), encoding="utf-8")
    with pytest.raises(CorpusError, match="unknown slots"):
        load_templates(mini_corpus)


def test_bad_labelled_line_names_file_and_line(tmp_path):
    path = tmp_path / "bank.jsonl"
    path.write_text('{"id": "1", "message": "在吗", "scenario": "other"}\n{"id": "2", "message": "x"}\n',
                    encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bank.jsonl:2"):
        load_labelled(path)
