"""Replay recorded feedback: does the acceptance prior put the suggestion agents used first more often?

    .venv/bin/python scripts/replay_feedback.py --split 2026-11-20 [--shop default]

The prior is fitted on the shop's events before the split day (UTC); every later event where an agent
used a suggestion (copied, sent or edited) is replayed: the same message through kefu without and
with the prior, and the used template's place among three suggestions is compared. Prints the share
at first place and within three, both ways. Needs recorded feedback (KEFU_FEEDBACK_URL) and an index.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", required=True, help="the first day (YYYY-MM-DD, UTC) measured; earlier days fit")
    parser.add_argument("--shop", default=None, help="the shop (default KEFU_SHOP)")
    parser.add_argument("--learn", action="store_true",
                        help="also replay the learnt questions (app/feedback/learning.py) an editor would be shown "
                             "before the split, all accepted, and only the corrections (used below first) accepted")
    args = parser.parse_args()

    from app.config import Settings
    from app.feedback import AcceptancePrior, FeedbackStore
    from app.feedback.events import ACCEPTED
    from app.replies import ReplyRequest
    from app.service import KefuService

    settings = Settings()
    shop = args.shop or settings.shop
    split = datetime.strptime(args.split, "%Y-%m-%d").replace(tzinfo=UTC)
    store = FeedbackStore(settings.feedback_database)
    earlier = list(store.read(shop, until=split))
    later = [e for e in store.read(shop, since=split) if e.action in ACCEPTED and e.template_id]
    store.close()
    if not earlier or not later:
        print(f"shop {shop}: {len(earlier)} events before {args.split}, {len(later)} used suggestions from it on; "
              "nothing to replay")
        return 1
    prior = AcceptancePrior.fit(earlier)
    service = KefuService.load(settings)
    variants = {"without prior": (service, None), "with prior": (service, prior)}
    if args.learn:
        variants["learnt, all"] = (with_learnt_examples(service, earlier, corrections_only=False), None)
        variants["learnt, corr."] = (with_learnt_examples(service, earlier, corrections_only=True), None)
    places: dict[str, list[int | None]] = {name: [] for name in variants}
    for event in later:
        request = ReplyRequest(event.message, platform=event.platform or settings.default_platform, top_k=3)
        for name, (answering, used) in variants.items():
            result = answering.reply(request) if used is None else answering.reply(request, used)
            ids = [reply.template_id for reply in result.replies if not reply.holding]
            places[name].append(ids.index(event.template_id) + 1 if event.template_id in ids else None)
    print(f"shop {shop}: prior from {len(earlier)} events ({len(prior.shifts)} templates moved); "
          f"{len(later)} used suggestions replayed")
    for name, found in places.items():
        first = sum(place == 1 for place in found) / len(found)
        three = sum(place is not None for place in found) / len(found)
        print(f"  {name:15}: used template first {first:.1%}, within three {three:.1%}")
    return 0


def with_learnt_examples(service, events, *, corrections_only: bool):
    """The service over the library as it would be once an editor accepted the learnt questions the events
    give (all of them, or only those agents chose over kefu's first suggestion)."""
    from app.feedback.learning import learnt_questions, with_examples
    from app.library.live import BUILT, EDITED, Item, LibraryServer, LibraryView, built_entries, built_profile
    from app.library.store import PROFILE, PROFILE_ID, TEMPLATE

    corpus_dir = service.settings.corpus_dir
    entries = built_entries(corpus_dir)
    learnt: dict[str, list[str]] = {}
    for question in learnt_questions(events, {key: body["examples"] for key, body in entries.items()}):
        if question.corrections or not corrections_only:
            learnt.setdefault(question.template_id, []).append(question.message)
    print(f"  learnt questions accepted ({'corrections only' if corrections_only else 'all'}): "
          f"{sum(map(len, learnt.values()))} for {len(learnt)} templates")
    items = [Item(TEMPLATE, template_id, with_examples(body, learnt[template_id]), 1, EDITED) if template_id in learnt
             else Item(TEMPLATE, template_id, body, 0, BUILT) for template_id, body in entries.items()]
    profile = Item(PROFILE, PROFILE_ID, built_profile(corpus_dir), 0, BUILT)
    return LibraryServer(service).serve(LibraryView(1, items, profile), corpus_dir)


if __name__ == "__main__":
    sys.exit(main())
