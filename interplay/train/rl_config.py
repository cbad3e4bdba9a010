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

from interplay.train.grpo_loss import LOSS_AGG_MODES, LossConfig
from interplay.train.rewards import REWARDS, VERIFY_MODES


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
    name: str = "outcome"  # outcome | mix | strict | gated
    alpha: Optional[float] = None  # weight of R_out (mix default 0.5, gated default 0.2)
    strict_zero: bool = False  # gated only: authors' zero_on_process_mismatch
    verify_mode: Optional[str] = None  # paper | official_compat; None = the reward's own (gated: official_compat)


@dataclass
class RLConfig:
    init: str = MISSING  # HF checkpoint dir (model + tokenizer)
    prompts: Optional[str] = None  # one prompt-pool JSONL, drawn uniformly (the pipeline's case) ...
    data: RLData = field(default_factory=RLData)  # ... or a weighted mixture of sources (not both)
    reward: RewardConfig = field(default_factory=RewardConfig)
    seed: int = 0
    steps: int = 200  # rollout steps (paper: 204.8k samples / 1024 = 200)
    prompts_per_step: int = 1024  # B, global over ranks (verl train_batch_size)
    group_size: int = 6  # G rollouts per prompt (verl rollout.n)
    mini_batches: int = 4  # optimizer steps per rollout batch per epoch (1024 / verl ppo_mini_batch_size 256)
    ppo_epochs: int = 1
    micro_batch_samples: int = 16  # samples per forward/backward (memory only; the result is unchanged)
    lr: float = 1e-6  # constant, no warmup (verl)
    weight_decay: float = 0.01  # verl actor optim default
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float = 1.0  # verl actor grad_clip
    # loss (grpo_loss.LossConfig): verl defaults
    kl_coef: float = 1e-3  # k3 "low_var_kl" in the loss (paper A.3.3); 0 = no reference model (γ = 0)
    clip: float = 0.2  # ratio clip ε (low)
    clip_high: Optional[float] = None  # None = clip (symmetric); DAPO uses 0.28
    clip_ratio_c: Optional[float] = 3.0  # verl dual clip for negative advantages; None = off
    loss_agg: str = "token-mean"  # token-mean | seq-mean-token-mean | seq-mean-token-sum-norm
    norm_len: Optional[int] = None  # seq-mean-token-sum-norm divisor (None = max_new_tokens)
    adv_eps: float = 1e-6
    norm_by_std: bool = True  # False = Dr. GRPO
    # rollouts
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 1024  # verl max_response_length
    max_prompt_tokens: int = 1024  # verl max_prompt_length; longer prompts are filtered (filter_overlong_prompts)
    stop: List[str] = field(default_factory=list)  # verl stops on EOS only; ["</answer>"] saves a token
    truncated: str = "keep"  # keep | mask (mask drops truncated completions from the loss, DAPO)
    sample_batch_size: int = 256  # sampler batch (memory only)
    # run
    ckpt_every_steps: int = 20  # rollout steps between Lightning checkpoints (verl save_freq 20)
    devices: int = 0  # DDP processes, each drawing its own prompts' groups; 0 = auto (auto_devices)
    accelerator: str = "cpu"
    precision: str = "32-true"
    threads: Optional[int] = None  # torch threads per process (None = leave as is)
    budget: Optional[Dict[str, Any]] = None  # informational (pipeline: beta, total_tokens, mid/rl steps)
    token_equivalents: Optional[float] = None  # informational: planned Eq. 1 budget


def loss_config(c: RLConfig) -> LossConfig:
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
        OmegaConf.to_container(c, throw_on_missing=True)
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
    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise ValueError(f"rl config: {msg}")

    need(c.reward.name in REWARDS, f"reward.name: must be one of {REWARDS}, got {c.reward.name!r}")
    need(c.reward.verify_mode in (None, *VERIFY_MODES),
         f"reward.verify_mode: must be one of {VERIFY_MODES}, got {c.reward.verify_mode!r}")
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
