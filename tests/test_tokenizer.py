import jieba
import pytest

from app.build import make_tokenizer
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer(CORPUS)


@pytest.mark.parametrize("word", ["包邮", "七天无理由", "运费险", "色差", "尺码表", "顺丰", "价保", "好评返现", "起球", "开胶"])
def test_shop_words_survive_whole(tokenizer, word):
    assert word in tokenizer.tokenize(f"请问这个{word}吗")


def test_stopwords_and_punctuation_are_dropped(tokenizer):
    assert tokenizer.tokenize("请问，这个 包邮吗？？！") == ["包邮"]


def test_letters_are_lowercased_and_numbers_kept(tokenizer):
    assert tokenizer.tokenize("XL码偏大吗 170/52kg") == ["xl", "码", "偏大", "170", "52kg"]


def test_empty_text_gives_no_terms(tokenizer):
    assert tokenizer.tokenize("") == []
    assert tokenizer.tokenize("？？？ ～") == []


def test_jieba_global_tokenizer_is_untouched(tokenizer):
    tokenizer.tokenize("好评返现")
    assert "好评返现" not in jieba.dt.user_word_tag_tab


def test_the_dictionary_read_from_jiebas_cache_is_the_one_jieba_loads(tmp_path):
    from app.retrieval.tokenizer import _load_cached_dictionary

    own = jieba.Tokenizer()
    own.tmp_dir = str(tmp_path)
    own.initialize()  # jieba's way: builds the dictionary and writes its cache into tmp_path
    fast = jieba.Tokenizer()
    fast.tmp_dir = str(tmp_path)
    _load_cached_dictionary(fast)
    assert fast.initialized and fast.FREQ == own.FREQ and fast.total == own.total


def test_without_jiebas_cache_the_dictionary_is_left_to_jieba(tmp_path):
    from app.retrieval.tokenizer import _load_cached_dictionary

    fresh = jieba.Tokenizer()
    fresh.tmp_dir = str(tmp_path)
    _load_cached_dictionary(fresh)
    assert not fresh.initialized and fresh.FREQ == {}
    (tmp_path / "jieba.cache").write_bytes(b"not marshal")
    _load_cached_dictionary(fresh)
    assert not fresh.initialized
    assert fresh.lcut("这件衣服包邮吗")  # jieba builds it on first use, as before
