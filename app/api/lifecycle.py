"""The service's lifecycle in the API: loaded once, in a background thread, its state readable at any time;
the shop database opened on first use; the library kept at the database's revision (live edits)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from app.api.errors import ApiError
from app.config import Settings
from app.errors import KefuError
from app.feedback.store import FeedbackStore
from app.library.live import LibraryServer, ShopLibrary
from app.library.store import LibraryStore
from app.service import KefuService

log = logging.getLogger(__name__)

ServiceFactory = Callable[[Settings], KefuService]
POLL_SECONDS = 2.0  # how often a server asks the shop database whether another replica changed the library


def load_service(settings: Settings) -> KefuService:
    return KefuService.load(settings, progress=log.info)


class ServiceLoader:
    """Loads the service once, in a background thread, and says what state it is in."""

    def __init__(self, settings: Settings, factory: ServiceFactory,
                 prepare: Callable[[KefuService], KefuService] = lambda service: service) -> None:
        self._settings = settings
        self._factory = factory
        self.prepare = prepare  # what the loaded service becomes before it serves (the library's edits applied)
        self._thread: threading.Thread | None = None
        # Assigned by the loading thread, then replaced whole by the library's reloader when editors change
        # the library: a request takes it once (`require`) and runs on that one.
        self.base: KefuService | None = None  # the service as the index built it
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
            self.base = service
            service = self.prepare(service)
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


class Database:
    """The shop database (feedback, library edits), opened and migrated on first use: a database that is
    down fails only what needs it (503 feedback_unavailable), never the replies."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._store: FeedbackStore | None = None

    def get(self) -> FeedbackStore:
        store = self._store
        if store is None:
            with self._lock:
                if self._store is None:
                    self._store = FeedbackStore(self._url)
                store = self._store
        return store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


class LibrarySync:
    """Keeps the served library at the shop database's revision: at load (edits made before a restart are
    served from the start), at once after an edit through this server (`poke`), and within POLL_SECONDS of
    another replica's. A failed rebuild or an unreachable database keeps the library being served."""

    def __init__(self, settings: Settings, loader: ServiceLoader, database: Database) -> None:
        self._settings = settings
        self._loader = loader
        self._database = database
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one rebuild at a time
        self._library: ShopLibrary | None = None
        self._server: LibraryServer | None = None
        self._thread: threading.Thread | None = None
        self._failing = False
        self._stopped = False
        self.revision = 0  # the revision being served
        self.last_sync_seconds = 0.0

    def library(self) -> ShopLibrary:
        if self._library is None:
            self._library = ShopLibrary(self._settings.corpus_dir, self._settings.shop,
                                        LibraryStore(self._database.get()))
        return self._library

    def prepare(self, base: KefuService) -> KefuService:
        """The service to serve first: `base` with the stored edits applied (ServiceLoader calls it)."""
        if not isinstance(base, KefuService):
            return base  # a test's double of the service: nothing to rebuild
        self._server = LibraryServer(base)
        try:
            service = self._rebuild() or base
        except KefuError as exc:
            log.warning("serving the library as built: its edits could not be applied (%s)", exc.message)
            service = base
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._run, name="kefu-library-sync", daemon=True)
            self._thread.start()
        return service

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """At shutdown: no more polls of a database that is being closed."""
        self._stopped = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)  # a rebuild under way ends before its database closes

    def sync_now(self) -> bool:
        """Bring the served library to the database's revision now; True when it changed."""
        if self._server is None:
            return False
        service = self._rebuild()
        if service is None:
            return False
        self._loader.service = service
        return True

    def _run(self) -> None:
        while True:
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            if self._stopped:
                return
            try:
                self.sync_now()
                if self._failing:
                    log.info("the library is in step with the shop database again")
                self._failing = False
            except KefuError as exc:
                if not self._failing:  # once per outage, not every poll
                    log.warning("the library's edits cannot be applied now; serving revision %d (%s)",
                                self.revision, exc.message)
                self._failing = True
            except Exception:
                log.exception("the library's edits could not be applied; serving revision %d", self.revision)
                self._failing = True

    def _rebuild(self) -> KefuService | None:
        with self._lock:
            library = self.library()
            if library.store.revision(library.shop) == self.revision:
                return None
            started = time.perf_counter()
            view = library.view()
            assert self._server is not None
            service = self._server.serve(view, library.corpus_dir)
            self.revision = view.revision
            self.last_sync_seconds = time.perf_counter() - started
            log.info("serving the library at revision %d (rebuilt in %.2fs)", view.revision, self.last_sync_seconds)
            return service
