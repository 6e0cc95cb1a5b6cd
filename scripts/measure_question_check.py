"""Dev chore: inspection agreement on labelled sets with and without the relevance rule's question check.

    .venv/bin/python scripts/measure_question_check.py corpus/training/inspection_dev.jsonl ...

Runs `kefu eval`'s runner twice per set, the second time with QuestionCheck.left_open finding nothing
(the rule's other three signals unchanged). Needs `kefu build`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.console import quiet_libraries  # noqa: E402

quiet_libraries()

from app.config import Settings  # noqa: E402
from app.evaluation.cases import read_cases  # noqa: E402
from app.evaluation.runner import evaluate  # noqa: E402
from app.inspection.questions import QuestionCheck  # noqa: E402
from app.service import KefuService  # noqa: E402


def main() -> int:
    service = KefuService.load(Settings())
    checked = QuestionCheck.left_open
    for name in sys.argv[1:]:
        parsed = read_cases(Path(name).read_bytes(), name)
        with_check = evaluate(service, parsed)[0]["inspection"]["agreement"]
        QuestionCheck.left_open = lambda self, asked, reply: []  # type: ignore[method-assign]
        try:
            without = evaluate(service, parsed)[0]["inspection"]["agreement"]
        finally:
            QuestionCheck.left_open = checked  # type: ignore[method-assign]
        print(f"{name}: agreement {with_check} with the question check, {without} without")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
