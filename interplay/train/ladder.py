"""The ladder curve: greedy accuracy on a held-out problem set every N optimizer steps of pre-training.

Issue-10 probes showed small bases learn the solution grammar first, then to copy the problem's quantity names,
and only then to look up values; the curve makes that visible while a base trains and shows when it plateaus.
Per band (id / edge / hard) it records greedy (temperature 0) strict accuracy (process-verified, paper A.4),
answer-only accuracy and a copy score: the share of the gold solution's quantity names that the greedy solution
defines (names right, values possibly wrong). Sampling and scoring are the package's own
(`interplay.sampling.sample`, `interplay.eval.evaluate.score_completion`).

The held-out set is the `heldout` dataset of the specs (its own seed stream; every test set is kept out of it
and it is kept out of every RL pool and training corpus). Under DDP only rank 0 evaluates while the other ranks
wait at a barrier; sampling draws no global random numbers, so the training run is the same with the curve on
or off. Rows are part of the Lightning checkpoint, so a resumed run keeps its curve.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from interplay.io import atomic_path, read_json
from interplay.train.config import LadderRunCfg

COLUMNS = ["step", "tokens", "band", "problems", "strict", "answer", "copy", "seconds"]


def load_heldout(cfg: LadderRunCfg) -> dict[str, list]:
    """Held-out problems per band (bands and contexts as configured), from the dataset's index.json."""
    from interplay.data.records import load_problems

    root = Path(cfg.heldout)
    if not (root / "index.json").is_file():
        raise FileNotFoundError(f"held-out set {root} has no index.json (run its `generate` stage first)")
    out: dict[str, list] = {b: [] for b in cfg.bands}
    for f in read_json(root / "index.json")["files"]:
        if f.get("band") in out and (not cfg.contexts or f.get("context") in cfg.contexts):
            out[f["band"]] += load_problems(root / f["path"])
    empty = [b for b, ps in out.items() if not ps]
    if empty:
        raise ValueError(f"held-out set {root} has no problems for band(s) {', '.join(empty)} "
                         f"in contexts {cfg.contexts or 'any'}")
    return out


def copy_score(text: str, record: dict) -> float:
    """Share of the gold solution's quantity names that `text` defines (`Define <name> as ...`)."""
    from interplay.data.parser import parse_solution

    gold = {n["name"] for n in record["graph"]["nodes"]}
    if not gold:
        return 0.0
    pred = parse_solution(text if isinstance(text, str) else "")
    names = {n.name for n in pred.graph.nodes} if pred.graph is not None else set()
    return len(gold & names) / len(gold)


def ladder_rows(model, tokenizer, problems: dict[str, list], *, max_new_tokens: int, mode: str = "paper",
                batch_size: int = 64) -> list[dict[str, Any]]:
    """Greedy strict / answer accuracy and copy score per band (one sampler call for all problems)."""
    from interplay.data.render import prompt_text
    from interplay.eval.evaluate import score_completion
    from interplay.sampling import sample

    flat = [(band, p) for band, ps in problems.items() for p in ps]
    s = sample(model, tokenizer, [prompt_text(p.problem, p.question) for _, p in flat], 1, temperature=0.0,
               max_new_tokens=max_new_tokens, stop=("</answer>",), batch_size=batch_size)
    acc: dict[str, list[tuple[float, float, float]]] = {b: [] for b in problems}
    for (band, p), text in zip(flat, s.texts):
        rec = p.to_record()
        sc = score_completion(text, rec, mode)
        acc[band].append((float(sc["strict"]), float(sc["answer"]), copy_score(text, rec)))
    return [{"band": b, "problems": len(v), "strict": sum(x[0] for x in v) / len(v),
             "answer": sum(x[1] for x in v) / len(v), "copy": sum(x[2] for x in v) / len(v)}
            for b, v in acc.items()]


class LadderCallback(pl.Callback):
    """Evaluates the held-out ladder after every `every`-th optimizer step and after the last one."""

    def __init__(self, cfg: LadderRunCfg, tokenizer, tokens_per_step: int, total_steps: int):
        self.cfg, self.tok, self.tokens_per_step, self.total = cfg, tokenizer, tokens_per_step, total_steps
        self.problems = load_heldout(cfg)
        self.rows: list[dict[str, Any]] = []
        self.last_step = 0  # last step evaluated (checkpointed, so a resume never repeats a step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # called after every micro-batch; global_step only advances with an optimizer step
        step = trainer.global_step
        if step == self.last_step or not (step % self.cfg.every == 0 or step == self.total):
            return
        self.last_step = step
        t0 = time.perf_counter()
        if trainer.is_global_zero:
            rows = ladder_rows(pl_module.model, self.tok, self.problems, max_new_tokens=self.cfg.max_new_tokens,
                               mode=self.cfg.mode, batch_size=self.cfg.batch_size)
            dt = time.perf_counter() - t0
            self.rows += [{"step": step, "tokens": step * self.tokens_per_step, **r, "seconds": dt} for r in rows]
        trainer.strategy.barrier("ladder")  # the other DDP ranks wait here for rank 0
        if getattr(pl_module, "_t_last", None) is not None:  # keep evaluation time out of train_seconds
            pl_module._t_last += time.perf_counter() - t0

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "last_step": self.last_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = list(state.get("rows", []))
        self.last_step = int(state.get("last_step", 0))


def write_curve(rows: list[dict[str, Any]], path: str | Path) -> None:
    """ladder.csv (DVC plot): one row per evaluated step and band; header only when the curve is off."""
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in COLUMNS})


def final_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{band: {strict, answer, copy, step}} of the last evaluated step."""
    if not rows:
        return {}
    last = max(r["step"] for r in rows)
    return {r["band"]: {k: r[k] for k in ("step", "strict", "answer", "copy")} for r in rows if r["step"] == last}
