"""Measure suggestions on real JD buyer messages against a blind judge's verdicts (issue 11's real targets).

    .venv/bin/python scripts/eval_real.py [--messages ../shared/realdata/jd_buyer_messages_dev.jsonl]
                                          [--verdicts corpus/eval/realdata_verdicts.jsonl] [--out FILE]

The real messages live outside the repository (../shared/realdata, never training data and never
tuned on); their verdicts (which templates are sendable, acceptable or never for each message, and
whether the message asks anything) are stored by message id in corpus/eval/realdata_verdicts.jsonl,
written by a helper who saw the library and the messages but never kefu's output. Prints kefu eval's
judged figures and the three real-message targets: harmful top suggestion, top sendable where kefu
answers, and how often it abstains on messages that ask something.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.console import quiet_libraries  # noqa: E402

quiet_libraries()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=Path, default=ROOT.parent / "shared/realdata/jd_buyer_messages_dev.jsonl")
    parser.add_argument("--verdicts", type=Path, default=ROOT / "corpus/eval/realdata_verdicts.jsonl")
    parser.add_argument("--out", type=Path, help="one JSON line per message, as kefu eval --out writes")
    args = parser.parse_args()
    if not args.messages.is_file():
        parser.error(f"no real messages at {args.messages}")

    from app.config import Settings
    from app.evaluation.cases import parse_records
    from app.evaluation.runner import evaluate
    from app.service import KefuService

    verdicts = {}
    for line in args.verdicts.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            verdicts[record["id"]] = record
    records, asks = [], []
    for line in args.messages.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        message = json.loads(line)
        judged = verdicts.get(message["id"])
        if judged is None:
            continue
        records.append({"id": message["id"], "message": message["message"], "platform": "jd",
                        "scenario": message.get("scenario"), "also": message.get("also") or [],
                        **{name: judged[name] for name in ("sendable", "acceptable", "never")}})
        asks.append(bool(judged["asks"]))
    service = KefuService.load(Settings())
    summary, results = evaluate(service, parse_records(records, default_platform="jd"))
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results), encoding="utf-8")
    asking = {records[i]["id"] for i, flag in enumerate(asks) if flag}
    by_id = {r["id"]: r for r in results}
    answered = [r for r in results if not r["needs_human"]]
    top = [r.get("top_verdict") for r in answered]

    def share(part: int, whole: int) -> str:
        return f"{part / whole:.1%} ({part} of {whole})" if whole else "n/a"

    judged = summary["replies"]["judged"]
    print(f"{len(results)} real JD messages judged blind ({len(asking)} ask something); skipped {len(summary['skipped'])}")
    print(f"top sendable {judged['hit_at_1']:.1%}  one of three {judged['hit_at_3']:.1%}  "
          f"answerable only: top {judged['hit_at_1_answerable']:.1%}, one of three {judged['hit_at_3_answerable']:.1%}")
    print(f"target: harmful top suggestion <= 10%:            {share(sum(v == 'never' for v in top), len(results))}")
    print(f"target: top sendable where kefu answers >= 75%:   {share(sum(v == 'sendable' for v in top), len(answered))}")
    abstained = sum(by_id[i]["needs_human"] for i in asking if i in by_id)
    print(f"target: abstains on <= 30% of messages that ask:  {share(abstained, len(asking))}")
    print(f"abstention precision {judged['abstention_precision']}  recall {judged['abstention_recall']} "
          f"(should abstain: {judged['should_abstain']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
