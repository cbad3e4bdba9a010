"""GRPO numerics, matching the authors' verl 0.5 fork (their repository's `verl/trainer/ppo/core_algos.py` and
`verl/trainer/config/physics_rl_bs4_op13-14.yaml`; paper App. A.3.3).

Every function is a pure tensor function; the defaults are the paper/verl values. Shapes: N samples,
T response tokens; `mask` is True on response tokens that count (prompt and post-EOS tokens are False).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSS_AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")


@dataclass
class LossConfig:
    clip_low: float = 0.2  # verl clip_ratio_low (= clip_ratio 0.2)
    clip_high: float = 0.2  # verl clip_ratio_high; DAPO uses 0.28
    clip_ratio_c: float | None = 3.0  # verl dual-clip bound for negative advantages (None = off)
    kl_coef: float = 1e-3  # paper A.3.3 "low-variance KL penalty", verl use_kl_loss
    loss_agg: str = "token-mean"  # verl default; see agg_loss
    norm_len: int | None = None  # seq-mean-token-sum-norm divisor; None = padded response length (verl)
    adv_eps: float = 1e-6  # verl GRPO epsilon
    norm_by_std: bool = True  # False = Dr. GRPO (mean-centred only)


def group_advantages(rewards: torch.Tensor, index: torch.Tensor, *, norm_by_std: bool = True,
                     eps: float = 1e-6) -> tuple[torch.Tensor, float]:
    """verl `compute_grpo_outcome_advantage`: A = (r - mean_g) / (std_g + eps), std unbiased.

    Each group's mean and std are `torch.mean` / `torch.std` of its rewards, exactly as verl computes them.
    A group of size 1 gets mean 0, std 1 (verl), so A = r / (1 + eps). A group whose rewards are all equal
    (max == min) carries no signal: its advantage is exactly 0 for any reward value (verl departs here: its
    float mean can be an ulp off r, so std is a few ulps, not 0, and A = ulp / (std + eps) reaches ~0.06). Returns
    (advantages [N], fraction of groups of size > 1 whose rewards are all equal).
    """
    rewards = rewards.float()
    _, inv, counts = torch.unique(index, return_inverse=True, return_counts=True)
    order = torch.argsort(inv, stable=True)
    sizes = counts.tolist()
    adv_sorted = torch.zeros_like(rewards)
    n_multi = n_const = 0
    for r, out in zip(rewards[order].split(sizes), adv_sorted.split(sizes)):
        if r.numel() == 1:
            out.copy_(r / (1.0 + eps) if norm_by_std else r)
            continue
        n_multi += 1
        if r.max() == r.min():
            n_const += 1
            continue
        a = r - r.mean()
        out.copy_(a / (r.std() + eps) if norm_by_std else a)
    adv = torch.empty_like(rewards)
    adv[order] = adv_sorted
    return adv, n_const / max(n_multi, 1)


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log π(token) under logits / T (the sampling temperature, as verl and TRL do)."""
    logp = F.log_softmax(logits.float() / temperature, dim=-1)
    return logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Per-token entropy of softmax(logits / T); logged only (entropy_coeff = 0 in the paper)."""
    logp = F.log_softmax(logits.float() / temperature, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """verl `low_var_kl` (Schulman k3): exp(ref - logp) - (ref - logp) - 1, log-ratio clamped to ±20, kl to ±10."""
    log_ratio = (ref_logp - logp).clamp(-20.0, 20.0)
    return (log_ratio.exp() - log_ratio - 1.0).clamp(-10.0, 10.0)


def agg_loss(loss_mat: torch.Tensor, mask: torch.Tensor, mode: str = "token-mean", *, norm_len: int | None = None,
             n_tokens: float | None = None, n_seqs: float | None = None) -> torch.Tensor:
    """verl `agg_loss`, made exact under micro-batching.

    token-mean: Σ loss / Σ mask over the whole mini-batch (the paper's verl default, DAPO-style).
    seq-mean-token-mean: mean over sequences of each sequence's token mean (original GRPO).
    seq-mean-token-sum-norm: Σ over all tokens / norm_len (Dr. GRPO; verl divides by the padded response
    length, i.e. max_response_length, a constant). Note: a sum over sequences, not a mean.
    `n_tokens`/`n_seqs` are the mini-batch totals, so micro-batch losses add up to the mini-batch loss.
    """
    mask = mask.to(loss_mat.dtype)
    if mode == "token-mean":
        denom = mask.sum() if n_tokens is None else n_tokens
        return (loss_mat * mask).sum() / max(float(denom), 1.0)
    if mode == "seq-mean-token-mean":
        per_seq = (loss_mat * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
        denom = loss_mat.shape[0] if n_seqs is None else n_seqs
        return per_seq.sum() / max(float(denom), 1.0)
    if mode == "seq-mean-token-sum-norm":
        denom = loss_mat.shape[-1] if norm_len is None else norm_len
        return (loss_mat * mask).sum() / float(denom)
    raise ValueError(f"unknown loss_agg {mode!r}; expected one of {LOSS_AGG_MODES}")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, *, clip_low: float = 0.2,
                      clip_high: float = 0.2, clip_ratio_c: float | None = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """verl `compute_policy_loss` (vanilla): per-token -min(r·A, clip(r, 1-εl, 1+εh)·A), dual-clipped at
    -c·A for A < 0. `adv` is [N] or [N, T]. Returns (per-token loss [N, T], per-token clipped flag)."""
    if adv.dim() == 1:
        adv = adv.unsqueeze(-1)
    ratio = (logp - old_logp).clamp(-20.0, 20.0).exp()
    loss1 = -adv * ratio
    loss2 = -adv * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    loss = torch.maximum(loss1, loss2)
    clipped = loss2 > loss1
    if clip_ratio_c is not None:
        loss = torch.where(adv < 0, torch.minimum(loss, -adv * clip_ratio_c), loss)
    return loss, clipped


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor | None, adv: torch.Tensor,
              mask: torch.Tensor, cfg: LossConfig, *, n_tokens: float | None = None,
              n_seqs: float | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Policy loss + kl_coef · KL loss, both aggregated with `cfg.loss_agg` (verl dp_actor)."""
    pg_mat, clipped = clipped_surrogate(logp, old_logp, adv, clip_low=cfg.clip_low, clip_high=cfg.clip_high,
                                        clip_ratio_c=cfg.clip_ratio_c)
    kw = dict(norm_len=cfg.norm_len, n_tokens=n_tokens, n_seqs=n_seqs)
    pg = agg_loss(pg_mat, mask, cfg.loss_agg, **kw)
    stats = {"pg_loss": pg.detach(), "clip_ratio": masked_mean(clipped.float(), mask)}
    loss = pg
    if ref_logp is not None and cfg.kl_coef != 0.0:
        kl_mat = k3_kl(logp, ref_logp)
        kl = agg_loss(kl_mat, mask, cfg.loss_agg, **kw)
        loss = loss + cfg.kl_coef * kl
        stats["kl"] = masked_mean(kl_mat.detach(), mask)
    return loss, stats
