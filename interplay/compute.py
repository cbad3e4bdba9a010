"""Compute accounting shared by pre-/mid-training and GRPO (paper §5, Eq. 1-2, A.10.1, Table 3).

Training FLOPs follow C = 6·P·T with P the non-embedding parameters. A GRPO sample of L_total tokens costs
rollout (2P) + reference forward (2γP) + update (forward 2P + backward 4P) = (8 + 2γ)·P per token, i.e.
(8 + 2γ)/6 = 4/3 + γ/3 token-equivalents of next-token training (5/3 with a reference model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Paper values (A.3.3, A.10.1).
PAPER_MID_TOKENS_PER_STEP = 524_288  # 512K tokens/step; Table 3 only fits this value (docs/decisions.md D5)
PAPER_RL_PROMPTS_PER_STEP = 1024
PAPER_ROLLOUTS = 6
PAPER_L_TOTAL = 2048
PAPER_BETAS = (0.0, 0.2, 0.5, 0.8, 1.0)


def train_flops(non_embedding_params: int, tokens: int | float) -> float:
    """C = 6·P·T (Kaplan/Chinchilla accounting; P excludes embeddings)."""
    return 6.0 * non_embedding_params * tokens


def rl_token_factor(gamma: int = 1) -> float:
    """Token-equivalents per RL token: (8 + 2γ)/6; γ = 1 when a reference model is run."""
    return (8 + 2 * gamma) / 6


def rl_token_equivalents(samples: int | float, rollouts: int = PAPER_ROLLOUTS, l_total: int = PAPER_L_TOTAL,
                         gamma: int = 1) -> float:
    """Eq. 1: T_RL = (8 + 2γ)/6 · N · r · L_total."""
    return rl_token_factor(gamma) * samples * rollouts * l_total


def rl_flops(non_embedding_params: int, samples: int | float, rollouts: int = PAPER_ROLLOUTS,
             l_total: int = PAPER_L_TOTAL, gamma: int = 1) -> float:
    """C_RL = (8 + 2γ)·P·N·r·L_total."""
    return (8 + 2 * gamma) * non_embedding_params * samples * rollouts * l_total


@dataclass(frozen=True)
class BudgetSplit:
    total_tokens: float  # T, token-equivalents
    beta: float  # RL share of the budget
    mid_tokens: float  # (1 - β)·T
    mid_steps: int
    rl_steps: int
    rl_samples: int  # prompts N = βT / ((8+2γ)/6 · r · L_total), the Table 3 "samples" column


def split_budget(total_tokens: float, beta: float, *, mid_tokens_per_step: int = PAPER_MID_TOKENS_PER_STEP,
                 rl_prompts_per_step: int = PAPER_RL_PROMPTS_PER_STEP, rollouts: int = PAPER_ROLLOUTS,
                 l_total: int = PAPER_L_TOTAL, gamma: int = 1) -> BudgetSplit:
    """Split a budget T into mid-training tokens (1-β)T and RL steps βT (Eq. 2).

    Rounding reproduces Table 3 exactly: mid steps = floor((1-β)·round(T / tokens_per_step)) and
    RL steps = round(β·T / (token-equivalents per RL step)).
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    full_mid = round(total_tokens / mid_tokens_per_step)
    mid_steps = math.floor((1.0 - beta) * full_mid + 1e-9)
    per_rl_step = rl_token_equivalents(rl_prompts_per_step, rollouts, l_total, gamma)
    rl_steps = round(beta * total_tokens / per_rl_step)
    rl_samples = round(beta * total_tokens / rl_token_equivalents(1, rollouts, l_total, gamma))
    return BudgetSplit(total_tokens, beta, (1.0 - beta) * total_tokens, mid_steps, rl_steps, rl_samples)


def paper_table3_budgets() -> list[float]:
    """Table 3 rows: full-RL runs of 50..800 steps (labelled 1.05B..16.78B) and the 20B row."""
    per_step = rl_token_equivalents(PAPER_RL_PROMPTS_PER_STEP)
    return [s * per_step for s in (50, 100, 200, 400, 600, 800)] + [20e9]


def table3(budgets: list[float] | None = None, betas: tuple[float, ...] = PAPER_BETAS, **kw) -> list[dict]:
    """Rows of paper Table 3: per budget, the (mid steps, RL steps) of each β."""
    rows = []
    for t in budgets if budgets is not None else paper_table3_budgets():
        splits = [split_budget(t, b, **kw) for b in betas]
        rows.append({"total_tokens": t, "splits": splits})
    return rows
