"""Dev chore: `kefu qc` full mode (the service's models) beside the encoder's batch throughput, in one run.

Prints the encoder's batch-32 throughput (as `kefu bench` measures it, on short buyer messages), then
the full mode's replies a second over the log (loading excluded) with the service's encoder cache as
configured and with no cache, the texts the encoder saw, the encoder alone on exactly those texts in
batches of 32 (the full mode's ceiling), and the fast mode over the same log. Needs `kefu build`.
Run: .venv/bin/python scripts/measure_qc.py /tmp/chats.jsonl   (make one with scripts/make_chat_log.py)
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.bench import BenchOptions, load_messages, measure_encoder  # noqa: E402
from app.config import Settings  # noqa: E402
from app.console import quiet_libraries  # noqa: E402
from app.inspection import ReplyInspector  # noqa: E402
from app.inspection.conversations import ChatLogReader, ConversationAssembler, detect_format  # noqa: E402
from app.inspection.qc import ConversationInspector, QcTally, RuleJudge, ServiceJudge, inspect_log  # noqa: E402
from app.service import KefuService  # noqa: E402


class CountingEmbedder:
    """The real encoder, counting the texts it is asked to encode."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.seen: list[str] = []

    @property
    def texts(self) -> int:
        return len(self.seen)

    def encode(self, texts):
        self.seen += texts
        return self.inner.encode(texts)


def run(path: Path, judge) -> tuple[float, QcTally]:
    tally = QcTally()
    with open(path, "rb") as stream:
        reader = ChatLogReader(stream, detect_format(path.name, b""))
        started = time.perf_counter()
        inspect_log(reader, ConversationInspector(judge), tally, assembler=ConversationAssembler())
    return time.perf_counter() - started, tally


def main() -> None:
    quiet_libraries()
    path = Path(sys.argv[1])
    settings = Settings()
    encoder, embedder = measure_encoder(settings, load_messages(settings.corpus_dir), BenchOptions(),
                                        lambda message: None)
    print(f"encoder batch-32: {encoder['batch_per_s']} messages/s ({encoder['backend']})")
    for cache in (settings.encoder_cache_size, 0):
        counting = CountingEmbedder(embedder)
        service = KefuService.load(settings.model_copy(update={"encoder_cache_size": cache}), embedder=counting)
        spent, tally = run(path, ServiceJudge(service))
        rate = tally.replies / spent
        print(f"full mode, encoder cache {cache}: {tally.replies} replies in {spent:.1f} s = {rate:.1f} replies/s "
              f"({rate / encoder['batch_per_s']:.2f} x encoder); {counting.texts} texts encoded "
              f"({counting.texts / spent:.1f} texts/s, {counting.texts / max(tally.replies, 1):.2f} per reply)")
        if cache == 0:
            started = time.perf_counter()
            for at in range(0, len(counting.seen), 32):
                embedder.encode(counting.seen[at : at + 32])
            alone = counting.texts / (time.perf_counter() - started)
            print(f"encoder alone on the same {counting.texts} texts, batches of 32: {alone:.1f} texts/s; the full "
                  f"mode runs at {counting.texts / spent / alone:.2f} x that ceiling")
    spent, tally = run(path, RuleJudge(ReplyInspector.load(settings.corpus_dir)))
    print(f"fast mode: {tally.replies} replies in {spent:.2f} s = {tally.replies / spent:.0f} replies/s")


if __name__ == "__main__":
    main()
