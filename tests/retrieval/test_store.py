import json
import os
import threading

import pytest

from app.build import build_index
from app.config import Settings
from app.errors import IndexBusyError, IndexMissingError, IndexStaleError
from app.retrieval.store import MANIFEST, SCHEMA_VERSION, build_lock
from app.service import KefuService


@pytest.fixture
def mini_settings(mini_corpus, tmp_path):
    return Settings(corpus_dir=mini_corpus, index_dir=tmp_path / "index")


def test_build_writes_manifest_and_loads(mini_settings, fake_embedder):
    report = build_index(mini_settings, embedder=fake_embedder)
    manifest = json.loads((mini_settings.store_dir / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["model_id"] == "fake-hashed-ngrams"
    assert manifest["dimension"] == 384
    assert manifest["counts"]["templates"] == 2
    assert manifest["counts"]["examples"] == 10
    assert manifest["counts"]["bank"] == 3
    assert manifest["counts"]["passages"] == report.counts["passages"] > 50
    assert len(manifest["corpus_hash"]) == len(manifest["userdict_hash"]) == 64
    service = KefuService.load(mini_settings, embedder=fake_embedder)
    assert service.search("能便宜点吗").templates[0].template.id == "price.bargain.no_discount"


def test_missing_index_says_to_build(mini_settings, fake_embedder):
    with pytest.raises(IndexMissingError, match="run `kefu build`"):
        KefuService.load(mini_settings, embedder=fake_embedder)


def test_changed_corpus_makes_the_index_stale(mini_settings, mini_corpus, fake_embedder):
    build_index(mini_settings, embedder=fake_embedder)
    path = mini_corpus / "templates.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("能便宜点吗", "能便宜点么"), encoding="utf-8")
    with pytest.raises(IndexStaleError, match="corpus changed.*run `kefu build`"):
        KefuService.load(mini_settings, embedder=fake_embedder)


def test_changed_user_dictionary_makes_the_index_stale(mini_settings, mini_corpus, fake_embedder):
    build_index(mini_settings, embedder=fake_embedder)
    with (mini_corpus / "userdict.txt").open("a", encoding="utf-8") as handle:
        handle.write("闪电发货 100 v\n")
    with pytest.raises(IndexStaleError, match="user dictionary"):
        KefuService.load(mini_settings, embedder=fake_embedder)


def test_other_model_or_prefixes_make_the_index_stale(mini_settings, fake_embedder):
    build_index(mini_settings, embedder=fake_embedder)

    class OtherModel(type(fake_embedder)):
        model_id = "another-model"

    with pytest.raises(IndexStaleError, match="another-model"):
        KefuService.load(mini_settings, embedder=OtherModel())
    changed = mini_settings.model_copy(update={"query_prefix": ""})
    with pytest.raises(IndexStaleError, match="prefixes"):
        KefuService.load(changed, embedder=fake_embedder)


def test_other_schema_version_is_refused(mini_settings, fake_embedder):
    build_index(mini_settings, embedder=fake_embedder)
    path = mini_settings.store_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(manifest | {"schema_version": SCHEMA_VERSION + 1}), encoding="utf-8")
    with pytest.raises(IndexStaleError, match="schema version"):
        KefuService.load(mini_settings, embedder=fake_embedder)


def test_interrupted_build_keeps_the_previous_index(mini_settings, fake_embedder):
    build_index(mini_settings, embedder=fake_embedder)
    before = (mini_settings.store_dir / MANIFEST).read_text(encoding="utf-8")

    class DiesMidway(type(fake_embedder)):
        def encode(self, texts):
            if len(texts) == 3:  # the bank: an embedding pass in the middle of the build
                raise KeyboardInterrupt
            return super().encode(texts)

    with pytest.raises(KeyboardInterrupt):
        build_index(mini_settings, embedder=DiesMidway())
    assert (mini_settings.store_dir / MANIFEST).read_text(encoding="utf-8") == before
    served = os.readlink(mini_settings.store_dir)
    assert sorted(p.name for p in mini_settings.index_dir.iterdir()) == [".build.lock", "store", served]
    KefuService.load(mini_settings, embedder=fake_embedder)


def test_failure_while_writing_leaves_no_staging_folder(mini_settings, fake_embedder, monkeypatch):
    from app.retrieval import store

    def broken_save(self, folder):
        raise OSError("disk full")

    monkeypatch.setattr(store.Collection, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        build_index(mini_settings, embedder=fake_embedder)
    assert [p.name for p in mini_settings.index_dir.iterdir()] == [".build.lock"]


def test_an_index_from_before_the_fitted_models_is_refused(mini_settings, fake_embedder):
    """Schema 2 indexes have no fitted classifier or tone model: the usual stale message, not a crash."""
    build_index(mini_settings, embedder=fake_embedder)
    path = mini_settings.store_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(manifest | {"schema_version": 2}), encoding="utf-8")
    with pytest.raises(IndexStaleError, match=f"schema version 2, this kefu reads version {SCHEMA_VERSION}; run `kefu build`"):
        KefuService.load(mini_settings, embedder=fake_embedder)


@pytest.mark.parametrize("damage", ["delete", "garble"])
def test_a_damaged_fitted_model_says_to_rebuild(mini_settings, fake_embedder, damage):
    build_index(mini_settings, embedder=fake_embedder)
    arrays = sorted(p.name for p in mini_settings.store_dir.glob("*.npy"))
    assert arrays == [
        "classifier.char_model.coef.npy", "classifier.char_model.intercept.npy", "classifier.chars.idf.npy",
        "classifier.dense.coef.npy", "classifier.dense.intercept.npy",
        "tone_model.chars.idf.npy", "tone_model.model.coef.npy", "tone_model.model.intercept.npy",
    ]
    path = mini_settings.store_dir / "classifier.chars.idf.npy"
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(b"not an array")
    with pytest.raises(IndexStaleError, match="run `kefu build`"):
        KefuService.load(mini_settings, embedder=fake_embedder)


def _swap(a, b):
    data = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(data)


def _cut_last_line(path):
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8")


DAMAGES = {
    # finding 7 of issue 14, one by one: each is refused at load, naming the file
    "deleted vectors.npy": (lambda store: (store / "examples/vectors.npy").unlink(), "examples/vectors.npy"),
    "half a .faiss": (lambda store: (store / "passages/vectors.faiss").write_bytes(
        (store / "passages/vectors.faiss").read_bytes()[: (store / "passages/vectors.faiss").stat().st_size // 2]),
        "passages/vectors.faiss"),
    "empty .faiss": (lambda store: (store / "replies/vectors.faiss").write_bytes(b""), "replies/vectors.faiss"),
    "cut rows.jsonl": (lambda store: _cut_last_line(store / "passages/rows.jsonl"), "passages/rows.jsonl"),
    "another collection's .faiss": (lambda store: _swap(store / "passages/vectors.faiss", store / "bank/vectors.faiss"),
                                    "bank/vectors.faiss"),
    "a stray file": (lambda store: (store / "classifier.extra.npy").write_bytes(b"x"), "classifier.extra.npy"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_index_is_refused_at_load_naming_the_file(mini_settings, fake_embedder, damage):
    build_index(mini_settings, embedder=fake_embedder)
    harm, named = DAMAGES[damage]
    harm(mini_settings.store_dir)
    with pytest.raises(IndexStaleError, match="run `kefu build`") as refused:
        KefuService.load(mini_settings, embedder=fake_embedder)
    assert named in str(refused.value)


def test_edited_row_counts_in_the_manifest_are_refused(mini_settings, fake_embedder):
    build_index(mini_settings, embedder=fake_embedder)
    path = mini_settings.store_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["counts"]["examples"] += 1
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStaleError, match="counts 11 rows in examples.*holds 10"):
        KefuService.load(mini_settings, embedder=fake_embedder)


def test_parts_that_disagree_on_rows_are_refused_even_with_matching_checksums(mini_settings, fake_embedder):
    """A manifest rewritten to match swapped files still cannot make a collection of mismatched parts."""
    from app.retrieval.store import _fingerprint

    build_index(mini_settings, embedder=fake_embedder)
    store = mini_settings.store_dir
    _swap(store / "passages/vectors.faiss", store / "bank/vectors.faiss")
    path = store / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for name in ("passages/vectors.faiss", "bank/vectors.faiss"):
        manifest["files"][name] = _fingerprint(store / name)
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStaleError, match="vectors.faiss holds .* rows"):
        KefuService.load(mini_settings, embedder=fake_embedder)


def test_a_second_build_of_the_same_index_fails_at_once(mini_settings, fake_embedder):
    with build_lock(mini_settings.index_dir):
        with pytest.raises(IndexBusyError, match=f"pid {os.getpid()}"):
            build_index(mini_settings, embedder=fake_embedder)
    build_index(mini_settings, embedder=fake_embedder)  # free again


def test_builds_publish_by_one_link_swap_and_keep_two_versions(mini_settings, fake_embedder):
    store = mini_settings.store_dir
    seen = []
    for _ in range(3):
        build_index(mini_settings, embedder=fake_embedder)
        assert store.is_symlink()
        seen.append(os.readlink(store))
    versions = sorted(p.name for p in mini_settings.index_dir.iterdir() if p.name.startswith("store."))
    assert versions == sorted(seen[-2:])  # the one served and the one before it


def test_leftovers_of_killed_builds_are_removed_by_the_next(mini_settings, fake_embedder):
    build_index(mini_settings, embedder=fake_embedder)
    index_dir = mini_settings.index_dir
    for leftover in ("store.20200101T000000-99999", ".store.building-4242", ".store.retired-4242"):
        (index_dir / leftover / "examples").mkdir(parents=True)
    os.symlink("store.20200101T000000-99999", index_dir / ".store.link-4242")
    build_index(mini_settings, embedder=fake_embedder)
    names = sorted(p.name for p in index_dir.iterdir())
    assert [n for n in names if "4242" in n or "99999" in n] == []
    assert len([n for n in names if n.startswith("store.")]) == 2


def test_a_kill_just_before_the_swap_leaves_the_old_index_served(mini_settings, fake_embedder, monkeypatch):
    build_index(mini_settings, embedder=fake_embedder)
    served = os.readlink(mini_settings.store_dir)
    real_replace = os.replace

    def killed(src, dst):
        if str(dst) == str(mini_settings.store_dir):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        build_index(mini_settings, embedder=fake_embedder)
    monkeypatch.undo()
    assert os.readlink(mini_settings.store_dir) == served
    KefuService.load(mini_settings, embedder=fake_embedder)
    assert sorted(p.name for p in mini_settings.index_dir.iterdir()) == [".build.lock", "store", served]


def test_an_index_folder_from_before_versioned_folders_is_replaced(mini_settings, fake_embedder):
    build_index(mini_settings, embedder=fake_embedder)
    store = mini_settings.store_dir
    target = store.parent / os.readlink(store)
    store.unlink()
    target.rename(store)  # the layout of schema 3: a plain folder
    build_index(mini_settings, embedder=fake_embedder)
    assert store.is_symlink()
    KefuService.load(mini_settings, embedder=fake_embedder)


def test_a_build_waits_for_nobody_while_a_server_loads_the_served_version(mini_settings, fake_embedder):
    """A service loads the version the link points at when it starts, whatever a build publishes meanwhile."""
    build_index(mini_settings, embedder=fake_embedder)
    loaded = []
    thread = threading.Thread(target=lambda: loaded.append(KefuService.load(mini_settings, embedder=fake_embedder)))
    thread.start()
    build_index(mini_settings, embedder=fake_embedder)
    thread.join(30)
    assert loaded and loaded[0].info().templates == 2
