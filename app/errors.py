"""The KefuError tree: every failure a user can fix, with a message that says how.

    KefuError                      code
    ├── ConfigError                config        a setting is invalid
    ├── CorpusError                corpus        a corpus data file is malformed
    ├── ModelError                 model         the embedding model is missing or unusable
    ├── IndexError_                index         base for index problems
    │   ├── IndexMissingError      index_missing no index built yet
    │   └── IndexStaleError        index_stale   the index no longer matches corpus/model/settings
    ├── FeedbackStoreError         feedback_unavailable  the feedback database cannot be opened or written
    ├── NotFoundError              not_found     no such template (or shop) to read or change
    ├── ConflictError              conflict      a template with that id exists already
    ├── VersionConflict            version_conflict  the item changed since the editor read it
    ├── InputError                 invalid_input a buyer message or request is unusable
    └── OverloadedError            overloaded    too much work queued; retry after `retry_after` seconds

The HTTP layer maps `code` to a status in one place; the CLI exits 1 on any KefuError.
"""

from __future__ import annotations

from typing import Any


class KefuError(Exception):
    code = "kefu_error"

    def __init__(self, message: str, *, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ConfigError(KefuError):
    code = "config"


class CorpusError(KefuError):
    code = "corpus"


class ModelError(KefuError):
    code = "model"


class IndexError_(KefuError):  # trailing underscore: never shadow the builtin IndexError
    code = "index"


class IndexMissingError(IndexError_):
    code = "index_missing"


class IndexStaleError(IndexError_):
    code = "index_stale"


class IndexBusyError(IndexError_):
    """Another build holds the index's lock."""

    code = "index_busy"


class FeedbackStoreError(KefuError):
    code = "feedback_unavailable"


class NotFoundError(KefuError):
    code = "not_found"


class ConflictError(KefuError):
    code = "conflict"


class VersionConflict(KefuError):
    """An edit made against a version that is no longer current: someone else changed the item first."""

    code = "version_conflict"

    def __init__(self, message: str, current: int) -> None:
        super().__init__(message, details=[{"current_version": current}])
        self.current = current


class InputError(KefuError):
    code = "invalid_input"


class OverloadedError(KefuError):
    code = "overloaded"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details=[{"retry_after": retry_after}])
        self.retry_after = retry_after
