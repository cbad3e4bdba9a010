"""Stop a diverged run: a Lightning callback that fails training at the first non-finite step.

A non-finite loss or gradient norm (before clipping: clipping an infinite norm gives zero gradients, which would
hide it), a non-finite logged metric (RL: reward, KL, loss, grad norm) or non-finite weights after the update raise
`Diverged` naming the step. The checks run before any checkpoint of that step is written (Lightning runs
`ModelCheckpoint` after every other callback; the RL checkpoint callback is listed after this one), and the
exception ends `trainer.fit`, so the last checkpoint on disk is the last finite one and no model is saved.

All values checked are the same on every DDP rank (gradients and weights after all-reduce, losses reduced here,
logged RL metrics summed over ranks), so every rank stops at the same step.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import pytorch_lightning as pl
import torch

from interplay.train import Diverged

__all__ = ["Diverged", "DivergenceGuard", "optimizer_steps"]


def _norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    if not tensors:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(tensors, norm_type=2.0)


def optimizer_steps(trainer: pl.Trainer, module: pl.LightningModule) -> int:
    """Completed optimizer steps (automatic optimization); a module-level function so the callback pickles."""
    return trainer.global_step


class DivergenceGuard(pl.Callback):
    """Raise `Diverged` at the first non-finite loss, gradient norm, metric or weight.

    `steps_done(trainer, module)` is the number of completed optimizer/rollout steps (it is also the step a
    checkpoint saved now holds); `metrics` are `trainer.callback_metrics` keys checked after every step.
    """

    def __init__(self, kind: str, ckpt: str | Path, steps_done: Callable[[pl.Trainer, pl.LightningModule], int],
                 metrics: tuple[str, ...] = ()):
        self.kind, self.ckpt, self.steps_done, self.metrics = kind, Path(ckpt), steps_done, metrics
        self.step = 0  # 1-based step in progress
        self.saved: int | None = None  # step held by the last checkpoint written or resumed from
        self._losses: list[torch.Tensor] = []

    # -- bookkeeping
    def on_train_start(self, trainer, pl_module):
        done = self.steps_done(trainer, pl_module)
        self.saved = done if done > 0 else None  # > 0 only when resumed from a checkpoint of that step

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        self.saved = self.steps_done(trainer, pl_module)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.step = self.steps_done(trainer, pl_module) + 1

    # -- checks
    def on_before_backward(self, trainer, pl_module, loss):
        self._losses.append(loss.detach().float())  # checked with the gradients: one device sync per step

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        values = {"gradient norm": _norm(grads)}
        if self._losses:
            loss = torch.stack(self._losses).mean()
            values = {"loss": trainer.strategy.reduce(loss, reduce_op="mean"), **values}
        self._losses = []
        self._check(values)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.steps_done(trainer, pl_module) < self.step:  # a micro-batch within gradient accumulation
            return
        values = {k: trainer.callback_metrics[k] for k in self.metrics if k in trainer.callback_metrics}
        if self._losses:  # backward ran but no optimizer step did (RL skips the update on a non-finite norm)
            values["loss"] = trainer.strategy.reduce(torch.stack(self._losses).mean(), reduce_op="mean")
            self._losses = []
        values["weight norm"] = _norm([p.detach() for p in pl_module.parameters()])
        self._check(values)

    def _check(self, values: dict[str, torch.Tensor | float]) -> None:
        dev = next((v.device for v in values.values() if isinstance(v, torch.Tensor)), None)
        flat = torch.stack([torch.as_tensor(v, dtype=torch.float32).to(dev).reshape(()) for v in values.values()])
        got = dict(zip(values, flat.tolist()))  # one device sync for all of them
        bad = [f"{k} {v}" for k, v in got.items() if not math.isfinite(v)]
        if not bad:
            return
        kept = (f"kept the last finite checkpoint {self.ckpt} (step {self.saved})" if self.saved is not None
                else "no checkpoint was written before it")
        raise Diverged(f"{self.kind} diverged at step {self.step}: {', '.join(bad)}; {kept}; no model written")
