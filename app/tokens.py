"""API tokens that belong to a shop and a role (agent or editor), kept as SHA-256 digests in a YAML file
(KEFU_TOKENS_FILE) that `kefu token add/list/remove` maintains. The token itself is shown once, when
made, and never stored: a leaked file gives no working token.

    - name: 小美          # who holds it (unique)
      shop: shop-a        # the shop it acts for: feedback is recorded and reported for it only
      role: agent         # agent: replies, inspection, feedback; editor: also the shop's figures (and edits)
      sha256: 9f86d0...

The file is read again when it changes, so a token added or removed takes effect without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import yaml

from app.errors import ConfigError, InputError

Role = Literal["agent", "editor"]
ROLES: tuple[str, ...] = get_args(Role)
_NAME = re.compile(r"^[\w\-.@\u4e00-\u9fff]{1,64}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as."""

    name: str
    shop: str
    role: Role
    any_shop: bool = False  # the server's own token (or an open server): acts for any shop it names

    def may(self, role: Role) -> bool:
        return self.role == "editor" or role == "agent"

    def acts_for(self, shop: str) -> bool:
        return self.any_shop or shop == self.shop


@dataclass(frozen=True)
class _Entry:
    name: str
    shop: str
    role: Role
    sha256: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenRegistry:
    """The tokens file, re-read when its modification time or size changes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._entries: tuple[_Entry, ...] = ()
        self._refresh()

    def identify(self, token: str) -> Principal | None:
        """The principal whose token this is, or None; compares every digest in constant time."""
        self._refresh()
        wanted = digest(token).encode()
        found = None
        for entry in self._entries:
            if hmac.compare_digest(entry.sha256.encode(), wanted):
                found = entry
        return None if found is None else Principal(found.name, found.shop, found.role)

    def principals(self) -> list[Principal]:
        self._refresh()
        return [Principal(entry.name, entry.shop, entry.role) for entry in self._entries]

    def add(self, name: str, shop: str, role: str) -> str:
        """A new token for `name` (refused if the name is taken); returns the token, shown once."""
        _check(name, shop, role)
        with self._lock:
            entries = list(_read(self.path))
            if any(entry.name == name for entry in entries):
                raise InputError(f"there is already a token named {name}; remove it first (kefu token remove {name})")
            token = secrets.token_urlsafe(32)
            entries.append(_Entry(name, shop, role, digest(token)))  # type: ignore[arg-type]
            _write(self.path, entries)
        self._refresh(force=True)
        return token

    def remove(self, name: str) -> None:
        with self._lock:
            entries = list(_read(self.path))
            kept = [entry for entry in entries if entry.name != name]
            if len(kept) == len(entries):
                raise InputError(f"no token named {name}")
            _write(self.path, kept)
        self._refresh(force=True)

    def _refresh(self, force: bool = False) -> None:
        try:
            stat = self.path.stat()
            seen = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            seen = (0, 0)
        if force or seen != self._seen:
            with self._lock:
                self._entries = tuple(_read(self.path))
                self._seen = seen


def _check(name: str, shop: str, role: str) -> None:
    if not _NAME.match(name):
        raise InputError(f"token name {name!r}: 1-64 letters, digits, Chinese characters or - _ . @")
    if not _NAME.match(shop):
        raise InputError(f"shop {shop!r}: 1-64 letters, digits, Chinese characters or - _ . @")
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")


def _read(path: Path) -> list[_Entry]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else []
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"the tokens file {path} cannot be read: {exc}") from exc
    if data is None:
        return []
    if not isinstance(data, list):
        raise ConfigError(f"the tokens file {path} must be a YAML list of name, shop, role, sha256")
    entries = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict) or set(item) != {"name", "shop", "role", "sha256"}:
            raise ConfigError(f"the tokens file {path}, entry {number}: needs exactly name, shop, role and sha256")
        name, shop, role, sha = (str(item[key]) for key in ("name", "shop", "role", "sha256"))
        try:
            _check(name, shop, role)
        except InputError as exc:
            raise ConfigError(f"the tokens file {path}, entry {number}: {exc.message}") from None
        if not _DIGEST.match(sha):
            raise ConfigError(f"the tokens file {path}, entry {number}: sha256 must be 64 hex digits")
        entries.append(_Entry(name, shop, role, sha))  # type: ignore[arg-type]
    return entries


def _write(path: Path, entries: list[_Entry]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# kefu API tokens (kefu token add/list/remove): SHA-256 digests only, the tokens were shown once.\n"
    text += yaml.safe_dump([{"name": e.name, "shop": e.shop, "role": e.role, "sha256": e.sha256} for e in entries],
                           allow_unicode=True, sort_keys=False)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        staging.write_text(text, encoding="utf-8")
        os.chmod(staging, 0o600)
        os.replace(staging, path)  # readers see the old file or the new one
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


__all__ = ["ROLES", "Principal", "Role", "TokenRegistry", "digest"]
