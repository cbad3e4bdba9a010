"""The sampling settings of an evaluation: a profile's `eval` section extends `EvalConfig`, a resolved `evaluate`
run holds one under `eval`, and `interplay.eval.evaluate.evaluate` takes its fields as keyword arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from interplay.knobs import VerifyMode, knob


@dataclass
class EvalConfig:
    n: int = knob(128, gt=0)  # samples per problem
    ks: List[int] = knob(factory=lambda: [1, 2, 4, 8, 16, 32, 64, 128], ge=1)  # pass@k reported (k <= n)
    temperature: float = knob(0.7, ge=0)  # 0 = greedy
    top_p: float = knob(1.0, gt=0, le=1)  # nucleus sampling
    max_new_tokens: int = knob(1024, gt=0)  # completion length cap
    mode: VerifyMode = VerifyMode.paper  # how a completion's process is verified

    def __post_init__(self) -> None:
        if any(k > self.n for k in self.ks):
            raise ValueError(f"ks: every k must be at most n ({self.n}), got {list(self.ks)}")
