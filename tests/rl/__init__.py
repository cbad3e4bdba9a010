"""Shared helpers for the GRPO tests: a tiny tokenizer, Qwen2 model and prompt files on disk."""

from __future__ import annotations

import random
from pathlib import Path

TINY = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=256, num_attention_heads=4, num_key_value_heads=2)


def records(op: int, seed: int, count: int, mode: str = "forward") -> list[dict]:
    from interplay.data.generator import GenConfig, generate_many

    cfg = GenConfig(op=op, mode=mode, render="compact", max_distractors=0)
    return [p.to_record() for p in generate_many(cfg, seed=seed, count=count)]


def text(rec: dict) -> str:
    from interplay.data.render import training_text

    return training_text(rec["problem"], rec["question"], rec["solution"]) + "[EOS]"


def make_world(root: Path, bands: dict[str, list[dict]], *, train: list[dict] = (), arch: dict = TINY,
               warm_steps: int = 0, warm_lr: float = 3e-3, batch: int = 32, seed: int = 0) -> Path:
    """Write root/init (HF model + tokenizer), one JSONL per band; optionally warm-start on `train` texts
    with next-token training on the solution tokens (the supervised stage in miniature). Returns root/init."""
    import torch

    from interplay.data.records import write_jsonl
    from interplay.data.tokenizers import train_tokenizer
    from interplay.model import build_model

    root.mkdir(parents=True, exist_ok=True)
    all_recs = list(train) + [r for recs in bands.values() for r in recs]
    tok = train_tokenizer("word", [text(r) for r in all_recs])
    torch.manual_seed(seed)
    model = build_model(arch, len(tok))
    if warm_steps:
        rng = random.Random(seed)
        texts = [text(r) for r in train]
        opt = torch.optim.AdamW(model.parameters(), lr=warm_lr)
        for _ in range(warm_steps):
            enc = tok(rng.sample(texts, min(batch, len(texts))), return_tensors="pt", padding=True)
            labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
            # loss on the solution only (as SFT would): a tiny model then learns to answer in few steps
            before_solution = (enc.input_ids == tok.convert_tokens_to_ids("<solution>")).int().cumsum(1) == 0
            loss = model(**enc, labels=labels.masked_fill(before_solution, -100)).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.save_pretrained(root / "init")
    tok.save_pretrained(root / "init")
    for band, recs in bands.items():
        write_jsonl(root / f"{band}.jsonl", recs)
    return root / "init"


def rl_config(init: Path, prompts: Path, **kw) -> dict:
    cfg = dict(init=str(init), prompts=str(prompts), steps=3, prompts_per_step=4, group_size=4, mini_batches=2,
               micro_batch_samples=4, lr=1e-3, max_new_tokens=16, max_prompt_tokens=256, ckpt_every_steps=1,
               stop=["</answer>"], reward={"name": "outcome"}, devices=1)
    cfg.update(kw)
    return cfg

