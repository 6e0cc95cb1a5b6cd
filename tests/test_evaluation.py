"""Case parsing and metrics (pure), and `kefu eval` end to end on files with bad lines."""

import json

from app.evaluation.cases import parse_csv, parse_jsonl
from app.evaluation.metrics import percentile, score_scenarios


def test_jsonl_bad_lines_are_reported_counted_and_skipped():
    lines = [
        '{"message": "包邮吗", "scenario": "price"}',
        "{not json",
        '{"scenario": "size"}',
        '{"message": "在吗", "scenario": "greeting"}',
        '{"message": "在吗", "platform": "pdd"}',
        "",
        '{"message": "   "}',
        '["a list"]',
        '{"message": "快递到哪了", "also": ["complaint"], "first_turn": "false", "ok": "true", "reply": "您好"}',
    ]
    parsed = parse_jsonl(lines)
    assert [c.line for c in parsed.cases] == [1, 9]
    assert [(s.line, s.reason.split(" ")[0]) for s in parsed.skipped] == [
        (2, "not"), (3, "missing"), (4, "unknown"), (5, "unknown"), (7, "missing"), (8, "a")]
    assert "valid: size, price, logistics, complaint, other" in parsed.skipped[2].reason
    assert "valid: taobao, tmall, jd" in parsed.skipped[3].reason
    assert parsed.total == len(parsed.cases) + len(parsed.skipped) == 8
    last = parsed.cases[1]
    assert (last.also, last.first_turn, last.ok, last.reply) == (("complaint",), False, True, "您好")


def test_csv_uses_the_same_columns():
    text = "id,message,scenario,also,platform,first_turn,reply,ok\n" \
           "a,能便宜点吗,price,,jd,true,,\n" \
           "b,偏小了能换吗,size,price|complaint,taobao,false,您好,false\n" \
           "c,,size,,,,,\n"
    parsed = parse_csv(text)
    assert [c.id for c in parsed.cases] == ["a", "b"]
    assert parsed.cases[1].also == ("price", "complaint")
    assert parsed.cases[1].ok is False
    assert parsed.cases[0].reply is None
    assert [(s.line, s.reason) for s in parsed.skipped] == [(4, "missing or empty `message`")]


def test_a_5000_character_message_is_a_case():
    parsed = parse_jsonl([json.dumps({"message": "退" * 5000, "scenario": "complaint"})])
    assert len(parsed.cases) == 1 and not parsed.skipped


def test_metrics():
    scores = score_scenarios(
        gold=["size", "size", "price", "other"],
        also=[[], ["price"], [], []],
        predicted=["size", "price", "price", "size"],
        confidence=[0.9, 0.6, 0.8, 0.7],
        abstained=[False, False, False, True],
    )
    assert scores.accuracy == 0.75 and scores.accuracy_strict == 0.5
    assert scores.confusion["size"]["price"] == 1 and scores.confusion["other"]["size"] == 1
    assert scores.per_scenario["size"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert scores.per_scenario["price"]["precision"] == 0.5
    assert scores.macro_f1 == round((0.5 + 2 / 3 + 0.0) / 3, 4)
    assert scores.abstained == 1
    assert score_scenarios([], [], [], [], []).accuracy is None


def test_percentile():
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([], 50) is None


def test_unreadable_file_exits_1(tmp_path):
    from tests.test_cli import run_kefu

    result = run_kefu("eval", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 1
    assert "cannot read" in result.stderr and "missing.jsonl" in result.stderr


def test_empty_file_is_an_empty_run(tmp_path):
    from tests.test_cli import run_kefu

    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    result = run_kefu("eval", str(empty), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["cases"], summary["evaluated"], summary["skipped"]) == (0, 0, [])
    assert summary["scenario"]["accuracy"] is None


def test_batch_evaluation_of_a_csv_with_the_fake_service(fake_service):
    from app.evaluation.runner import evaluate

    parsed = parse_csv("message,scenario,reply,platform,ok\n能便宜点吗,price,亲，可以的,jd,false\n在吗,other,,,\n,size,,,\n")
    summary, records = evaluate(fake_service, parsed, batch_size=1)
    assert summary["cases"] == 3 and summary["evaluated"] == 2 and len(summary["skipped"]) == 1
    assert summary["scenario"]["labelled"] == 2
    assert summary["inspection"]["inspected"] == 1
    assert any(f["rule"] == "jd_qin" for f in records[0]["inspection"]["findings"])
    assert records[0]["agrees"] is True  # the human said not ok, and so does kefu
    assert summary["latency_ms"]["p50"] > 0


def test_batches_in_flight_come_back_in_the_files_order(fake_service):
    """Two batches are reviewed at once; the first one is held back here so the second finishes first."""
    import threading

    from app.evaluation.runner import evaluate

    first_done = threading.Event()
    original = fake_service.review_many
    seen: list[int] = []

    class HoldsTheFirstBatch:
        def __getattr__(self, name):
            return getattr(fake_service, name)

        def review_many(self, requests, replies, positions=None):
            if requests[0].message == "第0个问题":
                first_done.wait(5)  # released once the second batch is done
            reviewed = original(requests, replies, positions)
            if requests[0].message == "第2个问题":
                first_done.set()
            return reviewed

    lines = [json.dumps({"message": f"第{i}个问题", "scenario": "other"}, ensure_ascii=False) for i in range(6)]
    summary, records = evaluate(HoldsTheFirstBatch(), parse_jsonl(lines), batch_size=2,
                                progress=lambda done, total: seen.append(done))
    assert first_done.is_set()
    assert [record["message"] for record in records] == [f"第{i}个问题" for i in range(6)]
    assert [record["line"] for record in records] == list(range(1, 7))
    assert seen == [2, 4, 6] and summary["evaluated"] == 6


def test_expect_names_rules_and_is_scored_per_rule(fake_service):
    from app.evaluation.report import render_report
    from app.evaluation.runner import evaluate

    parsed = parse_jsonl([
        json.dumps({"message": "能便宜点吗", "reply": "亲，可以的", "platform": "jd", "ok": False,
                    "expect": ["jd_qin", "closing"]}, ensure_ascii=False),
        json.dumps({"message": "这件能机洗吗", "reply": "嗯", "expect": "too_short"}, ensure_ascii=False),
        json.dumps({"message": "在吗", "reply": "在的", "expect": ["greeting", "impolite"]}, ensure_ascii=False),
    ])
    assert [s.line for s in parsed.skipped] == [3] and "impolite" not in parsed.skipped[0].reason.split("among")[1]
    assert parsed.cases[1].expect == ("too_short",)  # a single name, as a CSV cell gives it
    summary, records = evaluate(fake_service, parsed)
    per_rule = summary["inspection"]["per_rule"]
    assert per_rule["jd_qin"] == {"expected": 1, "caught": 1, "false_alarms": 0}
    assert per_rule["closing"] == {"expected": 1, "caught": 0, "false_alarms": 0}  # too short to be checked
    # "亲，可以的" answers 能便宜点吗 (a yes-or-no question) in few words: complete, not too short.
    assert per_rule["too_short"] == {"expected": 1, "caught": 1, "false_alarms": 0}
    assert per_rule["polite"] == {"expected": 0, "caught": 0, "false_alarms": 2}  # no 您/请 in either
    assert records[0]["human_rules"] == ["jd_qin", "closing"]
    html = render_report(summary, records)
    assert "<code>jd_qin</code></td><td>1</td><td>1</td><td>0</td>" in html


def test_per_rule_is_empty_without_expect(fake_service):
    from app.evaluation.runner import evaluate

    summary, _ = evaluate(fake_service, parse_jsonl(['{"message": "在吗", "reply": "您好，在的，请问有什么可以帮您"}']))
    assert summary["inspection"]["per_rule"] == {}


def test_csv_cells_hold_lists_of_scenarios_and_rules():
    parsed = parse_csv("message,reply,also,expect\n偏小了能换吗,好的,size|price,too_short|polite\n")
    (case,) = parsed.cases
    assert case.also == ("size", "price") and case.expect == ("too_short", "polite")
    # In JSON a list is a list: one string is one name.
    assert [s.line for s in parse_jsonl(['{"message": "在吗", "reply": "在", "expect": "rude|polite"}']).skipped] == [1]


def test_replies_are_scored_against_a_persons_verdicts():
    from app.evaluation.metrics import score_replies

    verdicts = [
        {"sendable": ["a"], "acceptable": ["b"], "never": ["c"]},  # top sendable
        {"sendable": ["a"], "acceptable": [], "never": ["c"]},  # top harmful, sendable second
        {"sendable": [], "acceptable": ["b"], "never": []},  # top acceptable only
        {"sendable": [], "acceptable": [], "never": ["c"]},  # nothing answers: kefu should abstain
    ]
    suggested = [["a", "b"], ["c", "a"], ["b"], ["x"]]
    abstained = [False, False, True, True]
    scores = score_replies(verdicts, suggested, abstained)
    assert scores == {
        "judged": 4, "answerable": 2,
        "hit_at_1": 0.25, "hit_at_3": 0.5, "acceptable_at_1": 0.5, "harmful_at_1": 0.25,
        "hit_at_1_answerable": 0.5, "hit_at_3_answerable": 1.0, "hit_at_1_when_answering": 0.5,
        "abstained": 2, "should_abstain": 1, "abstention_precision": 0.5, "abstention_recall": 1.0,
    }


def test_verdict_columns_parse_from_jsonl_and_csv_and_bad_ones_are_reported():
    line = '{"message": "包邮吗", "sendable": ["price.free_shipping.default"], "acceptable": [], "never": "x.y"}'
    (case,) = parse_jsonl([line]).cases
    assert case.verdicts == {"sendable": ("price.free_shipping.default",), "acceptable": (), "never": ("x.y",)}
    assert parse_jsonl(['{"message": "包邮吗"}']).cases[0].verdicts is None
    csv_case = parse_csv("message,sendable,never\n包邮吗,a.b|c.d,e.f\n").cases[0]
    assert csv_case.verdicts == {"sendable": ("a.b", "c.d"), "acceptable": (), "never": ("e.f",)}
    bad = parse_jsonl(['{"message": "包邮吗", "sendable": [1]}'])
    assert bad.cases == () and bad.skipped[0].reason == "`sendable` must list template ids"


def test_the_runner_scores_judged_lines_and_marks_each_records_top_verdict(fake_service):
    from app.evaluation.runner import evaluate

    lines = ['{"id": "a", "message": "包邮吗", "sendable": [], "acceptable": [], "never": []}',
             '{"id": "b", "message": "能便宜点吗"}']
    summary, records = evaluate(fake_service, parse_jsonl(lines))
    judged = summary["replies"]["judged"]
    assert judged["judged"] == 1 and judged["answerable"] == 0 and judged["should_abstain"] == 1
    assert judged["hit_at_1"] == 0.0 and judged["harmful_at_1"] == 0.0
    assert records[0]["top_verdict"] is None and "verdicts" not in records[1]
    unjudged, _ = evaluate(fake_service, parse_jsonl(lines[1:]))
    assert unjudged["replies"]["judged"] is None


# Issue 14, findings 5 and 6: a file of cases is read line by line as written, every bad line reported
# with its true line number, the rest evaluated.

def test_line_and_paragraph_separators_inside_a_json_line_split_nothing():
    from app.evaluation.cases import read_cases

    lines = [json.dumps({"id": "a", "message": "这件\u2028偏大吗"}, ensure_ascii=False),
             json.dumps({"id": "b", "message": "包邮吗\u0085谢谢"}, ensure_ascii=False),
             json.dumps({"id": "c", "message": "在吗"}, ensure_ascii=False)]
    parsed = read_cases("\n".join(lines).encode("utf-8"), "cases.jsonl")
    assert [(case.line, case.id) for case in parsed.cases] == [(1, "a"), (2, "b"), (3, "c")]
    assert parsed.skipped == ()


def test_a_message_with_nothing_left_to_read_is_one_skipped_line():
    from app.evaluation.cases import read_cases

    lines = ['{"message": "在吗"}', '{"message": "\\u200b\\u200b"}', '{"message": "#E-s46"}', '{"message": "能便宜点吗"}']
    parsed = read_cases("\n".join(lines).encode("utf-8"), "cases.jsonl")
    assert [case.line for case in parsed.cases] == [1, 4]
    assert [(s.line, "empty" in s.reason) for s in parsed.skipped] == [(2, True), (3, True)]


def test_a_lone_surrogate_becomes_a_replacement_character_not_a_crash():
    from app.evaluation.cases import read_cases

    parsed = read_cases(b'{"message": "\\ud800\xe8\x83\xbd\xe4\xbe\xbf\xe5\xae\x9c\xe7\x82\xb9\xe5\x90\x97"}', "cases.jsonl")
    assert parsed.cases[0].message == "\ufffd能便宜点吗"
    json.dumps(parsed.cases[0].message, ensure_ascii=False).encode("utf-8")  # writable to --out


def test_invalid_bytes_skip_their_line_as_the_code_says():
    from app.evaluation.cases import read_cases

    raw = b'{"message": "\xe5\x9c\xa8\xe5\x90\x97"}\n{"message": "\xff\xfe\xe5\x90\x97"}\n{"message": "\xe5\x9c\xa8"}\n'
    parsed = read_cases(raw, "cases.jsonl")
    assert [case.line for case in parsed.cases] == [1, 3]
    assert parsed.skipped[0].line == 2 and "UTF-8" in parsed.skipped[0].reason


def test_csv_keeps_newlines_in_quoted_fields_and_reports_a_record_at_its_first_line():
    from app.evaluation.cases import read_cases

    text = 'message,scenario\n"第一行\n第二行",size\n"在吗",other\n"",price\n'
    parsed = read_cases(text.encode("utf-8"), "cases.csv")
    assert [(case.line, case.message) for case in parsed.cases] == [(2, "第一行\n第二行"), (4, "在吗")]
    assert [s.line for s in parsed.skipped] == [5]


def test_csv_extra_columns_and_an_unclosed_quote_are_reported():
    from app.evaluation.cases import read_cases

    text = 'message,scenario\n在吗,other,oops\n"能便宜点吗,price\n包邮吗,price\n'
    parsed = read_cases(text.encode("utf-8"), "cases.csv")
    reasons = {s.line: s.reason for s in parsed.skipped}
    assert "extra" in reasons[2]
    assert 3 in reasons and "quote" in reasons[3]
    assert parsed.cases == ()  # the unclosed quote swallowed the rest: said, not silent


def test_csv_without_a_message_column_is_an_error():
    import pytest

    from app.errors import InputError
    from app.evaluation.cases import read_cases

    with pytest.raises(InputError, match="message"):
        read_cases("text,scenario\n在吗,other\n".encode(), "cases.csv")
