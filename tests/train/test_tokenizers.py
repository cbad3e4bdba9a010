"""Tokenizers: specials at ids 0-9, integers single tokens, lossless round trips, loadable without interplay."""

import json
import random

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from interplay.data.tokenizers import SPECIAL_TOKENS, load_tokenizer, save_tokenizer, train_tokenizer

PAPER = ("<question> The number of adult owl in Jefferson Circus equals 2. The number of adult eagle in Hamilton Farm "
         "equals 2 times the total number of adult animals in Jefferson Circus. What is the total number of adult "
         "animals in Jefferson Circus? </question> <solution> Define adult owl in Jefferson Circus as g; so g = 2. "
         "Define total number of adult animals in Jefferson Circus as O; so O = g = 2. </solution> <answer> 2 </answer>")
COMPACT = ("<question> owl Evervale = 3 + bluejay Evervale . bluejay Evervale = 4 . owl Evervale = ? </question> "
           "<solution> Define bluejay Evervale as B; so B = 4. Define owl Evervale as A; so A = 3 + B = 3 + 4 = 7. "
           "</solution> <answer> 7 </answer>")


@pytest.fixture(scope="module", params=["bpe", "word"])
def saved(request, tmp_path_factory):
    texts = [PAPER, COMPACT] * 30 + [f"x = {i} * ( {i + 1} ) ." for i in range(50)]
    tok = train_tokenizer(request.param, texts, vocab_size=2200)
    d = tmp_path_factory.mktemp(request.param)
    save_tokenizer(tok, d)
    return request.param, d


def test_specials_and_ids(saved):
    _, d = saved
    tok = AutoTokenizer.from_pretrained(str(d))  # transformers alone, no interplay code
    assert tok.convert_ids_to_tokens(list(range(10))) == SPECIAL_TOKENS
    assert (tok.eos_token, tok.pad_token, tok.bos_token) == ("[EOS]", "[PAD]", "[BOS]")
    assert (tok.eos_token_id, tok.pad_token_id) == (3, 1)
    ids = tok(PAPER + "[EOS]")["input_ids"]
    assert ids[0] == 4 and ids[-1] == 3  # no BOS added; EOS is one token
    assert len(tok) <= 2200
    post = json.loads((d / "tokenizer.json").read_text())["post_processor"]
    assert post is None or not post.get("special_tokens")  # nothing is ever added around a sequence


@pytest.mark.parametrize("n", [0, 1, 9, 10, 42, 100, 512, 999])
def test_space_prefixed_integers_are_single_tokens(saved, n):
    tok = PreTrainedTokenizerFast.from_pretrained(str(saved[1]))
    assert len(tok(f" {n}", add_special_tokens=False)["input_ids"]) == 1
    assert len(tok(f"so A = {n}.", add_special_tokens=False)["input_ids"]) == 5


def test_round_trip_is_lossless(saved):
    tok = load_tokenizer(saved[1])
    for text in (PAPER + "[EOS]", COMPACT + "[EOS]", "<question> owl Evervale = 3 . </question> <solution>"):
        assert tok.decode(tok(text)["input_ids"]) == text


def test_bpe_full_vocab_and_determinism():
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(2, 9))) for _ in range(3000)]
    texts = [PAPER, COMPACT] * 20 + [" ".join(rng.choices(words, k=40)) for _ in range(2000)]
    a, b = train_tokenizer("bpe", texts), train_tokenizer("bpe", texts)
    assert len(a) == 2200  # specials + 256 bytes + 1000 integers + learned merges fill the vocabulary
    assert a.get_vocab() == b.get_vocab()


def test_word_pretokenization_matches_contract():
    import re

    from interplay.data.tokenizers import WORD_RE

    tok = train_tokenizer("word", [COMPACT])
    body = COMPACT.split("<solution>")[1]
    n_words = len(re.findall(WORD_RE, body))
    assert len(tok(body, add_special_tokens=False)["input_ids"]) == n_words + body.count(" <")  # "Ġ" before a tag


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        train_tokenizer("sentencepiece", [PAPER])
