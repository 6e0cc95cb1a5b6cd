"""Many labelled cases in shards, for timing and comparing `kefu eval` engines at scale (issue 14).

    .venv/bin/python scripts/make_eval_shards.py /tmp/shards --cases 100000 --shards 10

The tuning sets' cases (scenario bank, inspection and sendable tuning sets) are cycled, each pass
giving the message another opening or ending a buyer might type (亲, 在吗, 你好, ？, 呢...) so that
most texts are new to the encoder's cache; labels are kept. Seeded; keep the output out of the repo.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("scenario_bank.jsonl", "inspection_dev.jsonl", "inspection_dev2.jsonl", "inspection_dev3.jsonl",
           "sendable_dev.jsonl")
OPENINGS = ("", "亲，", "在吗 ", "你好，", "老板 ", "请问", "hi ", "客服 ", "那个", "哎 ")
ENDINGS = ("", "？", "呢", "啊", "。", "~", "!", "哈", "呀", " 谢谢")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="where the shards go (created); keep it out of the repo")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    base = [json.loads(line) for name in SOURCES
            for line in (REPO / "corpus" / "training" / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(args.seed)
    args.folder.mkdir(parents=True, exist_ok=True)
    per_shard = -(-args.cases // args.shards)
    written = 0
    for shard in range(args.shards):
        with open(args.folder / f"shard-{shard:05d}.jsonl", "w", encoding="utf-8") as out:
            for _ in range(min(per_shard, args.cases - written)):
                case = dict(base[written % len(base)])
                case["message"] = rng.choice(OPENINGS) + case["message"] + rng.choice(ENDINGS)
                case["id"] = f"{case.get('id', 'case')}-{written}"
                out.write(json.dumps(case, ensure_ascii=False) + "\n")
                written += 1
    print(f"{written} cases from {len(base)} in {args.shards} shards under {args.folder}")


if __name__ == "__main__":
    main()
