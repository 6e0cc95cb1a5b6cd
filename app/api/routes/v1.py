"""The /v1 endpoints (behind the token): reply, classify, search, inspect, evaluate, vocabulary."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api.dependencies import (
    ERROR_RESPONSES,
    JSONBodyRoute,
    authorize,
    check_length,
    current_settings,
    ready_service,
)
from app.api.responses import JSONResponse
from app.api.routes.feedback import acceptance_prior
from app.api.schemas import (
    ClassifyIn,
    EvaluateIn,
    EvaluationOut,
    InspectIn,
    InspectionOut,
    NameOut,
    ReplyIn,
    ReplyOut,
    ScenarioOut,
    SearchIn,
    SearchOut,
    VocabularyOut,
)
from app.config import Settings
from app.evaluation.cases import parse_records
from app.evaluation.runner import evaluate
from app.feedback.prior import AcceptancePrior
from app.replies import InspectionRequest
from app.service import KefuService
from app.vocabulary import PLATFORM_NAMES_ZH, PLATFORMS, SCENARIO_NAMES_ZH, SCENARIOS

EVALUATE_BATCH = 16  # small batches: the budget and a client's leaving are checked between them
DISCONNECT_POLL_SECONDS = 0.25

v1 = APIRouter(prefix="/v1", route_class=JSONBodyRoute, dependencies=[Depends(authorize)], responses=ERROR_RESPONSES)


# Plain `def` routes: FastAPI runs them in its threadpool, so a CPU-bound encoding never blocks
# the event loop that answers /healthz and /readyz.
@v1.post("/reply", response_model=ReplyOut, tags=["replies"], summary="Suggested replies for a buyer message")
def reply(body: ReplyIn, service: KefuService = Depends(ready_service),
          settings: Settings = Depends(current_settings),
          prior: AcceptancePrior = Depends(acceptance_prior)) -> Response:
    """The buyer's scenario and the best template replies, etiquette applied; the same JSON as
    `kefu reply --json`, ranked with the token's shop's acceptance of each template once agents'
    feedback says enough (app/feedback/prior.py)."""
    check_length("message", body.message, settings.max_message_chars)
    result = service.reply(body.to_request(settings.default_platform), prior)
    # An id per answer, so that feedback on its suggestions can say which answer they were in.
    return JSONResponse({"suggestion_id": uuid.uuid4().hex, **result.as_dict()})


@v1.post("/classify", response_model=ScenarioOut, tags=["replies"], summary="The scenario of a buyer message")
def classify(body: ClassifyIn, service: KefuService = Depends(ready_service),
             settings: Settings = Depends(current_settings)) -> Response:
    check_length("message", body.message, settings.max_message_chars)
    return JSONResponse(service.classify(body.message).as_dict())


@v1.post("/search", response_model=SearchOut, tags=["replies"], summary="Templates and handbook passages for a query")
def search(body: SearchIn, service: KefuService = Depends(ready_service),
           settings: Settings = Depends(current_settings)) -> Response:
    check_length("query", body.query, settings.max_message_chars)
    return JSONResponse({"results": service.search(body.query, body.top_k).as_records()})


@v1.post("/inspect", response_model=InspectionOut, tags=["quality"],
         summary="Quality inspection (质检) of an agent's reply")
def inspect(body: InspectIn, service: KefuService = Depends(ready_service),
            settings: Settings = Depends(current_settings)) -> Response:
    """`ok`, a 0-100 score and findings [{rule, severity, detail, span}]; the same as `kefu inspect --json`."""
    check_length("message", body.message, settings.max_message_chars)
    item = InspectionRequest(body.message, body.reply, body.platform or settings.default_platform,
                             body.position_or_default())
    if body.fast:
        return JSONResponse(service.inspect_fast(item).as_dict())
    return JSONResponse(service.inspect_many([item])[0].as_dict())


@v1.post("/evaluate", response_model=EvaluationOut, tags=["quality"],
         summary="Batch evaluation: the same summary as `kefu eval --json`")
async def evaluate_cases(request: Request, body: EvaluateIn, service: KefuService = Depends(ready_service),
                         settings: Settings = Depends(current_settings)) -> Response:
    """A bounded job: up to 5,000 cases, each within the message limit, for at most
    KEFU_EVALUATE_SECONDS; it stops early when the client goes. A stopped run still answers with what
    it evaluated, and says why it stopped (`stopped`, `not_evaluated`). Big batches: `kefu eval`."""
    parsed = parse_records(body.cases, default_platform=settings.default_platform, max_chars=settings.max_message_chars)
    deadline = time.monotonic() + settings.evaluate_seconds
    gone = threading.Event()

    def stop() -> str | None:
        if gone.is_set():
            return "the client went away"
        if time.monotonic() > deadline:
            return (f"the time budget of {settings.evaluate_seconds:g} s (KEFU_EVALUATE_SECONDS) ran out; "
                    "evaluate big batches with `kefu eval`")
        return None

    # The run works in a thread (the encoder, outside the event loop); meanwhile the loop watches the
    # client, so a run nobody waits for stops at its next batch instead of computing on.
    job = asyncio.ensure_future(run_in_threadpool(evaluate, service, parsed, batch_size=EVALUATE_BATCH, stop=stop))
    while not job.done():
        await asyncio.wait({job}, timeout=DISCONNECT_POLL_SECONDS)
        if not job.done() and await request.is_disconnected():
            gone.set()
    summary, _ = job.result()
    return JSONResponse(summary)


@v1.get("/vocabulary", response_model=VocabularyOut, tags=["replies"],
        summary="The scenarios and platforms, with their Chinese names")
def vocabulary(settings: Settings = Depends(current_settings)) -> VocabularyOut:
    """What the side panel shows in its menus and labels: one source, app/vocabulary.py."""
    return VocabularyOut(
        scenarios=[NameOut(id=name, zh=SCENARIO_NAMES_ZH[name]) for name in SCENARIOS],
        platforms=[NameOut(id=name, zh=PLATFORM_NAMES_ZH[name]) for name in PLATFORMS],
        default_platform=settings.default_platform,
    )


