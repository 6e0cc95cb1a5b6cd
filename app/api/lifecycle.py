"""The service's lifecycle in the API: loaded once, in a background thread, its state readable at any time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from app.api.errors import ApiError
from app.config import Settings
from app.errors import KefuError
from app.service import KefuService

log = logging.getLogger(__name__)

ServiceFactory = Callable[[Settings], KefuService]


def load_service(settings: Settings) -> KefuService:
    return KefuService.load(settings, progress=log.info)


class ServiceLoader:
    """Loads the service once, in a background thread, and says what state it is in."""

    def __init__(self, settings: Settings, factory: ServiceFactory) -> None:
        self._settings = settings
        self._factory = factory
        self._thread: threading.Thread | None = None
        # Each is assigned once, by the loading thread; readers only look, so no lock is needed.
        self.service: KefuService | None = None
        self.failure: ApiError | None = None
        self.load_seconds = 0.0

    def start(self) -> None:
        if self._thread is None:
            # A daemon: shutting down mid-load must not wait for the model to finish loading.
            self._thread = threading.Thread(target=self._load, name="kefu-service-load", daemon=True)
            self._thread.start()

    def require(self) -> KefuService:
        """The loaded service, or an ApiError (503) saying why there is none yet."""
        if self.service is not None:
            return self.service
        if self.failure is not None:  # a fresh exception each time: a shared one would grow its traceback
            failure = self.failure
            raise ApiError(failure.status, failure.code, failure.message, failure.details)
        raise ApiError(503, "not_ready", "the index and model are still loading; retry in a few seconds",
                       headers={"Retry-After": "5"})

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            service = self._factory(self._settings)
        except KefuError as exc:
            log.error("the service did not load: %s", exc.message)
            self.failure = ApiError(503, exc.code, exc.message, exc.details)
        except Exception:
            log.exception("the service failed to load")
            self.failure = ApiError(503, "internal", "the service failed to load; the reason is in the server's log")
        else:
            self.load_seconds = time.perf_counter() - started
            log.info("ready in %.1fs", self.load_seconds)
            self.service = service
