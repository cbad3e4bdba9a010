"""Training curves and checkpoints, the same for pre-training and RL.

Curves: DVCLive's Lightning logger (`dvclive.lightning.DVCLiveLogger`), so every logged value is a DVC metric and
plot (`dvc exp show`, `dvc plots show`; the stages declare these files in dvc.yaml, interplay.spec.pipeline) in
`out/dvclive/` (layout and readers: interplay.train.curves).

Pre-training logs `train/loss`, `train/lr`, `train/grad_norm`, `train/tokens` every `log_every` optimizer steps
and at the last; RL logs its named metrics (interplay.train.grpo) every rollout step. The step is the number of
completed optimizer (pre-training) or rollout (RL) steps. Only rank 0 writes (the logger is rank-zero only).

Checkpoints: Lightning's `ModelCheckpoint` writing `out/ckpt/last.ckpt` through `AtomicCheckpointIO` (a temp file
renamed over the old one, so a SIGKILL during a save leaves the previous checkpoint whole).

Resume: DVCLive appends to its files (`resume=True`), but a killed run may have logged steps after its last
checkpoint; `rewind` first cuts every file back to the checkpoint's step (and rewrites metrics.json, which a kill
can leave half written), so a resumed run's files equal an uninterrupted run's.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from dvclive import Live
from dvclive.lightning import DVCLiveLogger
from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO

from interplay.io import atomic_path
from interplay.train.curves import live_dir, rewind

# RL (manual optimization) checkpoints the state after its updates on purpose: that is the state a resume continues.
warnings.filterwarnings("ignore", message=".*Using ModelCheckpoint with manual optimization.*")

class _Live(Live):
    """DVCLive without its Git/DVC probing: the curve files need no repository state (no experiment is saved, no
    dvc.yaml written), and the probe raises in a Git repository without commits (treeverse/dvclive#522)."""

    def _init_dvc(self):
        self._dvc_file = "dvc.yaml"  # never written (dvcyaml=None)

    def post_data_to_studio(self):
        # Without DVC Studio, DVCLive still re-reads params.yaml and every plot file at each step to queue data
        # that is then dropped: O(steps) work per step, ~6 % of a ci-preset step (benchmarks/pretrain.py).
        if "data" not in self._studio_events_to_skip:
            super().post_data_to_studio()


class RunLogger(DVCLiveLogger):
    """DVCLive's Lightning logger writing `out/dvclive` and nothing else: no dvc.yaml (the pipeline declares the
    files), no DVC experiment of its own, no report. `resume_step`: the checkpoint step a run resumes from."""

    def __init__(self, out: str | os.PathLike, resume_step: int | None = None):
        super().__init__(run_name=None, dir=str(live_dir(out)), resume=resume_step is not None, dvcyaml=None,
                         save_dvc_exp=False, report=None)
        self.resume_step = resume_step

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._experiment is None:  # rank 0 only (rank_zero_experiment)
            if self.resume_step is not None:
                rewind(self._kwargs["dir"], self.resume_step)
            self._experiment = _Live(**self._kwargs)
        return self._experiment

    def log_step(self, metrics: dict[str, float], step: int) -> None:
        """One row of every key at `step` (>= 1), and metrics.json (rank 0 only)."""
        self.log_metrics(metrics, step=step, sync=True)  # sync=True: DVCLive need not inspect the call stack


class AtomicCheckpointIO(TorchCheckpointIO):
    """A SIGKILL during a save must leave the previous last.ckpt intact."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        with atomic_path(path) as tmp:
            buf = io.BytesIO()
            torch.save(checkpoint, buf)
            tmp.write_bytes(buf.getvalue())


def checkpointing(out: str | os.PathLike, every_n_train_steps: int) -> tuple[ModelCheckpoint, AtomicCheckpointIO]:
    """The callback and plugin for `pl.Trainer`: `out/ckpt/last.ckpt` every `every_n_train_steps` optimizer steps
    (`trainer.global_step`), written atomically."""
    ckpt = ModelCheckpoint(dirpath=Path(out) / "ckpt", every_n_train_steps=max(1, int(every_n_train_steps)),
                           save_top_k=0, save_last=True)
    return ckpt, AtomicCheckpointIO()


def resume_point(out: str | os.PathLike, resume: bool) -> Path | None:
    """`out/ckpt/last.ckpt` when resuming and it exists, else None."""
    last = Path(out) / "ckpt" / "last.ckpt"
    return last if resume and last.is_file() else None


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A Lightning checkpoint's dict with tensors memory-mapped (cheap: for its counters, before `fit`)."""
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


__all__ = ["AtomicCheckpointIO", "RunLogger", "checkpointing", "read_checkpoint", "resume_point"]
