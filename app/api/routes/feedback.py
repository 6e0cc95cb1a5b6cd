"""/v1/feedback: what agents did with the suggestions (recorded), and the shop's figures from it."""

from __future__ import annotations

import logging
import threading
import time

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api.dependencies import (
    ERROR_RESPONSES,
    JSONBodyRoute,
    authorize,
    check_length,
    current_settings,
    editor,
    request_shop,
)
from app.api.errors import ApiError
from app.api.responses import JSONResponse
from app.api.schemas import FeedbackIn, FeedbackOut, FeedbackStatsOut, LearntChangeOut, LearntIn, LearntOut
from app.config import Settings
from app.errors import CorpusError, KefuError
from app.feedback import NO_PRIOR, AcceptancePrior, FeedbackEvent, FeedbackStore, feedback_stats
from app.feedback.learning import question_key, shop_questions, with_examples
from app.library.live import ShopLibrary
from app.tokens import Principal

log = logging.getLogger(__name__)
feedback = APIRouter(prefix="/v1", route_class=JSONBodyRoute, dependencies=[Depends(authorize)],
                     responses=ERROR_RESPONSES, tags=["feedback"])
PRIOR_SECONDS = 30.0  # how long a shop's acceptance prior is used before it is counted again


class PriorCache:
    """Each shop's acceptance prior, counted by the database at most every PRIOR_SECONDS. A feedback
    store that cannot be read gives no prior: replies never fail for want of feedback."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._priors: dict[str, tuple[float, AcceptancePrior]] = {}

    def fresh(self, shop: str) -> AcceptancePrior | None:
        """The shop's prior if it was counted less than PRIOR_SECONDS ago (no database call), else None."""
        found = self._priors.get(shop)
        if found is not None and time.monotonic() - found[0] < PRIOR_SECONDS:
            return found[1]
        return None

    def get(self, request: Request, shop: str) -> AcceptancePrior:
        prior = self.fresh(shop)
        if prior is not None:
            return prior
        with self._lock:
            prior = self.fresh(shop)  # counted by another thread while this one waited
            if prior is not None:
                return prior
            now = time.monotonic()
            try:
                prior = AcceptancePrior.from_counts(feedback_store(request).acceptance(shop))
            except KefuError:
                log.warning("no acceptance prior for shop %s: the feedback store cannot be read", shop)
                prior = NO_PRIOR
            self._priors[shop] = (now, prior)
            return prior


async def acceptance_prior(request: Request, shop: str = Depends(request_shop)) -> AcceptancePrior:
    # On the event loop while the count is fresh; counting asks the database, so in the threadpool.
    priors: PriorCache = request.app.state.priors
    prior = priors.fresh(shop)
    return prior if prior is not None else await run_in_threadpool(priors.get, request, shop)


def feedback_store(request: Request) -> FeedbackStore:
    """The app's shop database, opened (and migrated) on first use: a database that is down makes
    /v1/feedback answer 503 feedback_unavailable, never the replies."""
    return request.app.state.database.get()


@feedback.post("/feedback", response_model=FeedbackOut, status_code=201, summary="Record what agents did with suggestions")
def record(body: FeedbackIn, store: FeedbackStore = Depends(feedback_store),
           settings: Settings = Depends(current_settings), shop: str = Depends(request_shop)) -> Response:
    """One event per suggestion shown: copied, sent, edited (with sent_text) or ignored, recorded for the
    request's shop (its token's). All or none are kept."""
    batch = []
    for item in body.events:
        check_length("message", item.message, settings.max_message_chars)
        if item.sent_text is not None:
            check_length("sent_text", item.sent_text, settings.max_message_chars)
        batch.append(FeedbackEvent(shop=shop, **item.model_dump()))
    return JSONResponse({"recorded": store.record(batch)}, status_code=201)


@feedback.get("/feedback/stats", response_model=FeedbackStatsOut, summary="Acceptance, edits and gaps from feedback")
def stats(top: int = Query(20, ge=1, le=200, description="rows of edits and gaps"),
          store: FeedbackStore = Depends(feedback_store), principal: Principal = Depends(editor),
          shop: str = Depends(request_shop)) -> Response:
    """The token's shop only (an editor's token): acceptance by template and scenario, the edits agents
    make most, and frequent messages nothing answered."""
    return JSONResponse({"shop": shop, **feedback_stats(store.read(shop), top=top)})


def _library(request: Request, shop: str) -> ShopLibrary:
    return request.app.state.library.library(shop)


@feedback.get("/feedback/learnt", response_model=LearntOut, summary="Buyer messages to learn as templates' examples")
def learnt(request: Request, limit: int = Query(50, ge=1, le=500), store: FeedbackStore = Depends(feedback_store),
           principal: Principal = Depends(editor), shop: str = Depends(request_shop)) -> Response:
    """Messages agents answered with a template that does not yet have them as examples (app/feedback/learning.py),
    the ones where agents passed over kefu's first suggestion first. An editor accepts or dismisses each."""
    found = shop_questions(store, shop, _library(request, shop).view(), limit=limit)
    return JSONResponse({"shop": shop, "proposals": [question.as_dict() for question in found]})


@feedback.post("/feedback/learnt", response_model=LearntChangeOut, summary="Accept or dismiss learnt questions")
def decide(body: LearntIn, request: Request, store: FeedbackStore = Depends(feedback_store),
           principal: Principal = Depends(editor), shop: str = Depends(request_shop)) -> Response:
    """accept: the messages join the template's examples, a change of the library like any other (the audit log
    names the editor; served within seconds). Adding examples commutes with other edits, so no If-Match: the
    template is changed at the version just read, and a change landing in between gives 412 (try again).
    dismiss: the messages are not proposed for this template again."""
    library = _library(request, shop)
    current = library.template(body.template_id)  # 404 for a template the shop does not have
    if body.action == "dismiss":
        keys = [(body.template_id, question_key(message)) for message in body.messages]
        dismissed = store.dismiss(shop, keys, principal.name)
        return JSONResponse({"template_id": body.template_id, "added": 0, "dismissed": dismissed, "version": None})
    changed = with_examples(current.body, body.messages)
    added = len(changed["examples"]) - len(current.body["examples"])
    if not added:
        return JSONResponse({"template_id": body.template_id, "added": 0, "dismissed": 0, "version": current.version})
    try:
        item = library.replace(body.template_id, changed, current.version, principal.name)
    except CorpusError as exc:  # a message no example may be (the library's own checks)
        raise ApiError(422, "invalid_template", exc.message, exc.details) from None
    request.app.state.library.poke()
    return JSONResponse({"template_id": body.template_id, "added": added, "dismissed": 0, "version": item.version})
