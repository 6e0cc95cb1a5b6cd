"""/v1/feedback: what agents did with the suggestions (recorded), and the shop's figures from it."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Depends, Query, Request, Response

from app.api.dependencies import (
    ERROR_RESPONSES,
    JSONBodyRoute,
    authorize,
    check_length,
    current_principal,
    current_settings,
    editor,
)
from app.api.responses import JSONResponse
from app.api.schemas import FeedbackIn, FeedbackOut, FeedbackStatsOut
from app.config import Settings
from app.feedback import FeedbackEvent, FeedbackStore, feedback_stats
from app.tokens import Principal

feedback = APIRouter(prefix="/v1", route_class=JSONBodyRoute, dependencies=[Depends(authorize)],
                     responses=ERROR_RESPONSES, tags=["feedback"])
_opening = threading.Lock()


def feedback_store(request: Request, settings: Settings = Depends(current_settings)) -> FeedbackStore:
    """The app's store, opened (and migrated) on first use: a database that is down makes /v1/feedback
    answer 503 feedback_unavailable, never the replies."""
    store = getattr(request.app.state, "feedback", None)
    if store is None:
        with _opening:
            store = getattr(request.app.state, "feedback", None)
            if store is None:
                store = request.app.state.feedback = FeedbackStore(settings.feedback_database)
    return store


@feedback.post("/feedback", response_model=FeedbackOut, status_code=201, summary="Record what agents did with suggestions")
def record(body: FeedbackIn, store: FeedbackStore = Depends(feedback_store),
           settings: Settings = Depends(current_settings), principal: Principal = Depends(current_principal)) -> Response:
    """One event per suggestion shown: copied, sent, edited (with sent_text) or ignored, recorded for the
    token's shop. All or none are kept."""
    batch = []
    for item in body.events:
        check_length("message", item.message, settings.max_message_chars)
        if item.sent_text is not None:
            check_length("sent_text", item.sent_text, settings.max_message_chars)
        batch.append(FeedbackEvent(shop=principal.shop, action=item.action, message=item.message,
                                   template_id=item.template_id, suggestion_id=item.suggestion_id,
                                   scenario=item.scenario, rank=item.rank, score=item.score,
                                   confidence=item.confidence, sent_text=item.sent_text, agent=item.agent,
                                   platform=item.platform))
    return JSONResponse({"recorded": store.record(batch)}, status_code=201)


@feedback.get("/feedback/stats", response_model=FeedbackStatsOut, summary="Acceptance, edits and gaps from feedback")
def stats(top: int = Query(20, ge=1, le=200, description="rows of edits and gaps"),
          store: FeedbackStore = Depends(feedback_store), principal: Principal = Depends(editor)) -> Response:
    """The token's shop only (an editor's token): acceptance by template and scenario, the edits agents
    make most, and frequent messages nothing answered."""
    return JSONResponse({"shop": principal.shop, **feedback_stats(store.read(principal.shop), top=top)})
