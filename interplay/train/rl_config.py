"""Typed config of one GRPO run (OmegaConf structured dataclass; defaults = paper A.3.3 / authors' verl).

`load_rl_config(dict | path)` merges onto the schema, so an unknown key or a wrong type fails at load time
with the key named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from interplay.knobs import Accelerator, Reward, VerifyMode, knob


@dataclass
class RLSource:
    """One component of the prompt mixture: a JSONL record file (held-out split) and optional filters."""

    path: str = MISSING
    weight: float = 1.0  # share of each step's prompts drawn from this source
    ops: Optional[List[int]] = None  # keep these ops (None = all)
    contexts: Optional[List[str]] = None  # keep these contexts (zoo | teachers | festival, or template names)
    modes: Optional[List[str]] = None  # keep these modes (forward | reverse)
    balance_ops: bool = False  # draw the op uniformly first (paper: "uniform within the range"), else a record


@dataclass
class RLData:
    sources: List[RLSource] = field(default_factory=list)
    exclude: List[str] = field(default_factory=list)  # record files (e.g. test sets) whose ids are never drawn


@dataclass
class RewardConfig:
    """The reward of one RL run (paper Eq. 3); a spec's `rl.<run>.reward` is this type."""

    name: Reward = Reward.outcome  # outcome | mix | strict | gated
    alpha: Optional[float] = knob(None, ge=0, le=1)  # weight of R_out in mix/gated; None = the reward's default
    strict_zero: bool = False  # gated only: authors' zero_on_process_mismatch
    verify_mode: Optional[VerifyMode] = None  # None = the reward's own (gated: official_compat)


@dataclass
class RLCfg:
    """The knobs of GRPO a profile sets (its `rl` section extends this type); defaults: paper A.3.3 / verl."""

    steps: int = knob(200, gt=0)  # rollout steps (paper: 204.8k samples / 1024 = 200); a compute budget sets it
    prompts_per_step: int = knob(1024, gt=0)  # B, global over ranks (verl train_batch_size)
    group_size: int = knob(6, gt=0)  # G rollouts per prompt (verl rollout.n)
    mini_batches: int = knob(4, gt=0)  # optimizer steps per rollout batch per epoch (1024 / verl ppo_mini_batch_size)
    ppo_epochs: int = knob(1, gt=0)  # passes over each rollout batch
    micro_batch_samples: int = knob(16, gt=0)  # samples per forward/backward (memory only; the result is unchanged)
    lr: float = knob(1e-6, gt=0)  # AdamW, constant, no warmup (verl)
    weight_decay: float = knob(0.01, ge=0)  # verl actor optim default
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])  # AdamW
    grad_clip: float = knob(1.0, ge=0)  # verl actor grad_clip
    kl_coef: float = knob(1e-3, ge=0)  # k3 "low_var_kl" in the loss (paper A.3.3); 0 = no reference model
    clip: float = knob(0.2, ge=0, le=1)  # ratio clip ε (low)
    clip_high: Optional[float] = knob(None, ge=0)  # None = clip (symmetric); DAPO uses 0.28
    clip_ratio_c: Optional[float] = knob(3.0, gt=1)  # verl dual clip for negative advantages; None = off
    loss_agg: str = "token-mean"  # token-mean | seq-mean-token-mean | seq-mean-token-sum-norm (grpo_loss)
    norm_len: Optional[int] = knob(None, gt=0)  # seq-mean-token-sum-norm divisor (None = max_new_tokens)
    adv_eps: float = knob(1e-6, gt=0)  # added to the group std
    norm_by_std: bool = True  # False = Dr. GRPO
    temperature: float = knob(1.0, gt=0)  # rollout sampling (log-probs are taken at it)
    top_p: float = knob(1.0, gt=0, le=1)  # rollout sampling
    top_k: int = knob(0, ge=0)  # rollout sampling; 0 = off
    max_new_tokens: int = knob(1024, gt=0)  # rollout length cap (verl max_response_length)
    max_prompt_tokens: int = knob(1024, gt=0)  # longer prompts are dropped (verl filter_overlong_prompts)
    stop: List[str] = field(default_factory=list)  # verl stops on EOS only; ["</answer>"] saves a token
    truncated: str = "keep"  # keep | mask (mask drops truncated completions from the loss, DAPO)
    sample_batch_size: int = knob(256, gt=0)  # sampler batch (memory only)
    ckpt_every_steps: int = knob(20, gt=0)  # rollout steps between resumable checkpoints (verl save_freq 20)
    devices: int = knob(0, ge=0)  # DDP processes, each drawing its own prompts' groups; 0 = auto (auto_devices)
    accelerator: Accelerator = Accelerator.cpu  # cpu | gpu | auto
    precision: str = "32-true"  # Lightning precision (bf16-mixed on GPU)


@dataclass
class RLConfig(RLCfg):
    """One GRPO run: a profile's `rl` section (`RLCfg`) plus what the resolver binds for the run."""

    init: str = MISSING  # HF checkpoint dir (model + tokenizer)
    prompts: Optional[str] = None  # one prompt-pool JSONL, drawn uniformly (the pipeline's case) ...
    data: RLData = field(default_factory=RLData)  # ... or a weighted mixture of sources (not both)
    reward: RewardConfig = field(default_factory=RewardConfig)  # the reward
    seed: int = 0  # the run's seed
    threads: Optional[int] = None  # torch threads per process (None = leave as is)
    budget: Optional[Dict[str, Any]] = None  # informational (pipeline: beta, total_tokens, mid/rl steps)
    token_equivalents: Optional[float] = None  # informational: planned Eq. 1 budget


def loss_config(c: RLConfig):
    """The loss settings of grpo_loss (imported here: the schema stays importable without torch)."""
    from interplay.train.grpo_loss import LossConfig

    return LossConfig(clip_low=c.clip, clip_high=c.clip if c.clip_high is None else c.clip_high,
                      clip_ratio_c=c.clip_ratio_c, kl_coef=c.kl_coef, loss_agg=c.loss_agg,
                      norm_len=c.max_new_tokens if c.norm_len is None else c.norm_len, adv_eps=c.adv_eps,
                      norm_by_std=c.norm_by_std)


def sources(c: RLConfig) -> list:
    """The prompt mixture: `prompts` as one uniform source, or `data.sources`."""
    if c.prompts is not None:
        return [OmegaConf.structured(RLSource(path=c.prompts))]
    return list(c.data.sources)


def load_rl_config(cfg: Any) -> RLConfig:
    """dict / DictConfig / YAML path → validated RLConfig (a typed DictConfig). Errors name the key."""
    try:
        if isinstance(cfg, (str, Path)):
            cfg = OmegaConf.load(cfg)
        c: RLConfig = OmegaConf.merge(OmegaConf.structured(RLConfig), cfg)  # type: ignore[assignment]
        c = OmegaConf.create(OmegaConf.to_container(c, throw_on_missing=True, enum_to_str=True))  # plain strings
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        raise ValueError(f"rl config: {key}: {str(getattr(e, 'msg', e)).splitlines()[0]}") from None
    if c.devices == 0:
        c.devices = auto_devices(c)
    _check(c)
    return c


def auto_devices(c: RLConfig) -> int:
    """2 DDP processes (1 thread each) on CPU, where the prompts split evenly into 2 × mini_batches (measured
    faster than one process, benchmarks/grpo.py); 1 on a GPU. Results depend on the device count (the
    mini-batches are rank-local slices), never on anything else."""
    if c.accelerator != "cpu" or c.prompts_per_step % (2 * max(c.mini_batches, 1)):
        return 1
    return 2


def _check(c: RLConfig) -> None:
    from interplay.train.grpo_loss import LOSS_AGG_MODES

    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise ValueError(f"rl config: {msg}")

    need(c.loss_agg in LOSS_AGG_MODES, f"loss_agg: must be one of {LOSS_AGG_MODES}, got {c.loss_agg!r}")
    need(c.truncated in ("keep", "mask"), f"truncated: must be keep | mask, got {c.truncated!r}")
    need((c.prompts is None) != (len(c.data.sources) == 0), "give exactly one of `prompts` and `data.sources`")
    need(c.group_size >= 1 and c.steps >= 0 and c.ppo_epochs >= 1 and c.mini_batches >= 1,
         "group_size, ppo_epochs, mini_batches must be >= 1 and steps >= 0")
    need(c.devices >= 1, f"devices: must be >= 0 (0 = auto), got {c.devices}")
    need(c.prompts_per_step % c.devices == 0, "prompts_per_step: must be divisible by devices")
    need((c.prompts_per_step // c.devices) % c.mini_batches == 0,
         "mini_batches: must divide the prompts of each rank (prompts_per_step / devices)")
    need(c.temperature > 0, "temperature: must be > 0 (log-probs are taken at the sampling temperature)")
