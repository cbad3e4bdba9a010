"""Checkpoints load with plain transformers calls: AutoTokenizer gives our ids (never Qwen2Tokenizer's), or raises."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import interplay
from interplay.checkpoint import save_checkpoint
from interplay.data.tokenizers import load_tokenizer, save_tokenizer, train_tokenizer, write_tokenizer
from interplay.model import build_model

from .test_tokenizers import COMPACT, PAPER

# includes words our tokenizers lack (1011, and in `word` mode text-initial "Define"): [UNK] ids must agree too
TEXTS = [PAPER + "[EOS]", COMPACT + "[EOS]", "<question> owl Evervale = 3 . owl Evervale = ? </question> <solution>",
         "Define fox Evervale as x; so x = 12 + 999 = 1011. </solution> <answer> 1011 </answer>"]


@pytest.fixture(scope="module", params=["word", "bpe"])
def ckpt(request, tmp_path_factory):
    tok = train_tokenizer(request.param, [PAPER, COMPACT] * 30 + [f"x = {i} * ( {i + 1} ) ." for i in range(50)])
    torch.manual_seed(0)
    model = build_model("ci", len(tok))
    d = tmp_path_factory.mktemp(request.param) / "model"
    save_checkpoint(model, tok, d)
    return tok, model, d


def test_auto_tokenizer_gives_our_ids(ckpt):
    tok, _, d = ckpt
    auto = AutoTokenizer.from_pretrained(str(d))  # transformers alone
    assert "Qwen2" not in type(auto).__name__
    assert auto.get_vocab() == tok.get_vocab()
    for text in TEXTS:
        ids = tok(text).input_ids
        assert auto(text).input_ids == ids and auto.decode(ids) == tok.decode(ids)
    assert (auto.eos_token_id, auto.pad_token_id, auto.bos_token_id) == (3, 1, 2)


def test_trust_remote_code_raises_instead_of_guessing(ckpt):
    with pytest.raises(ValueError):
        AutoTokenizer.from_pretrained(str(ckpt[2]), trust_remote_code=True)


def test_auto_model_and_interplay_load(ckpt):
    tok, model, d = ckpt
    ids = torch.tensor([tok(TEXTS[2]).input_ids])
    want = model.eval()(ids).logits
    auto = AutoModelForCausalLM.from_pretrained(str(d))
    m, t = interplay.load(d, device="cpu")
    assert not m.training and t.get_vocab() == tok.get_vocab() and t(TEXTS[3]).input_ids == tok(TEXTS[3]).input_ids
    assert torch.equal(auto(ids).logits, want) and torch.equal(m(ids).logits, want)


def test_tokenizer_only_dir_has_no_auto_map_even_when_resaved_from_a_checkpoint(ckpt, tmp_path):
    save_tokenizer(AutoTokenizer.from_pretrained(str(ckpt[2])), tmp_path / "tok")
    assert "auto_map" not in json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())
    assert AutoTokenizer.from_pretrained(str(tmp_path / "tok"))(TEXTS[3]).input_ids == ckpt[0](TEXTS[3]).input_ids


def test_old_layout_still_loads(ckpt, tmp_path):
    """Checkpoints written before save_checkpoint (no auto_map): interplay.load and load_tokenizer read them."""
    tok, model, _ = ckpt
    old = tmp_path / "old"
    model.save_pretrained(old)
    write_tokenizer(tok, old)
    assert load_tokenizer(old)(TEXTS[0]).input_ids == tok(TEXTS[0]).input_ids
    assert interplay.load(old, device="cpu")[1](TEXTS[1]).input_ids == tok(TEXTS[1]).input_ids


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        interplay.load(tmp_path)
