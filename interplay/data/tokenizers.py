"""Tokenizers for the synthetic task (paper App. A.3.2; the authors' `scripts/build_tokenizer.py`), built
with HF `tokenizers`.

* `bpe` — the paper's byte-level BPE: GPT-2 ByteLevel pre-tokenization (so a space-prefixed digit run is one
  pre-token, as in the authors' effective regex), trained on our corpus, vocab 2,200 including the ten special
  tokens at ids 0-9 in the official order. The authors' tokenizer happened to learn every ` 0`..` 999` as one
  token; we guarantee it: the 1,000 space-prefixed integers get the highest-priority merges, learned merges
  fill the rest of the vocabulary.
* `word` — one token per word of the `compact` surface, pre-tokenized with the contract's regex. Each token
  carries its leading space (ByteLevel-mapped, like BPE's `Ġ`), so decoding is lossless: a decoded completion
  is byte-identical to the text the model learned and the parser reads.

Both save as `tokenizer.json` + `tokenizer_config.json`, loadable by `PreTrainedTokenizerFast` /
`AutoTokenizer` without this package. No BOS is added; EOS is `[EOS]`, PAD is `[PAD]`.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from interplay.io import atomic_dir

SPECIAL_TOKENS = ["[UNK]", "[PAD]", "[BOS]", "[EOS]", "<question>", "</question>", "<solution>", "</solution>",
                  "<answer>", "</answer>"]  # ids 0..9, official order
TAG_TOKENS = SPECIAL_TOKENS[4:]
INT_LIMIT = 1000  # " 0" .. " 999" are single tokens
# Compact-surface words (interplay/data/render.py); the optional leading space keeps decoding lossless.
WORD_RE = r"</?[a-z]+>|\[[A-Z]+\]|\w+|[^\w\s]"
_WORD_PIECE_RE = rf" ?(?:{WORD_RE})|\s+"

def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-unicode map (what ByteLevel uses internally)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


_B2U = _bytes_to_unicode()


def _bl(s: str) -> str:
    """Text as ByteLevel symbols (" 12" -> "Ġ12")."""
    return "".join(_B2U[b] for b in s.encode("utf-8"))


def _wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", bos_token="[BOS]",
                                   eos_token="[EOS]", additional_special_tokens=TAG_TOKENS,
                                   model_max_length=2048, clean_up_tokenization_spaces=False)


def _int_merges() -> tuple[list[str], list[tuple[str, str]]]:
    """Tokens "Ġ0".."Ġ999" and the merges that build them, shortest first (Ġ+d, Ġd+d, Ġdd+d)."""
    g = _bl(" ")
    toks, merges = [], []
    for n in range(INT_LIMIT):
        s = str(n)
        toks.append(g + s)
        merges.append((g + s[:-1], s[-1]))
    order = sorted(range(INT_LIMIT), key=lambda n: (len(str(n)), n))
    return [toks[i] for i in order], [merges[i] for i in order]


def _train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    # 1) learn merges on the corpus (specials are atomic added tokens, never merged across)
    probe = Tokenizer(models.BPE())
    probe.pre_tokenizer = byte_level
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), limit_alphabet=1000,
                                  max_token_length=100, show_progress=False)
    probe.train_from_iterator(texts, trainer=trainer)
    learned = [tuple(m) if isinstance(m, (list, tuple)) else tuple(m.split(" "))
               for m in json.loads(probe.to_str())["model"]["merges"]]
    # 2) vocabulary: specials, the byte alphabet, the 1,000 integers, then learned merges in learned order,
    #    cut to vocab_size (dropping the latest merges is safe: a merge only uses earlier merges' outputs).
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    int_toks, int_merges = _int_merges()
    vocab: dict[str, int] = {}
    for t in [*SPECIAL_TOKENS, *alphabet, *int_toks]:
        vocab.setdefault(t, len(vocab))
    if len(vocab) > vocab_size:
        raise ValueError(f"vocab_size {vocab_size} is smaller than specials + bytes + integers ({len(vocab)})")
    merges = list(int_merges)  # highest priority: " 123" always becomes one token
    for a, b in learned:
        if len(vocab) >= vocab_size:
            break
        if a + b in vocab:
            continue
        vocab[a + b] = len(vocab)
        merges.append((a, b))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=None, fuse_unk=False))
    tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIAL_TOKENS)
    return tok


def word_pieces(text: str) -> list[str]:
    """The word-level pre-tokens of `text` (one per contract word, leading space attached)."""
    return re.findall(_WORD_PIECE_RE, text)


def _train_word(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    counts: Counter[str] = Counter()
    split_specials = re.compile("|".join(map(re.escape, SPECIAL_TOKENS)))
    for text in texts:  # specials are cut out first, as the tokenizer's added-token matcher does
        for segment in split_specials.split(text):
            counts.update(word_pieces(segment))
    vocab: dict[str, int] = {}
    for t in SPECIAL_TOKENS:
        vocab[t] = len(vocab)
    for n in range(INT_LIMIT + 1):  # integers first: every value (1..1000) a model may need to write
        vocab[_bl(f" {n}")] = len(vocab)
    vocab.setdefault(_bl(" "), len(vocab))  # the space before a tag: "? </question>" -> "Ġ", "</question>"
    # then words by frequency (ties by text) so the vocabulary is a pure function of the corpus
    for piece, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= vocab_size:
            break
        vocab.setdefault(_bl(piece), len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_WORD_PIECE_RE), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIAL_TOKENS)
    return tok


def train_tokenizer(kind: str, texts: Iterable[str], vocab_size: int = 2200) -> PreTrainedTokenizerFast:
    """Train a `bpe` (paper) or `word` (compact surface) tokenizer on `texts` (training strings)."""
    if kind == "bpe":
        return _wrap(_train_bpe(texts, vocab_size))
    if kind == "word":
        return _wrap(_train_word(texts, vocab_size))
    raise ValueError(f"unknown tokenizer kind {kind!r} (expected bpe | word)")


def write_tokenizer(tok: PreTrainedTokenizerFast, directory: str | os.PathLike, *, beside_model: bool = False) -> None:
    """`save_pretrained` into an existing directory, naming the class `PreTrainedTokenizerFast`.

    `beside_model`: the directory is a qwen2 checkpoint (`interplay.checkpoint.save_checkpoint`); the config
    then also gets the `auto_map` that makes transformers 5's `AutoTokenizer` load this tokenizer as it is
    instead of forcing `Qwen2Tokenizer` (see interplay/checkpoint.py). A tokenizer-only directory needs no
    override (AutoTokenizer honours `tokenizer_class` there) and must not carry one: without a model config,
    an `auto_map` would make AutoTokenizer ask for remote code."""
    directory = Path(directory)
    tok.save_pretrained(directory)
    cfg_path = directory / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg.pop("auto_map", None)  # a tokenizer loaded from a checkpoint carries it in its init kwargs
    if beside_model:
        cfg["auto_map"] = {"AutoTokenizer": [None, "PreTrainedTokenizerFast"]}
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")


def save_tokenizer(tok: PreTrainedTokenizerFast, out_dir: str | os.PathLike) -> Path:
    """Write `tokenizer.json` + `tokenizer_config.json` (+ special tokens map) atomically."""
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        write_tokenizer(tok, tmp)
    return out


def load_tokenizer(path: str | os.PathLike) -> PreTrainedTokenizerFast:
    """Our tokenizer from a tokenizer directory or a checkpoint (tokenizer.json loaded as it is, never through
    the model type's tokenizer class)."""
    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(f"no tokenizer.json in {path}")
    return PreTrainedTokenizerFast.from_pretrained(str(path))
