"""Typed run config of one pre-/mid-training run (the resolved YAML a DVC stage passes to `run_lm`).

Schema: `LMRunConfig` below. Unknown keys and wrong types fail at load time with the key named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from interplay.knobs import Accelerator, LossOn, Packing, Schedule, VerifyMode, knob, plain


@dataclass
class LadderRunCfg:
    """The ladder curve during pre-training (interplay.train.ladder): greedy held-out accuracy per band."""

    heldout: str = ""  # held-out dataset directory (`<band>.<context>.jsonl` files of the `generate` stage)
    every: int = 0  # optimizer steps between evaluations (and the last step); 0 = off
    bands: Dict[str, List[int]] = field(default_factory=dict)  # band -> ops
    contexts: List[str] = field(default_factory=list)  # the contexts evaluated (empty: all)
    max_new_tokens: int = 256
    mode: VerifyMode = VerifyMode.paper  # verification mode
    batch_size: int = 64  # sampler rows per batch


@dataclass
class LMCfg:
    """The knobs of next-token training a profile sets (its `pretrain` / `midtrain` sections are this type)."""

    token_budget: int = knob(1_000_000, gt=0)  # training tokens; steps = token_budget // tokens_per_step
    tokens_per_step: int = knob(16_384, gt=0)  # global: seq_len x micro_batch_size x devices x grad accumulation
    seq_len: int = knob(256, gt=0)  # tokens per training window
    micro_batch_size: int = knob(16, gt=0)  # sequences per device per forward (memory only)
    # concat: chop the document stream into windows; docs: pack whole documents and pad the rest with [PAD]
    # (like the authors' first-fit packing, LLaMA-Factory/src/llamafactory/data/processor/pretrain.py)
    packing: Packing = Packing.concat
    # the authors let packed documents attend to each other; False gives a block-diagonal mask (position ids
    # restart after each EOS, which transformers turns into a per-document causal mask)
    cross_doc_attention: bool = True
    # all: every token is a target (the authors' pre-training); solution: the question's tokens (`<question>` up to
    # and including `<solution>`) get label -100, so the loss is on what the model must derive, not on random names
    loss_on: LossOn = LossOn.all
    lr: float = knob(1e-3, gt=0)  # peak LR of AdamW (HF Trainer defaults, as LLaMA-Factory)
    min_lr: float = knob(1e-4, ge=0)  # the schedule's floor, at most lr
    warmup_ratio: float = knob(0.05, ge=0, le=1)  # share of steps in linear warmup
    # cosine: HF `cosine_with_min_lr` (the authors'); wsd: warmup-stable-decay, constant lr, then linear to min_lr
    schedule: Schedule = Schedule.cosine
    decay_ratio: float = knob(0.2, gt=0, le=1)  # wsd only: share of the steps in the final linear decay
    weight_decay: float = knob(0.1, ge=0)  # AdamW
    beta1: float = knob(0.9, ge=0, le=1)  # AdamW
    beta2: float = knob(0.999, ge=0, le=1)  # AdamW
    eps: float = knob(1e-8, gt=0)  # AdamW
    grad_clip: float = knob(1.0, ge=0)  # max grad norm
    accelerator: Accelerator = Accelerator.auto  # auto = gpu when CUDA is available
    # Measured through run_lm on the shared 2-core machine (benchmarks/pretrain.py --ddp, load 6-8), tokens/s:
    #   ci:  1 proc × 2 threads 754 / 2,948 / 866;  1 × 1 thread 8,524 / 12,311 / 15,026;  2 DDP × 1 thread 10,358 / 20,619 / 10,184
    #   cpu: 1 × 2 threads 269;  1 × 1 thread 1,657;  2 DDP × 1 thread 1,861
    # Two threads in one process starve (OpenMP spin-waits on oversubscribed cores); 2 DDP (gloo) × 1 thread is
    # the faster default on CPU (3 of 4 runs vs 1 × 1, and always vs 1 × 2). Set `devices: 1` for runs of a few
    # seconds, where DDP's ~10 s start-up dominates.
    devices: int = knob(0, ge=0)  # DDP processes; 0 = auto: 2 on CPU, 1 on GPU
    precision: str = "auto"  # Lightning precision; auto = 32-true on CPU, bf16-mixed on GPU
    compile: bool = False  # torch.compile the model
    num_workers: int = knob(0, ge=0)  # DataLoader worker processes
    ckpt_every: int = knob(0, ge=0)  # optimizer steps between resumable checkpoints; 0 = about 10 per run
    log_every: int = knob(1, gt=0)  # optimizer steps between logged rows


@dataclass
class LMRunConfig(LMCfg):
    """One pre-/mid-training run: a profile's LM section (`LMCfg`) plus what the resolver binds for the run."""

    kind: str = "pretrain"  # pretrain | midtrain (they differ only in data, init and schedule)
    name: str = ""  # the run's name
    tokenizer: str = ""  # tokenizer directory (tokenizer.json); the model's vocabulary is len(tokenizer)
    shards: str = ""  # shard directory of `build_corpus` (tokens.bin, docs.npy, manifest.json)
    out_dir: Optional[str] = None  # where the run writes (the CLI's --out overrides it)
    model: str = "ci"  # preset in interplay.model.PRESETS (ignored when `init` is set)
    model_overrides: Dict[str, Any] = field(default_factory=dict)  # Qwen2Config fields on top of the preset
    init: Optional[str] = None  # HF checkpoint directory to start from (mid-training); None = from scratch
    vocab_size: Optional[int] = None  # only for --dry-run without a tokenizer on disk
    seed: int = 0  # the run's seed (data order, init)
    threads: int = 1  # torch threads per process on CPU
    ladder: Optional[LadderRunCfg] = None  # held-out ladder curve -> out_dir/ladder.csv (None: no file)


def load_config(path_or_dict: str | Path | dict) -> LMRunConfig:
    """Merge a YAML file / dict onto the schema; a one-line ValueError names the bad key."""
    schema = OmegaConf.structured(LMRunConfig)
    try:
        user = OmegaConf.load(path_or_dict) if isinstance(path_or_dict, (str, Path)) else OmegaConf.create(path_or_dict)
        merged = OmegaConf.merge(schema, user)
        cfg: LMRunConfig = plain(OmegaConf.to_object(merged))  # type: ignore[assignment]
    except OmegaConfBaseException as e:
        where = f"{path_or_dict}: " if isinstance(path_or_dict, (str, Path)) else ""
        raise ValueError(f"{where}{str(e).splitlines()[0]}") from None
    except FileNotFoundError:
        raise ValueError(f"config file {path_or_dict} not found") from None
    if cfg.devices == 0:
        cfg.devices = 1 if resolve_accelerator(cfg) == "gpu" else 2
    validate(cfg)
    return cfg


def resolve_accelerator(cfg: LMRunConfig) -> str:
    if cfg.accelerator != "auto":
        return cfg.accelerator
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def validate(cfg: LMRunConfig) -> None:
    if cfg.kind not in ("pretrain", "midtrain"):
        raise ValueError(f"kind must be pretrain or midtrain, got {cfg.kind!r}")
    for k in ("token_budget", "tokens_per_step", "seq_len", "micro_batch_size", "devices", "threads"):
        if getattr(cfg, k) <= 0:
            raise ValueError(f"{k} must be positive, got {getattr(cfg, k)}")
    if not 0.0 <= cfg.warmup_ratio <= 1.0:
        raise ValueError(f"warmup_ratio must be in [0, 1], got {cfg.warmup_ratio}")
    if cfg.min_lr > cfg.lr:
        raise ValueError(f"min_lr {cfg.min_lr} is larger than lr {cfg.lr}")
    per_micro = cfg.seq_len * cfg.micro_batch_size * cfg.devices
    if cfg.tokens_per_step % per_micro:
        raise ValueError(f"tokens_per_step {cfg.tokens_per_step} is not a multiple of seq_len × micro_batch_size × "
                         f"devices = {per_micro}")
    if cfg.token_budget < cfg.tokens_per_step:
        raise ValueError(f"token budget {cfg.token_budget} is smaller than one step ({cfg.tokens_per_step} tokens)")


def grad_accumulation(cfg: LMRunConfig) -> int:
    return cfg.tokens_per_step // (cfg.seq_len * cfg.micro_batch_size * cfg.devices)


def total_steps(cfg: LMRunConfig) -> int:
    return cfg.token_budget // cfg.tokens_per_step


def decay_steps(cfg: LMRunConfig) -> int:
    """wsd: steps of the final linear decay (0 for cosine, which decays over every step after warmup)."""
    return math.ceil(cfg.decay_ratio * total_steps(cfg)) if cfg.schedule == "wsd" else 0


def warmup_steps(cfg: LMRunConfig) -> int:
    """HF `get_warmup_steps`: ceil(warmup_ratio × steps)."""
    return math.ceil(cfg.warmup_ratio * total_steps(cfg))
