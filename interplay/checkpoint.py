"""Checkpoint directories: an HF Qwen2 model and our tokenizer side by side, loadable with plain transformers.

    model, tok = interplay.load(ckpt)                     # this package
    AutoModelForCausalLM.from_pretrained(ckpt)            # transformers alone
    AutoTokenizer.from_pretrained(ckpt)                   # transformers alone: our tokenizer, our ids

transformers 5 builds a `Qwen2Tokenizer` for any directory whose config.json says `model_type: qwen2`,
whatever `tokenizer_class` the tokenizer config names (qwen2 is in its MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS);
that class swaps in Qwen's pre-tokenizer and silently gives wrong ids for our word-level and BPE vocabularies.
`save_checkpoint` adds an `auto_map` entry to tokenizer_config.json, which takes AutoTokenizer past that
override (transformers 5 `AutoTokenizer.from_pretrained`): qwen2 checkpoints never run remote tokenizer
code unless asked to, so it falls back to the `tokenizer_class` named there and loads tokenizer.json as it
is (`PreTrainedTokenizerFast`). With `trust_remote_code=True` the same call raises (there is no code to
run) instead of returning a wrong tokenizer. A checkpoint written before this (no `auto_map`) still gets a
`Qwen2Tokenizer` from AutoTokenizer; `interplay.load` reads both. tests/train/test_checkpoint.py compares
AutoTokenizer's ids with ours for both tokenizer kinds, so a transformers release that changes this path
fails the tests, not the users.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from interplay.io import atomic_dir


def save_checkpoint(model, tokenizer, out_dir: str | os.PathLike) -> Path:
    """Write `model` (HF `save_pretrained`) and `tokenizer` into `out_dir`, atomically (every run's `model/`)."""
    from interplay.data.tokenizers import write_tokenizer

    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        write_tokenizer(tokenizer, tmp, beside_model=True)
    return out


def load(checkpoint: str | os.PathLike, device: str | torch.device | None = None):
    """(model in eval mode, fp32, on `device` or CUDA if available; tokenizer) from a checkpoint directory.

    Also reads checkpoints written before `save_checkpoint` (tokenizer.json beside config.json, no auto_map)."""
    from transformers import AutoModelForCausalLM

    from interplay.data.tokenizers import load_tokenizer

    path = Path(checkpoint)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint directory: no config.json")
    tok = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tok
