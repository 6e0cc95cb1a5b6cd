"""`kefu eval` on the shipped sets and on a messy file; the CLI, /v1/evaluate and /v1/inspect agree."""

import json

import pytest

from app.evaluation.cases import parse_jsonl
from app.evaluation.runner import evaluate
from tests.conftest import CORPUS, REPO
from tests.test_cli import run_kefu

INSPECTION_DEV = CORPUS / "training" / "inspection_dev.jsonl"  # for tuning the inspection rules

CASES = [
    {"id": "a", "message": "这件衣服170斤穿什么码", "scenario": "size"},
    {"id": "b", "message": "能便宜点吗", "scenario": "price", "reply": "亲，已经是最低价了!!!", "platform": "jd", "ok": False},
    {"id": "c", "message": "快递到哪了", "scenario": "logistics",
     "reply": "您好，您的包裹已到本地派送站，预计今天送达，请您保持电话畅通，祝您生活愉快。", "platform": "tmall", "ok": True},
    {"id": "d", "message": "收到的杯子碎了" + "，我很生气" * 1000, "scenario": "complaint"},
    {"id": "e", "message": "偏小了能换吗,运费谁出", "scenario": "size", "also": ["price"], "first_turn": False},
    {"message": "在吗", "scenario": "greeting"},
    {"scenario": "size"},
    {"message": "发票", "platform": "pdd"},
]


def _without_timing(summary: dict) -> dict:
    """The figures, without the timings and where the work ran (the CLI says which engine; the API has one)."""
    return {key: value for key, value in summary.items() if key not in ("latency_ms", "engine")}


@pytest.mark.model
def test_cli_api_and_inspect_agree_on_a_messy_file(tmp_path, real_settings, real_service):
    from app.api import create_app
    from app.api.schemas import EvaluationOut, InspectionOut
    from tests.api import running

    path = tmp_path / "cases.jsonl"
    lines = [json.dumps(case, ensure_ascii=False) for case in CASES]
    lines.insert(3, "{this is not json")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out, report = tmp_path / "out.jsonl", tmp_path / "report.html"
    result = run_kefu("eval", str(path), "--json", "--out", str(out), "--report", str(report), settings=real_settings)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["cases"] == 9 and summary["evaluated"] == 5
    assert [s["line"] for s in summary["skipped"]] == [4, 7, 8, 9]
    assert summary["cases"] == summary["evaluated"] + len(summary["skipped"])
    assert summary["scenario"]["labelled"] == 5
    assert summary["inspection"]["inspected"] == 2
    assert set(summary["latency_ms"]) == {"p50", "p95"}
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["a", "b", "c", "d", "e"]

    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "<svg" in html and "混淆矩阵" in html
    assert f"{summary['scenario']['accuracy']:.1%}" in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")  # self-contained

    # The API skips messages over its limit (KEFU_MAX_MESSAGE_CHARS, tests/api/test_hardening.py); raised
    # here so that the 5,000-character case is evaluated by both.
    roomy = real_settings.model_copy(update={"max_message_chars": 10_000})
    with running(create_app(roomy, service_factory=lambda settings: real_service)) as client:
        api = client.post("/v1/evaluate", json={"cases": CASES})
        assert api.status_code == 200, api.text
        api_summary = api.json()
        EvaluationOut.model_validate(api_summary)  # the documented schema matches what is sent
        # The same cases without the invalid-JSON line (a JSON list cannot carry one): positions shift by one.
        assert [s["line"] for s in api_summary["skipped"]] == [6, 7, 8]
        assert {k: v for k, v in _without_timing(api_summary).items() if k not in ("cases", "skipped")} == \
            {k: v for k, v in _without_timing(summary).items() if k not in ("cases", "skipped")}
        for record in records:
            if "inspection" not in record:
                continue
            case = next(c for c in CASES if c.get("id") == record["id"])
            inspected = client.post("/v1/inspect", json={"message": case["message"], "reply": case["reply"],
                                                         "platform": case["platform"]})
            assert inspected.status_code == 200
            InspectionOut.model_validate(inspected.json())
            assert inspected.json() == record["inspection"]
        too_many = client.post("/v1/evaluate", json={"cases": [{"message": "在吗"}] * 5001})
        assert too_many.status_code == 422
        assert too_many.json()["error"]["code"] == "invalid_input"


@pytest.mark.model
def test_kefu_eval_holds_the_shipped_sets_above_their_floors(tmp_path, real_settings):
    # One `kefu eval` over both shipped sets: dev lines carry `scenario` and no reply, inspection
    # lines a `reply` and no scenario, so each metric comes from its own set.
    dev = (CORPUS / "eval" / "dev.jsonl").read_text(encoding="utf-8")
    inspection = (CORPUS / "eval" / "inspection.jsonl").read_text(encoding="utf-8")
    both = tmp_path / "shipped.jsonl"
    both.write_text(dev + inspection, encoding="utf-8")
    result = run_kefu("eval", str(both), "--json", settings=real_settings)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["skipped"] == []
    assert summary["scenario"]["labelled"] == len(dev.splitlines()) >= 200
    assert summary["inspection"]["judged"] == len(inspection.splitlines()) >= 80
    # Dev set: measured 0.956 (2026-11-22); the floor only goes up.
    assert summary["scenario"]["accuracy"] >= 0.95
    assert summary["scenario"]["calibration_error"] <= 0.06  # measured 0.023-0.029
    # Held out, relabelled under "fine to send" (issue 12): measured 0.979 (137 of 140) after tuning
    # on the relabelled sets below, 0.964 later; 0.957 (134) when the ninth session's 150 example questions
    # moved one buyer question to complaint in the scenario classifier (the floor went to 0.955 then);
    # 0.964 (135) again since the classifier learns from at most eight examples per template (tenth
    # session, chosen on the tuning sets, docs/measurements.md); 0.957 (134) after round three's examples,
    # whose five removals changed which eight examples some templates give the classifier (the same code
    # with round two's corpus: 0.964). One reply of 140 moves with the classifier: the floor is 0.955.
    assert summary["inspection"]["agreement"] >= 0.955


@pytest.mark.model
def test_other_inspection_sets_hold_their_floors(real_service):
    # A second held-out set by another writer, never tuned on: how well the rules carry over to a
    # stranger's judgement. Relabelled under "fine to send": measured 0.894 (143 of 160).
    fresh = parse_jsonl((CORPUS / "eval" / "inspection_fresh.jsonl").read_text(encoding="utf-8").splitlines())
    summary, _ = evaluate(real_service, fresh)
    assert summary["skipped"] == [] and summary["inspection"]["judged"] >= 150
    assert summary["inspection"]["agreement"] >= 0.88

    tuning = parse_jsonl(INSPECTION_DEV.read_text(encoding="utf-8").splitlines())
    summary, _ = evaluate(real_service, tuning)
    assert summary["skipped"] == [] and summary["inspection"]["judged"] >= 200
    # The rules were tuned on this set, so it only guards against regressions: measured 0.950
    # relabelled under "fine to send".
    assert summary["inspection"]["agreement"] >= 0.94


def test_the_inspection_sets_share_no_reply():
    """The held-out sets stay held out: the tuning sets were written without reading them."""
    def replies(path):
        # A reply of a word or two ("稍等", "嗯嗯") or a stock courtesy line ("不客气，祝您购物愉快～") is bound
        # to recur between independent writers.
        texts = {json.loads(line)["reply"].strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
        return {text for text in texts if len(text) > 12}

    held_out = (replies(CORPUS / "eval" / "inspection.jsonl") | replies(CORPUS / "eval" / "inspection_fresh.jsonl")
                | replies(CORPUS / "eval" / "inspection_lead.jsonl"))
    tuning = (replies(INSPECTION_DEV) | replies(CORPUS / "training" / "inspection_dev2.jsonl")
              | replies(CORPUS / "training" / "inspection_dev3.jsonl")
              | replies(CORPUS / "training" / "inspection_dev4.jsonl")
              | replies(CORPUS / "training" / "inspection_dev5.jsonl")
              | replies(CORPUS / "training" / "inspection_dev6.jsonl")
              | replies(CORPUS / "training" / "inspection_dev7.jsonl"))
    assert held_out & tuning == set()
    # Nor do the replies the tone and relevance models learn from.
    assert held_out & replies(CORPUS / "training" / "reply_tone.jsonl") == set()


# Two tuning sets (sendable_dev2 was the held-out set until its one final run, tenth session) and the held-out
# sendable_heldout2.jsonl (written and judged blind in the tenth session; never run).
SENDABLE_SETS = (CORPUS / "training" / "sendable_dev.jsonl", CORPUS / "training" / "sendable_dev2.jsonl",
                 CORPUS / "eval" / "sendable_heldout2.jsonl")


def test_the_sendable_reply_sets_are_well_formed_and_apart():
    """Buyer messages for measuring sendable replies (issue 11), each set written blind to the library by
    its own helper. They parse as eval cases and no two share a message."""
    fields = {"category": {"clothing", "shoes", "appliance", "electronics", "home", "cosmetics", "food", "general"},
              "stage": {"pre_purchase", "awaiting_dispatch", "in_transit", "delivered", "after_sale", "unknown"},
              "mood": {"neutral", "upset", "closing"}}
    messages = []
    for path in SENDABLE_SETS:
        lines = path.read_text(encoding="utf-8").splitlines()
        parsed = parse_jsonl(lines)
        assert parsed.skipped == () and len(parsed.cases) >= 300
        records = [json.loads(line) for line in lines]
        for record in records:
            assert all(record[name] in allowed for name, allowed in fields.items()), record["id"]
            assert record["asks"].strip()
        messages.append({record["message"].strip() for record in records})
    for number, these in enumerate(messages):
        for those in messages[number + 1:]:
            assert these & those == set()


def test_the_sendable_sets_carry_a_blind_judges_verdicts_on_real_templates():
    """Every line of every set has a person's verdicts (sendable / acceptable / never) on templates
    that exist, no template in two verdicts of one line."""
    import yaml

    templates = {entry["id"] for entry in yaml.safe_load((CORPUS / "templates.yaml").read_text(encoding="utf-8"))}
    cases = [case for path in SENDABLE_SETS for case in parse_jsonl(path.read_text(encoding="utf-8").splitlines()).cases]
    for case in cases:
        assert case.verdicts is not None, case.id
        verdicts = [set(ids) for ids in case.verdicts.values()]
        assert set().union(*verdicts) <= templates, case.id
        assert sum(map(len, verdicts)) == len(set().union(*verdicts)), case.id


def test_the_real_messages_verdicts_name_real_templates_and_only_real_message_ids():
    """corpus/eval/realdata_verdicts.jsonl: a blind judge's verdicts on the real JD messages, by id (the
    messages stay in ../shared/realdata); scripts/eval_real.py joins them."""
    import yaml

    templates = {entry["id"] for entry in yaml.safe_load((CORPUS / "templates.yaml").read_text(encoding="utf-8"))}
    records = [json.loads(line) for line in (CORPUS / "eval/realdata_verdicts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) >= 250 and len({r["id"] for r in records}) == len(records)
    for record in records:
        assert set(record) == {"id", "asks", "sendable", "acceptable", "never"}, record["id"]
        assert isinstance(record["asks"], bool) and record["id"].startswith("r")
        listed = record["sendable"] + record["acceptable"] + record["never"]
        assert set(listed) <= templates and len(listed) == len(set(listed)), record["id"]
    real = REPO.parent / "shared/realdata/jd_buyer_messages_dev.jsonl"
    if real.is_file():
        ids = {json.loads(line)["id"] for line in real.read_text(encoding="utf-8").splitlines() if line.strip()}
        assert {r["id"] for r in records} <= ids


@pytest.mark.parametrize("name", ["eval/inspection_lead.jsonl", "training/inspection_dev4.jsonl",
                                  "training/inspection_dev5.jsonl", "training/inspection_dev6.jsonl",
                                  "training/inspection_dev7.jsonl"])
def test_the_team_leads_sets_are_labelled_under_fine_to_send(name):
    """corpus/eval/inspection_lead.jsonl (measured once, now spent) and training/inspection_dev4.jsonl (written
    as the held-out inspection_heldout2.jsonl, measured once in the tenth session, now a tuning set) and
    training/inspection_dev5.jsonl (written as the held-out inspection_heldout3.jsonl, measured once in the
    twelfth session, now a tuning set) and training/inspection_dev6.jsonl (the held-out inspection_heldout4.jsonl,
    measured once in the same session) and training/inspection_dev7.jsonl (the held-out inspection_heldout5.jsonl,
    measured once at the end of the twelfth session): written and labelled blind to the rules. Checked for shape only."""
    from app.inspection.results import RULES

    blocking = {"rude", "jd_qin", "placeholder", "too_short", "no_apology", "absolute", "ad_law", "relevance",
                "shouting"}
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    parsed = parse_jsonl(lines)
    assert parsed.skipped == () and len(parsed.cases) >= 200
    for case in parsed.cases:
        assert case.position in ("first", "middle", "last") and set(case.expect or ()) <= set(RULES)
        assert case.ok == (not blocking & set(case.expect or ())), case.id
