"""Health probes: /healthz (the process is up) and /readyz (the service is loaded)."""

from __future__ import annotations

import os
import socket
from typing import Any

from fastapi import APIRouter, Request

from app.api.dependencies import ERROR_RESPONSES
from app.api.schemas import HealthOut, ReadyOut

probes = APIRouter(tags=["health"])


# HEAD is answered where GET is (load balancers and uptime checkers probe with it); it stays out
# of the OpenAPI document, where it would only repeat the GET operation.
@probes.head("/healthz", include_in_schema=False)
@probes.get("/healthz", response_model=HealthOut, summary="The process is up")
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@probes.head("/readyz", include_in_schema=False)
@probes.get("/readyz", response_model=ReadyOut, responses={503: ERROR_RESPONSES[503]},
            summary="The index and model are loaded and /v1 answers")
async def readyz(request: Request) -> dict[str, Any]:
    loader = request.app.state.loader
    info = loader.require().info()
    return {
        "status": "ready",
        "model": info.model,
        "counts": {"passages": info.passages, "examples": info.examples, "templates": info.templates},
        "load_seconds": round(loader.load_seconds, 2),
        "instance": f"{socket.gethostname()}:{os.getpid()}",
        "shops": {shop: service.info().templates for shop, service in sorted(loader.services.items())},
        "shops_failed": {shop: failure.message for shop, failure in sorted(loader.shop_failures.items())},
    }


