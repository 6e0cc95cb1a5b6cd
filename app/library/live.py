"""A shop's library as editors see and change it at run time, and the service that serves it.

The library has two layers: what `kefu build` indexed (the corpus's templates.yaml, quick_phrases.yaml
and shop.yaml) and the editors' changes kept in the shop database (app/library/store.py). Reading
merges them; a change is checked as `kefu build` checks a corpus entry before it is stored; serving
(`serve_edits`) embeds only the templates that differ from the index and rebuilds the small template
collections around them, so an edit is live in about a second, and the service is swapped as one
object (a request runs wholly on the library it started with).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.corpus import LIBRARY_FILES, Template, library_entries, validate_entry
from app.errors import ConflictError, CorpusError, NotFoundError
from app.library.store import PROFILE, PROFILE_ID, TEMPLATE, Change, Edit, LibraryStore
from app.retrieval.store import EXAMPLES, REPLIES, Collection
from app.service import KefuService
from app.shop import SHOP, parse_shop_profile
from app.text import normalize_text
from app.yaml_data import parse_yaml

BUILT = "built"  # as the index was built from the corpus
EDITED = "edited"  # built, then changed by an editor
CREATED = "created"  # added by an editor


@dataclass(frozen=True)
class Item:
    """A template or the shop profile as an editor reads it: its body and the version an edit must name."""

    kind: str
    id: str
    body: dict[str, Any]
    version: int  # 0: as built, never edited
    origin: str

    @property
    def etag(self) -> str:
        return f'"{self.kind}-{self.version}"'


@dataclass(frozen=True)
class LibraryView:
    revision: int  # the shop library's revision these items are at
    templates: list[Item]  # library order: the built ones first, then those editors created
    profile: Item


class ShopLibrary:
    """One shop's library: its built corpus (`corpus_dir`) and its edits in `store`."""

    def __init__(self, corpus_dir: Path, shop: str, store: LibraryStore) -> None:
        self.corpus_dir = corpus_dir
        self.shop = shop
        self.store = store
        self._built = built_entries(corpus_dir)
        self._built_profile = built_profile(corpus_dir)

    def view(self) -> LibraryView:
        revision, edits = self.store.edits(self.shop)
        return merge(self._built, self._built_profile, edits, revision)

    def template(self, template_id: str) -> Item:
        for item in self.view().templates:
            if item.id == template_id:
                return item
        raise NotFoundError(f"shop {self.shop} has no template {template_id}")

    def profile(self) -> Item:
        return self.view().profile

    def create(self, body: dict[str, Any], actor: str) -> Item:
        check_template(body, self.corpus_dir)
        template_id = body["id"]
        revision, edits = self.store.edits(self.shop)  # one read: the library now and its deleted rows
        view = merge(self._built, self._built_profile, edits, revision)
        if any(item.id == template_id for item in view.templates):
            raise ConflictError(f"shop {self.shop} already has a template {template_id}; change it with PUT")
        gone = next((edit for edit in edits if edit.kind == TEMPLATE and edit.item_id == template_id), None)
        # An id deleted earlier is created again on top of its deleted row's version.
        expected = gone.version if gone is not None else (0 if template_id in self._built else None)
        self.store.change(self.shop, TEMPLATE, template_id, body, expected=expected, before=None, actor=actor,
                          action="create")
        return self.template(template_id)

    def replace(self, template_id: str, body: dict[str, Any], version: int, actor: str) -> Item:
        if body.get("id") != template_id:
            raise CorpusError(f"the body's id {body.get('id')!r} is not the template's id {template_id}")
        check_template(body, self.corpus_dir)
        current = self.template(template_id)
        self.store.change(self.shop, TEMPLATE, template_id, body, expected=version, before=current.body, actor=actor,
                          action="update")
        return self.template(template_id)

    def delete(self, template_id: str, version: int, actor: str) -> int:
        current = self.template(template_id)
        return self.store.change(self.shop, TEMPLATE, template_id, None, expected=version, before=current.body,
                                 actor=actor, action="delete")

    def replace_profile(self, body: dict[str, Any], version: int, actor: str) -> Item:
        parse_shop_profile(body, "the shop profile")
        current = self.profile()
        self.store.change(self.shop, PROFILE, PROFILE_ID, body, expected=version, before=current.body, actor=actor,
                          action="update")
        return self.profile()

    def audit(self, *, limit: int = 100, item_id: str | None = None) -> list[Change]:
        return self.store.audit(self.shop, limit=limit, item_id=item_id)


def built_entries(corpus_dir: Path) -> dict[str, dict[str, Any]]:
    """The library's entries as the corpus files hold them, by id, in library order."""
    found: dict[str, dict[str, Any]] = {}
    for name, imported in LIBRARY_FILES:
        for entry in library_entries(corpus_dir / name, optional=imported):
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                found[entry["id"]] = entry
    return found


def built_profile(corpus_dir: Path) -> dict[str, Any]:
    path = corpus_dir / SHOP
    raw = parse_yaml(path.read_text(encoding="utf-8")) if path.is_file() else None
    return raw if isinstance(raw, dict) else {}


def check_template(body: dict[str, Any], corpus_dir: Path) -> Template:
    """An editor's template checked as `kefu build` checks an imported phrase (one example question is
    enough: the shop's own phrases often have none but their shortcut); CorpusError saying what is wrong."""
    return validate_entry(body, imported=True, corpus_dir=corpus_dir)


def merge(built: dict[str, dict[str, Any]], profile: dict[str, Any], edits: Sequence[Edit], revision: int) -> LibraryView:
    changed = {edit.item_id: edit for edit in edits if edit.kind == TEMPLATE}
    templates = []
    for template_id, body in built.items():
        edit = changed.pop(template_id, None)
        if edit is None:
            templates.append(Item(TEMPLATE, template_id, body, 0, BUILT))
        elif edit.body is not None:
            templates.append(Item(TEMPLATE, template_id, edit.body, edit.version, EDITED))
    templates += [Item(TEMPLATE, edit.item_id, edit.body, edit.version, CREATED)
                  for edit in changed.values() if edit.body is not None]
    edited = next((edit for edit in edits if edit.kind == PROFILE and edit.body is not None), None)
    shop = (Item(PROFILE, PROFILE_ID, profile, 0, BUILT) if edited is None
            else Item(PROFILE, PROFILE_ID, edited.body or {}, edited.version, EDITED))
    return LibraryView(revision, templates, shop)


@dataclass(frozen=True)
class _Row:
    """One text of a template's collection, as the index holds it: normalised, its terms and its vector."""

    text: str
    terms: list[str]
    vector: np.ndarray


class LibraryServer:
    """Builds the service for a state of the library from the service the index loaded (`base`). Texts
    the index holds keep its rows; an edited text is normalised, tokenised and embedded once, and
    remembered while a template holds it; a checked template is remembered by its version. A rebuild
    is then only the template collections' BM25 and vector indexes over rows already made."""

    def __init__(self, base: KefuService) -> None:
        self.base = base
        retriever = base.retriever
        self._built = {template.id: template for template in retriever.templates}
        self._rows: dict[tuple[str, str], _Row] = {}  # (collection, the template's own text) -> row
        examples = iter(zip(retriever.examples.rows, retriever.examples.vectors))
        for template, (reply, vector) in zip(retriever.templates, zip(retriever.replies.rows, retriever.replies.vectors)):
            self._rows[(REPLIES, template.reply)] = _Row(reply["text"], reply["terms"], vector)
            for example in template.examples:
                row, example_vector = next(examples)
                self._rows[(EXAMPLES, example)] = _Row(row["text"], row["terms"], example_vector)
        self._built_keys = set(self._rows)
        self._checked: dict[tuple[str, int], Template] = {}

    def serve(self, view: LibraryView, corpus_dir: Path) -> KefuService:
        """The service over `view` (CorpusError when an item no longer passes the checks)."""
        templates = [self._template(item, corpus_dir) for item in view.templates]
        self._checked = {(item.id, item.version): template for item, template in zip(view.templates, templates)
                         if item.origin != BUILT}
        profile = (self.base.shop if view.profile.origin == BUILT
                   else parse_shop_profile(view.profile.body, "the shop profile"))
        if profile is self.base.shop and [t.id for t in templates] == list(self._built) and \
                all(t == self._built[t.id] for t in templates):
            return self.base
        wanted = [(EXAMPLES, example) for t in templates for example in t.examples] + \
                 [(REPLIES, t.reply) for t in templates]
        self._make_rows([key for key in dict.fromkeys(wanted) if key not in self._rows])
        # Rows of texts no template holds any more are dropped: a shop that edits all day stays small.
        used = set(wanted) | self._built_keys
        self._rows = {key: row for key, row in self._rows.items() if key in used}
        examples = self._collection(EXAMPLES, [(t.id, self._rows[(EXAMPLES, e)]) for t in templates for e in t.examples])
        replies = self._collection(REPLIES, [(t.id, self._rows[(REPLIES, t.reply)]) for t in templates])
        return self.base.with_library(self.base.retriever.with_templates(templates, examples, replies), profile)

    def _template(self, item: Item, corpus_dir: Path) -> Template:
        if item.origin == BUILT:
            return self._built[item.id]
        found = self._checked.get((item.id, item.version))
        return found if found is not None else check_template(item.body, corpus_dir)

    def _make_rows(self, keys: list[tuple[str, str]]) -> None:
        if not keys:
            return
        settings = self.base.settings
        texts = [normalize_text(text) for _, text in keys]
        prefixed = [(settings.example_prefix if name == EXAMPLES else settings.passage_prefix) + text
                    for (name, _), text in zip(keys, texts)]
        vectors = self.base.retriever.embedder.encode(prefixed)
        tokenizer = self.base.retriever.tokenizer
        for key, text, vector in zip(keys, texts, vectors):
            self._rows[key] = _Row(text, tokenizer.tokenize(text), vector)

    @staticmethod
    def _collection(name: str, owned: list[tuple[str, _Row]]) -> Collection:
        rows: list[dict[str, Any]] = [{"template_id": owner, "text": row.text, "terms": row.terms}
                                      for owner, row in owned]
        vectors = np.stack([row.vector for _, row in owned]).astype(np.float32, copy=False)
        return Collection.build(name, rows, [row.terms for _, row in owned], vectors)


__all__ = ["BUILT", "CREATED", "EDITED", "Item", "LibraryServer", "LibraryView", "ShopLibrary", "merge"]
