import json

import pytest

from app.build import build_index
from app.config import Settings
from app.errors import IndexMissingError, IndexStaleError
from app.retrieval.store import MANIFEST, SCHEMA_VERSION
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
    assert sorted(p.name for p in mini_settings.index_dir.iterdir()) == ["store"]
    KefuService.load(mini_settings, embedder=fake_embedder)


def test_failure_while_writing_leaves_no_staging_folder(mini_settings, fake_embedder, monkeypatch):
    from app.retrieval import store

    def broken_save(self, folder):
        raise OSError("disk full")

    monkeypatch.setattr(store.Collection, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        build_index(mini_settings, embedder=fake_embedder)
    assert list(mini_settings.index_dir.iterdir()) == []


def test_an_index_from_before_the_fitted_models_is_refused(mini_settings, fake_embedder):
    """Schema 2 indexes have no fitted classifier or tone model: the usual stale message, not a crash."""
    build_index(mini_settings, embedder=fake_embedder)
    path = mini_settings.store_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(manifest | {"schema_version": 2}), encoding="utf-8")
    with pytest.raises(IndexStaleError, match="schema version 2, this kefu reads version 3; run `kefu build`"):
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
