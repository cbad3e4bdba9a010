"""Synthetic evaluation / RL artifacts in the contract §7–8 formats, for claims and report tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

PER_PROBLEM_COLS = ["id", "op", "context", "mode", "n", "c_strict", "c_answer", "process_acc_mean", "nll",
                    "cat_correct", "cat_wrong_answer_only", "cat_value_mismatch", "cat_dependency_mismatch",
                    "cat_missing_nodes", "cat_unparseable"]
BANDS = {"id": [2, 3, 4], "edge": [5, 6], "hard": [7, 8]}


def write_per_problem(d: Path, p_strict: dict[int, float], *, n: int = 16, per_op: int = 40, seed: int = 0,
                      contexts=("zoo",), id_prefix: str = "p", hack: float = 0.1) -> Path:
    """One row per problem; problem ids depend only on (op, context, index), so arms share them."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "per_problem.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(PER_PROBLEM_COLS)
        for ctx in contexts:
            for op, p in sorted(p_strict.items()):
                for i in range(per_op):
                    c = int(rng.binomial(n, p))
                    extra = int(rng.binomial(n - c, hack))  # right answer, wrong process
                    wrong = n - c - extra
                    dep = int(rng.binomial(wrong, 0.7))
                    miss = wrong - dep
                    w.writerow([f"{id_prefix}{ctx}-{op}-{i}", op, ctx, "forward", n, c, c + extra,
                                f"{0.5 + 0.5 * c / n:.4f}", f"{1.0 + op / 10:.4f}", c, 0, extra, dep, miss, 0])
    return path


def write_rewards(d: Path, rewards: list[float], acc_strict: list[float] | None = None) -> Path:
    """An RL run's curve as run_rl logs it: DVCLive files under d/dvclive (interplay.train.curves); the share of
    rollouts verified in process is `acc_strict` (default: equal to the reward)."""
    from dvclive import Live

    with Live(str(d / "dvclive"), dvcyaml=None, save_dvc_exp=False) as live:
        for i, r in enumerate(rewards):
            live.step = i + 1
            strict = r if acc_strict is None else acc_strict[i]
            for key, v in (("reward", r), ("reward_std", 0.1), ("acc_strict", strict), ("kl", 0.001)):
                live.log_metric(key, v)
            live.make_summary()
    return d / "dvclive" / "metrics.json"


ALL_OPS = list(range(2, 21))  # a test set's ops, for operands without a band


def bind(c: dict, arms: dict, bands: dict = BANDS) -> dict:
    """A claim as the resolver writes it: each operand with its artifact dir and its ops (the band's, its top op,
    or the test set's), rewards over the last 5 steps unless it says otherwise."""
    c = {**c, "lhs": dict(c["lhs"]), "rhs": dict(c["rhs"]) if c.get("rhs") is not None else None}
    for side in ("lhs", "rhs"):
        op = c[side]
        if op is None:
            continue
        if op["metric"] in ("reward", "rollout_strict"):
            op.setdefault("rl_dir", arms.get(op["arm"]))
            op.setdefault("last", 5)
            continue
        op.setdefault("eval_dir", arms.get(op["arm"]))
        if op.get("ops") is None:
            ops = bands.get(op["band"], []) if op.get("band") is not None else ALL_OPS
            op["ops"] = ops[-1:] if op.get("at") == "top" else ops
    return c
