"""The service's lifecycle in the API: loaded once, in a background thread, its state readable at any time;
the shop database opened on first use; the library kept at the database's revision (live edits)."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.api.errors import ApiError
from app.config import Settings
from app.errors import KefuError
from app.feedback.store import FeedbackStore
from app.library.live import LibraryServer, ShopLibrary
from app.library.store import LibraryStore
from app.service import KefuService
from app.shops import load_shop, shop_ids

log = logging.getLogger(__name__)

ServiceFactory = Callable[[Settings], KefuService]
POLL_SECONDS = 2.0  # how often a server asks the shop database whether another replica changed the library


def load_service(settings: Settings) -> KefuService:
    return KefuService.load(settings, progress=log.info)


class ServiceLoader:
    """Loads the services once, in a background thread (the bundled shop's from its index, then every other
    shop's over it, app/shops.py), and says what state each is in. A shop whose index is missing or stale
    is refused on its own; the others serve."""

    def __init__(self, settings: Settings, factory: ServiceFactory,
                 prepare: Callable[[str, KefuService], KefuService] = lambda shop, service: service) -> None:
        self._settings = settings
        self._factory = factory
        self.prepare = prepare  # what a shop's loaded service becomes before it serves (its edits applied)
        self._thread: threading.Thread | None = None
        # Assigned by the loading thread, then replaced whole by the library's reloader when editors change
        # a library: a request takes its shop's service once (`require`) and runs on that one.
        self.services: dict[str, KefuService] = {}
        self.shop_failures: dict[str, ApiError] = {}
        self.failure: ApiError | None = None
        self.loaded = False
        self.load_seconds = 0.0

    @property
    def service(self) -> KefuService | None:
        """The bundled shop's service (None until loaded)."""
        return self.services.get(self._settings.shop)

    def start(self) -> None:
        if self._thread is None:
            # A daemon: shutting down mid-load must not wait for the model to finish loading.
            self._thread = threading.Thread(target=self._load, name="kefu-service-load", daemon=True)
            self._thread.start()

    def require(self, shop: str | None = None) -> KefuService:
        """The shop's loaded service (the bundled shop's by default), or an ApiError saying why there is none."""
        shop = shop or self._settings.shop
        found = self.services.get(shop)
        if found is not None:
            return found
        failure = self.failure or self.shop_failures.get(shop)
        if failure is not None:  # a fresh exception each time: a shared one would grow its traceback
            raise ApiError(failure.status, failure.code, failure.message, failure.details)
        if self.loaded:
            raise ApiError(404, "not_found", f"this server has no shop {shop!r}; it serves "
                                             f"{', '.join(sorted(self.services))}")
        raise ApiError(503, "not_ready", "the index and model are still loading; retry in a few seconds",
                       headers={"Retry-After": "5"})

    def replace(self, shop: str, service: KefuService) -> None:
        self.services = {**self.services, shop: service}  # one assignment: readers see the old dict or the new

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            base = self._factory(self._settings)
            services = {self._settings.shop: self.prepare(self._settings.shop, base)}
        except KefuError as exc:
            log.error("the service did not load: %s", exc.message)
            self.failure = ApiError(503, exc.code, exc.message, exc.details)
            return
        except Exception:
            log.exception("the service failed to load")
            self.failure = ApiError(503, "internal", "the service failed to load; the reason is in the server's log")
            return
        if isinstance(base, KefuService):  # a test's double of the service has no other shops
            for shop in shop_ids(self._settings)[1:]:
                try:
                    services[shop] = self.prepare(shop, load_shop(base, self._settings, shop))
                except KefuError as exc:
                    log.error("shop %s did not load: %s", shop, exc.message)
                    self.shop_failures[shop] = ApiError(503, exc.code, exc.message, exc.details)
        # What was loaded lives as long as the server, yet every full collection of the cyclic garbage
        # collector walked it all again (~40 ms of a held GIL with 5,000 examples, stalling every request):
        # the loading's own garbage is collected once and the rest moved out of the collector's sight.
        gc.collect()
        gc.freeze()
        self.load_seconds = time.perf_counter() - started
        log.info("ready in %.1fs (%d shops)", self.load_seconds, len(services))
        self.services = services
        self.loaded = True


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
    """Keeps each shop's served library at the shop database's revision: at load (edits made before a restart
    are served from the start), at once after an edit through this server (`poke`), and within POLL_SECONDS
    of another replica's. A failed rebuild or an unreachable database keeps the library being served."""

    def __init__(self, settings: Settings, loader: ServiceLoader, database: Database) -> None:
        self._settings = settings
        self._loader = loader
        self._database = database
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one rebuild at a time
        self._libraries: dict[str, ShopLibrary] = {}
        self._servers: dict[str, LibraryServer] = {}
        self._thread: threading.Thread | None = None
        self._failing = False
        self._stopped = False
        self.revisions: dict[str, int] = {}  # the revision each shop serves
        self.last_sync_seconds = 0.0

    def library(self, shop: str) -> ShopLibrary:
        """The shop's library as editors change it (ApiError 404 for a shop not served, 503 while loading)."""
        found = self._libraries.get(shop)
        return found if found is not None else self._open(shop, self._loader.require(shop).settings.corpus_dir)

    def _open(self, shop: str, corpus_dir: Path) -> ShopLibrary:
        found = self._libraries.get(shop)
        if found is None:  # the database is opened here, when a shop's library is first needed
            found = self._libraries[shop] = ShopLibrary(corpus_dir, shop, LibraryStore(self._database.get()))
        return found

    def prepare(self, shop: str, base: KefuService) -> KefuService:
        """The service to serve first: `base` with the shop's stored edits applied (ServiceLoader calls it)."""
        if not isinstance(base, KefuService):
            return base  # a test's double of the service: nothing to rebuild
        self._servers[shop] = LibraryServer(base)
        try:
            service = self._rebuild(shop) or base
        except KefuError as exc:
            log.warning("shop %s: serving the library as built: its edits could not be applied (%s)", shop,
                        exc.message)
            service = base
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._run, name="kefu-library-sync", daemon=True)
            self._thread.start()
        return service

    def revision(self, shop: str) -> int:
        return self.revisions.get(shop, 0)

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """At shutdown: no more polls of a database that is being closed."""
        self._stopped = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)  # a rebuild under way ends before its database closes

    def sync_now(self, shop: str) -> bool:
        """Bring the shop's served library to the database's revision now; True when it changed."""
        if shop not in self._servers:
            return False
        service = self._rebuild(shop)
        if service is None:
            return False
        self._loader.replace(shop, service)
        return True

    def _run(self) -> None:
        while True:
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            if self._stopped:
                return
            try:
                for shop in list(self._servers):
                    self.sync_now(shop)
                if self._failing:
                    log.info("the libraries are in step with the shop database again")
                self._failing = False
            except KefuError as exc:
                if not self._failing:  # once per outage, not every poll
                    log.warning("the libraries' edits cannot be applied now (%s)", exc.message)
                self._failing = True
            except Exception:
                log.exception("the libraries' edits could not be applied")
                self._failing = True

    def _rebuild(self, shop: str) -> KefuService | None:
        with self._lock:
            library = self._open(shop, self._servers[shop].base.settings.corpus_dir)
            if library.store.revision(shop) == self.revisions.get(shop, 0):
                return None
            started = time.perf_counter()
            view = library.view()
            service = self._servers[shop].serve(view, library.corpus_dir)
            self.revisions[shop] = view.revision
            self.last_sync_seconds = time.perf_counter() - started
            log.info("shop %s: serving the library at revision %d (rebuilt in %.2fs)", shop, view.revision,
                     self.last_sync_seconds)
            return service
