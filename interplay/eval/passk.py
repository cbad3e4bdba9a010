"""Unbiased pass@k (Chen et al. 2021) and bootstrap confidence intervals over problems.

pass@k = E_problems[1 − C(n−c, k) / C(n, k)], computed in the numerically stable product form
1 − Π_{i=n−c+1}^{n} (1 − k/i) of `human-eval`'s `estimate_pass_at_k`. The official eval uses the same
estimator (as `math.comb`) for answer-level pass@k and drops problems with n < k; we refuse n < k outright.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct."""
    n, c, k = int(n), int(c), int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if n < k:
        raise ValueError(f"pass@{k} is not defined with only n={n} samples")
    if not 0 <= c <= n:
        raise ValueError(f"c must be in [0, n={n}], got {c}")
    if n - c < k:  # every k-subset contains a correct sample
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_array(n: np.ndarray | Sequence[int] | int, c: np.ndarray | Sequence[int], k: int) -> np.ndarray:
    """Vectorized `pass_at_k` over problems: `n` (scalar or per problem) and `c` per problem → [P] floats."""
    c = np.asarray(c, dtype=np.int64)
    n = np.broadcast_to(np.asarray(n, dtype=np.int64), c.shape)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if c.size and (n < k).any():
        raise ValueError(f"pass@{k} is not defined with only n={int(n.min())} samples")
    if c.size and ((c < 0) | (c > n)).any():
        raise ValueError("c must be in [0, n] for every problem")
    out = np.ones(c.shape, dtype=np.float64)
    fail = n - c  # number of incorrect samples
    todo = fail >= k
    if todo.any():
        # log Π_{i=n−c+1}^{n}(1 − k/i) = Σ over the c factors; do it as a cumulative sum over i so every
        # problem is handled by one vectorized pass: log(1 − k/i) summed for i in (fail, n].
        nmax = int(n.max())
        i = np.arange(1, nmax + 1, dtype=np.float64)
        # factors with i <= k never enter a product when fail >= k: zero them so the cumulative sum stays finite
        logf = np.log1p(-k / np.maximum(i, k + 1.0)) * (i > k)
        cum = np.concatenate([[0.0], np.cumsum(logf)])
        nt, ft = n[todo], fail[todo]
        out[todo] = 1.0 - np.exp(cum[nt] - cum[ft])
    return out


def default_ks(n: int) -> list[int]:
    """k ∈ {1, 2, 4, …} up to n, plus n itself (as the official eval: powers of two below n, then n)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n]


def pass_at_k_curve(n: np.ndarray | Sequence[int] | int, c: Sequence[int] | np.ndarray,
                    ks: Sequence[int] | None = None) -> dict[int, float]:
    """Mean pass@k over problems for each k (k larger than the smallest n is not reported)."""
    c = np.asarray(c, dtype=np.int64)
    n_arr = np.broadcast_to(np.asarray(n, dtype=np.int64), c.shape)
    if c.size == 0:
        return {}
    nmin = int(n_arr.min())
    ks = default_ks(nmin) if ks is None else [int(k) for k in ks if int(k) <= nmin]
    return {k: float(pass_at_k_array(n_arr, c, k).mean()) for k in ks}


def bootstrap_ci(per_problem: np.ndarray, *, n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> np.ndarray:
    """Percentile CI of the mean over problems. `per_problem` is [P] or [P, K] → [2] or [2, K] (lo, hi)."""
    x = np.asarray(per_problem, dtype=np.float64)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    if x.shape[0] == 0:
        out = np.full((2, x.shape[1]), np.nan)
        return out[:, 0] if squeeze else out
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.shape[0], size=(n_boot, x.shape[0]))
    means = x[idx].mean(axis=1)  # [B, K]
    out = np.quantile(means, [alpha / 2, 1 - alpha / 2], axis=0)
    return out[:, 0] if squeeze else out


def pass_at_k_table(n: np.ndarray | Sequence[int] | int, c: Sequence[int] | np.ndarray, ks: Sequence[int], *,
                    n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, object]]:
    """{"pass": {k: mean}, "ci": {k: [lo, hi]}} with keys as strings (JSON-ready); ks above min n dropped."""
    c = np.asarray(c, dtype=np.int64)
    n_arr = np.broadcast_to(np.asarray(n, dtype=np.int64), c.shape)
    if c.size == 0:
        return {"pass": {}, "ci": {}}
    ks = [int(k) for k in ks if int(k) <= int(n_arr.min())]
    mat = np.stack([pass_at_k_array(n_arr, c, k) for k in ks], axis=1)  # [P, K]
    ci = bootstrap_ci(mat, n_boot=n_boot, seed=seed)
    return {"pass": {str(k): float(mat[:, j].mean()) for j, k in enumerate(ks)},
            "ci": {str(k): [float(ci[0, j]), float(ci[1, j])] for j, k in enumerate(ks)}}
