"""Evaluation: process-verified pass@k of sampled completions (paper §6).

`pass_at_k(n, c, k)` is the public unbiased estimator; `evaluate` / `rescore` (imported lazily, they pull in
torch and transformers) write the contract §7 artifacts.
"""

from __future__ import annotations

import importlib

from interplay.eval.passk import bootstrap_ci, default_ks, pass_at_k, pass_at_k_array, pass_at_k_curve

_LAZY = {"evaluate": "evaluate", "rescore": "evaluate", "EvalError": "evaluate", "Ladder": "ladder",
         "parse_bands": "evaluate", "DEFAULT_BANDS": "evaluate"}

__all__ = ["pass_at_k", "pass_at_k_array", "pass_at_k_curve", "default_ks", "bootstrap_ci", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"interplay.eval.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'interplay.eval' has no attribute {name!r}")
