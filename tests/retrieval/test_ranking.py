import json

import numpy as np
import pytest

from app.corpus import Applicability, Source, Template, load_templates
from app.errors import CorpusError
from app.models.classifier import ScenarioPrediction
from app.models.reranker import FEATURES, Reranker
from app.retrieval.ranking import (
    CandidateSignals,
    Eligibility,
    MessageContext,
    candidate_features,
    candidates,
    fit_of,
    ineligibility,
)
from tests.conftest import CORPUS

ALL = ("taobao", "tmall", "jd")


def template(id_: str = "size.x.y", *, platforms=ALL, pitch=False, **applies) -> Template:
    return Template(id_, id_.split(".")[0], ".".join(id_.split(".")[:2]), "回复", ("a",) * 5, platforms,
                    Source(None, None), Applicability(**{k: tuple(v) for k, v in applies.items()}), pitch)


def prediction(label: str = "size") -> ScenarioPrediction:
    scores = {name: 0.0 for name in ("size", "price", "logistics", "complaint", "other")}
    scores[label] = 1.0
    return ScenarioPrediction(label, 1.0, scores, None, False)


def test_a_reply_never_asks_for_what_the_buyer_stated():
    asks = template(asks=["height", "weight"])
    assert ineligibility(asks, MessageContext("taobao", stated=frozenset({"height", "weight"}))) == "asks"
    assert ineligibility(asks, MessageContext("taobao", stated=frozenset({"weight"}))) == "asks"
    assert ineligibility(asks, MessageContext("taobao")) is None


def test_a_reply_built_on_facts_needs_all_of_them():
    needs = template(needs=["height", "weight"])
    assert ineligibility(needs, MessageContext("taobao", stated=frozenset({"height"}))) == "needs"
    assert ineligibility(needs, MessageContext("taobao", stated=frozenset({"height", "weight"}))) is None


@pytest.mark.parametrize("context", [
    MessageContext("taobao", ordered=True),
    MessageContext("taobao", stage="in_transit"),
    MessageContext("taobao", mood="upset"),
    MessageContext("taobao", mood="closing"),
    MessageContext("taobao", apology_owed=True),
])
def test_no_pitch_after_an_order_or_to_an_upset_or_leaving_buyer(context):
    assert ineligibility(template(pitch=True), context) == "pitch"
    assert ineligibility(template(), context) is None


def test_a_pitch_is_fine_before_purchase():
    assert ineligibility(template(pitch=True), MessageContext("taobao", stage="pre_purchase")) is None


def test_platform_and_product_category():
    assert ineligibility(template(platforms=("taobao",)), MessageContext("jd")) == "platform"
    furniture = template(categories=["home"])
    assert ineligibility(furniture, MessageContext("taobao", category="clothing")) == "category"
    assert ineligibility(furniture, MessageContext("taobao", category="home")) is None
    # A message naming no product (or a general one) does not exclude a product's template.
    assert ineligibility(furniture, MessageContext("taobao")) is None
    assert ineligibility(furniture, MessageContext("taobao", category="general")) is None


def test_fit_says_match_mismatch_or_unsaid():
    assert fit_of(("delivered",), "delivered") == 1.0
    assert fit_of(("delivered",), "pre_purchase") == -1.0
    assert fit_of(("delivered",), "unknown") == 0.0
    assert fit_of((), "delivered") == 0.0
    assert fit_of(("closing",), "neutral", unknown=()) == -1.0


def test_remembered_eligibility_is_what_each_template_says_for_every_context():
    """The masks are kept per combination of the fields ineligibility reads: a field it reads but the
    key forgets would hand one message another's mask, and some context below would differ."""
    library = load_templates(CORPUS)
    eligibility = Eligibility(library)
    rng = np.random.default_rng(7)
    facts = ["height", "weight", "order_id"]  # few values, so that combinations recur
    for _ in range(400):
        context = MessageContext(
            str(rng.choice(ALL)),
            stage=str(rng.choice(["unknown", "pre_purchase", "awaiting_dispatch", "in_transit", "delivered"])),
            mood=str(rng.choice(["neutral", "upset", "closing"])),
            category=rng.choice([None, "general", "clothing", "shoes"]),
            stated=frozenset(f for f in facts if rng.random() < 0.3),
            ordered=rng.choice([None, True, False]),
            apology_owed=bool(rng.random() < 0.3),
            sizes={"clothing": "M"} if rng.random() < 0.3 else {},
        )
        expected = [ineligibility(t, context) is None for t in library]
        assert eligibility.mask(context).tolist() == expected, context


def test_candidates_skip_the_ineligible_and_add_closing_replies_for_a_closing_buyer():
    templates = [template("size.a.x"), template("size.b.x", pitch=True), template("other.thanks.x", moods=["closing"])]
    fused = np.array([0.9, 0.8, 0.0])
    found = candidates(templates, fused, prediction("size"), MessageContext("taobao", mood="closing"), pool=1)
    assert found.indices.tolist() == [0, 2]
    assert found.prior[1] == -1.0
    neutral = candidates(templates, fused, prediction("size"), MessageContext("taobao"), pool=1)
    assert neutral.indices.tolist() == [0]


def test_features_are_one_row_per_candidate_in_the_reranker_order():
    templates = [template("size.a.x", stages=["pre_purchase"]), template("size.b.x", stages=["delivered"])]
    context = MessageContext("taobao", stage="delivered")
    found = candidates(templates, np.array([0.5, 1.0]), prediction("size"), context)
    signals = CandidateSignals(np.array([0.8, 0.9]), np.array([0.7, 0.6]), np.array([2.0, 4.0]), np.array([0.1, 0.9]),
                               np.array([0.75, 0.7]), np.array([0.5, 1.0]))
    rows = candidate_features(templates, found, signals, prediction("size"), context)
    assert rows.shape == (2, len(FEATURES))
    by_name = [dict(zip(FEATURES, row)) for row in rows]
    assert found.indices.tolist() == [1, 0]
    assert by_name[0]["stage_fit"] == 1.0 and by_name[1]["stage_fit"] == -1.0
    assert by_name[0]["stage_clash"] == 0.0 and by_name[1]["stage_clash"] == 1.0
    assert by_name[0]["bm25_share"] == 1.0 and by_name[1]["bm25_share"] == 0.5
    assert by_name[0]["dense_gap"] == 0.0 and by_name[1]["dense_gap"] == pytest.approx(-0.1)
    assert by_name[0]["relevance"] == 0.9
    assert by_name[0]["dense_pair_gap"] == pytest.approx(-0.05) and by_name[1]["dense_pair_gap"] == 0.0
    assert by_name[0]["term_coverage"] == 1.0 and by_name[1]["term_coverage"] == 0.5


def test_the_shipped_reranker_loads_and_says_where_it_was_fitted():
    reranker = Reranker.load(CORPUS)
    fitted_on = reranker.provenance["fitted_on"]
    assert fitted_on and all(path.startswith("corpus/training/sendable_") for path in fitted_on)
    assert 0.0 <= reranker.abstain_below < 1.0
    probability = reranker.probability(np.zeros((3, len(FEATURES))))
    assert probability.shape == (3,) and ((probability > 0) & (probability < 1)).all()


def test_a_reranker_fitted_on_other_features_is_refused(tmp_path):
    raw = Reranker.load(CORPUS).as_json()
    raw["features"] = raw["features"][:-1]
    (tmp_path / "reranker.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(CorpusError, match="refit"):
        Reranker.load(tmp_path)


def test_a_missing_or_broken_reranker_says_how_to_fix_it(tmp_path):
    with pytest.raises(CorpusError, match="fit_reranker"):
        Reranker.load(tmp_path)
    (tmp_path / "reranker.json").write_text("{", encoding="utf-8")
    with pytest.raises(CorpusError, match="cannot read"):
        Reranker.load(tmp_path)
    raw = Reranker.load(CORPUS).as_json()
    raw["abstain_below"] = 2
    (tmp_path / "reranker.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(CorpusError, match="abstain_below"):
        Reranker.load(tmp_path)
