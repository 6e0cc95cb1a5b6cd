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
