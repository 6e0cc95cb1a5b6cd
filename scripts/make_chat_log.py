"""A synthetic chat log for measuring `kefu qc`: random but seeded, realistic Chinese shop conversations.

    .venv/bin/python scripts/make_chat_log.py /tmp/chats.jsonl --mb 10
    .venv/bin/python scripts/make_chat_log.py /tmp/chats.csv --mb 1 --seed 7
    .venv/bin/python scripts/make_chat_log.py /tmp/qianniu.txt --conversations 200
    .venv/bin/python scripts/make_chat_log.py /tmp/pairs.jsonl --from-pairs corpus/training/inspection_dev*.jsonl

JSONL and CSV come in time order with conversations overlapping (about 25 at once), as a shop's
export does; the text form is a 千牛-style export, one "----会话: id----" block per conversation.
About one reply in seven breaks a rule (rude, shouting, absolute promises, placeholders, no
apology to a complaint), some conversations end with the buyer unanswered, a few are unattended.
Memory stays flat: only the conversations under way are held. Keep the output out of the repo.

--from-pairs turns judged (message, reply) pairs, such as the inspection tuning sets, into one short
conversation each: texts that never repeat, for timing the models without the encoder cache's help.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import io
import json
import random
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

AGENTS = [f"暖暖旗舰店:{name}" for name in ("小美", "小王", "阿杰", "小雨", "婷婷", "大刘", "小周", "菲菲")]
PRODUCTS = ["外套", "羽绒服", "卫衣", "牛仔裤", "连衣裙", "运动鞋", "保温杯", "电热毯", "加湿器", "面霜"]
SIZES = ["S", "M", "L", "XL", "XXL"]
GREETINGS = ["您好，欢迎光临暖暖旗舰店！", "亲，您好，", "您好，我是客服{agent}，", "您好呀，"]
CLOSINGS = ["有问题随时联系我们，祝您购物愉快～", "感谢您的支持，祝您生活愉快！", "还有其他问题随时找我哦，祝您购物愉快",
            "期待您的再次光临～"]
OPENERS = ["在吗", "你好", "有人吗", "亲在吗", "客服在吗"]


def _size(rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    height, weight = rng.randint(150, 185), rng.randint(80, 170)
    size = SIZES[min(4, max(0, (height - 150) // 8))]
    product = rng.choice(PRODUCTS[:5])
    asks = [f"{height}身高{weight}斤穿什么码", f"这件{product}{height}的穿什么码", f"平时穿{size}，这款拍多大合适",
            f"{product}偏大还是偏小啊"]
    good = [f"{height}cm{weight}斤建议您拍{size}码，版型是正常的，请您放心选购。",
            f"这款{product}版型偏宽松，您平时穿{size}的话建议拍{size}码就可以。",
            f"根据您的身高体重，推荐您拍{size}码，如果喜欢宽松可以拍大一码。"]
    bad = ["自己看尺码表", "详情页都写了，自己看！！！", f"{size}"]
    return asks, good, bad


def _price(rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    count = rng.randint(2, 5)
    asks = ["能便宜点吗", "有优惠券吗", f"买{count}件能便宜吗", "满减怎么算的", "老顾客有优惠吗", "包邮吗"]
    good = [f"您好，现在店铺有满199减20的活动，{count}件一起拍会更划算，请您领券后下单哦。",
            "店铺首页可以领取优惠券，满99元就包邮，请您放心下单。",
            "目前价格已经是活动价了，您可以关注店铺领取会员券，下单更优惠。"]
    bad = ["不能便宜，爱买不买", "全网最低价，保证没有比我们更便宜的", "领【优惠券】就行"]
    return asks, good, bad


def _logistics(rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    days = rng.randint(3, 9)
    order = rng.randint(10**15, 10**16 - 1)
    asks = ["什么时候发货", f"订单{order}到哪了", "能发顺丰吗", f"都{days}天了还没到", "今天下单明天能到吗"]
    good = ["您好，付款后48小时内发货，发货后您可以在订单里查看物流信息。",
            f"非常抱歉让您久等了，我马上帮您联系快递核实订单{order}的物流，请您稍等。",
            "默认发中通快递，需要顺丰的话请您备注，补差价12元即可。"]
    bad = ["保证明天一定到", "快递的事我们管不了", "等着吧"]
    return asks, good, bad


def _complaint(rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    product = rng.choice(PRODUCTS)
    asks = [f"收到的{product}破了个洞", f"{product}有色差，跟图片完全不一样", f"{product}质量太差了，我要退货",
            f"{product}用了两天就坏了", "你们发错货了"]
    good = ["非常抱歉给您带来不好的体验，麻烦您拍张照片发给我，我们马上为您处理。",
            "真的很抱歉，您可以申请退换货，运费由我们承担，请您放心。",
            "给您添麻烦了，实在抱歉，我这边马上为您登记补发。"]
    bad = ["这个不是我们的问题", "你自己看清楚再说", "可以退，自己申请"]
    return asks, good, bad


def _other(rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    product = rng.choice(PRODUCTS)
    asks = [f"这个{product}是纯棉的吗", "可以开发票吗", f"{product}还有货吗", "怎么清洗", "有赠品吗"]
    good = ["您好，可以开电子普通发票，下单时请您备注抬头和税号。", f"这款{product}目前有现货，您放心拍。",
            "建议您手洗或者选择洗衣机轻柔模式，请不要暴晒。"]
    bad = ["不知道", "问这个干嘛", "随便"]
    return asks, good, bad


TOPICS = [(_size, 3), (_price, 2), (_logistics, 3), (_complaint, 2), (_other, 2)]


class LogMaker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.number = 0

    def wait(self) -> float:
        """An agent's response time in seconds: usually under a minute, sometimes minutes."""
        rng = self.rng
        return min(1800.0, rng.lognormvariate(3.2, 0.9)) if rng.random() > 0.05 else rng.uniform(300, 1500)

    def conversation(self, start: datetime) -> tuple[str, list[tuple[datetime, str, str | None, str]]]:
        """One conversation: its id and (time, role, agent, text) turns in time order."""
        rng = self.rng
        self.number += 1
        conversation_id = f"S{start:%Y%m%d}{self.number:08d}"
        agent = rng.choice(AGENTS)
        turns: list[tuple[datetime, str, str | None, str]] = []
        now = start
        if rng.random() < 0.3:
            turns.append((now, "buyer", None, rng.choice(OPENERS)))
            now += timedelta(seconds=rng.uniform(2, 20))
        if rng.random() < 0.04:  # nobody answers
            turns.append((now, "buyer", None, rng.choice(["在吗？", "有人吗？？", "人呢"])))
            return conversation_id, turns
        exchanges = rng.choice([1, 1, 2, 2, 2, 3, 4])
        for exchange in range(exchanges):
            maker = rng.choices([topic for topic, _ in TOPICS], weights=[weight for _, weight in TOPICS])[0]
            asks, good, bad = maker(rng)
            turns.append((now, "buyer", None, rng.choice(asks)))
            if rng.random() < 0.2:
                now += timedelta(seconds=rng.uniform(3, 30))
                turns.append((now, "buyer", None, rng.choice(["急", "？", "在吗", "快点回复一下"])))
            now += timedelta(seconds=self.wait())
            if exchange == 1 and rng.random() < 0.1:
                agent = rng.choice(AGENTS)  # transferred
            reply = rng.choice(bad) if rng.random() < 0.14 else rng.choice(good)
            if not turns or all(role == "buyer" for _, role, _, _ in turns):
                if rng.random() < 0.85:
                    greeting = rng.choice(GREETINGS).format(agent=agent.split(":")[-1])
                    reply = greeting + reply.removeprefix("您好，")
            turns.append((now, "agent", agent, reply))
            if rng.random() < 0.1:
                now += timedelta(seconds=rng.uniform(5, 40))
                turns.append((now, "agent", agent, rng.choice(["还有什么可以帮您的吗？", "请问还在吗？"])))
            now += timedelta(seconds=rng.uniform(10, 120))
        ending = rng.random()
        if ending < 0.1:
            turns.append((now, "buyer", None, rng.choice(["好的", "嗯嗯", "那我再看看"])))
        elif ending < 0.85:
            turns.append((now, "buyer", None, rng.choice(["好的谢谢", "知道了，谢谢", "好的，那我下单了"])))
            now += timedelta(seconds=self.wait() / 3)
            closing = rng.choice(CLOSINGS) if rng.random() < 0.85 else "好的"
            turns.append((now, "agent", agent, ("不客气，" if rng.random() < 0.5 else "") + closing))
        return conversation_id, turns

    def timeline(self) -> Iterator[tuple[datetime, str, str, str | None, str]]:
        """Every message of endless overlapping conversations, in time order (a heap of those under way)."""
        start = datetime(2026, 11, 30, 8, 0, 0)
        pending: list[tuple[datetime, int, str, str, str | None, str]] = []
        order = 0
        while True:
            start += timedelta(seconds=self.rng.expovariate(1 / 8))  # a new conversation every 8 s on average
            while pending and pending[0][0] <= start:
                time, _, conversation_id, role, agent, text = heapq.heappop(pending)
                yield time, conversation_id, role, agent, text
            conversation_id, turns = self.conversation(start)
            for time, role, agent, text in turns:
                order += 1
                heapq.heappush(pending, (time, order, conversation_id, role, agent, text))


def write(path: Path, log_format: str, *, megabytes: float | None, conversations: int | None, seed: int) -> int:
    maker = LogMaker(seed)
    limit = int(megabytes * 1_000_000) if megabytes else None
    written = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        if log_format == "text":
            start = datetime(2026, 11, 30, 8, 0, 0)
            count = 0
            while (limit is None or written < limit) and (conversations is None or count < conversations):
                start += timedelta(seconds=maker.rng.expovariate(1 / 8))
                conversation_id, turns = maker.conversation(start)
                count += 1
                block = [f"----会话: {conversation_id}----"]
                buyer = f"tb_{maker.rng.randint(10**6, 10**7)}"
                for time, _role, agent, text in turns:
                    block.append(f"{agent or buyer} {time:%Y-%m-%d %H:%M:%S}")
                    block.append(text)
                chunk = "\n".join(block) + "\n\n"
                handle.write(chunk)
                written += len(chunk.encode("utf-8"))
            return written
        seen: set[str] = set()
        if log_format == "csv":
            header = "会话ID,时间,角色,客服,内容\n"
            handle.write(header)
            written += len(header.encode("utf-8"))
        for time, conversation_id, role, agent, text in maker.timeline():
            if conversations is not None and conversation_id not in seen:
                if len(seen) >= conversations:
                    break
                seen.add(conversation_id)
            if log_format == "jsonl":
                record = {"conversation": conversation_id, "time": f"{time:%Y-%m-%d %H:%M:%S}", "role": role,
                          "text": text}
                if agent:
                    record["agent"] = agent
                line = json.dumps(record, ensure_ascii=False) + "\n"
            else:
                buffer = io.StringIO()
                csv.writer(buffer, lineterminator="\n").writerow(
                    [conversation_id, f"{time:%Y-%m-%d %H:%M:%S}", "买家" if role == "buyer" else "客服", agent or "",
                     text])
                line = buffer.getvalue()
            handle.write(line)
            written += len(line.encode("utf-8"))
            if limit is not None and written >= limit:
                break
    return written


def write_pairs(path: Path, sources: list[Path], seed: int) -> int:
    """One conversation per (message, reply) pair: the buyer asks, an agent answers after a random wait."""
    rng = random.Random(seed)
    pairs = []
    for source in sources:
        for line in source.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                if record.get("reply"):
                    pairs.append((record["message"], record["reply"]))
    rng.shuffle(pairs)
    start = datetime(2026, 11, 30, 8, 0, 0)
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        for number, (message, reply) in enumerate(pairs, start=1):
            start += timedelta(seconds=rng.expovariate(1 / 60))
            answered = start + timedelta(seconds=rng.lognormvariate(3.2, 0.9))
            for time, role, text in ((start, "buyer", message), (answered, "agent", reply)):
                record = {"conversation": f"P{number:05d}", "time": f"{time:%Y-%m-%d %H:%M:%S}", "role": role,
                          "text": text}
                if role == "agent":
                    record["agent"] = rng.choice(AGENTS)
                line = json.dumps(record, ensure_ascii=False) + "\n"
                handle.write(line)
                written += len(line.encode("utf-8"))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     epilog="example: python scripts/make_chat_log.py /tmp/chats.jsonl --mb 10")
    parser.add_argument("path", type=Path, help="where to write (.jsonl, .csv or .txt); keep it out of the repo")
    parser.add_argument("--mb", type=float, default=None, help="stop after about this many megabytes")
    parser.add_argument("--conversations", type=int, default=None, help="stop after this many conversations")
    parser.add_argument("--seed", type=int, default=12, help="the random seed (default 12)")
    parser.add_argument("--from-pairs", type=Path, nargs="+", metavar="JSONL",
                        help="JSONL files of {message, reply}: one conversation per pair (JSONL output only)")
    args = parser.parse_args(argv)
    if args.from_pairs:
        written = write_pairs(args.path, args.from_pairs, args.seed)
        print(f"wrote {written / 1e6:.2f} MB to {args.path}", file=sys.stderr)
        return 0
    if args.mb is None and args.conversations is None:
        parser.error("give --mb or --conversations")
    suffix = args.path.suffix.lower()
    log_format = {".jsonl": "jsonl", ".csv": "csv", ".txt": "text"}.get(suffix)
    if log_format is None:
        parser.error("the path must end in .jsonl, .csv or .txt")
    written = write(args.path, log_format, megabytes=args.mb, conversations=args.conversations, seed=args.seed)
    print(f"wrote {written / 1e6:.1f} MB to {args.path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
