"""Next-token training in Lightning: one module for pre- and mid-training, one DataModule over packed shards.

The LR schedule is HF's `cosine_with_min_lr` (what the authors' LLaMA-Factory runs used): linear warmup from 0
over ceil(warmup_ratio·steps) steps, then cosine from `lr` down to `min_lr`, as a `LambdaLR` stepped per
optimizer step; or (`schedule: wsd`) warmup-stable-decay: the same warmup, `lr` held, then a linear decay to
`min_lr` over the last ceil(decay_ratio·steps) steps. AdamW decays every matrix (ndim ≥ 2, embeddings included)
but not biases or norm weights, as the HF Trainer does.

Data position is part of the checkpoint: sample g of the run is window perm_epoch[g mod n] (a fixed
permutation per epoch), rank r of W reads g ≡ r (mod W), and the DataModule's `state_dict` records how many
samples were consumed, so a resumed run reads exactly the windows the uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from interplay.data.corpus import load_shards
from interplay.train.config import LMRunConfig, decay_steps, grad_accumulation, total_steps, warmup_steps


# ---------------------------------------------------------------------------------------------------- schedule
def lr_lambda(step: int, total: int, warmup: int, min_ratio: float, decay: int = 0) -> float:
    """Multiplier of the peak LR used for optimizer step `step` (0-based): HF `cosine_with_min_lr` when
    `decay` is 0, else warmup-stable-decay with a linear decay over the last `decay` steps."""
    if step < warmup:
        return step / max(1, warmup)
    if decay > 0:
        start = max(warmup, total - decay)
        return 1.0 - (1.0 - min_ratio) * min(1.0, max(0, step - start) / max(1, total - start))
    progress = (step - warmup) / max(1, total - warmup)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return min_ratio + (1.0 - min_ratio) * cosine


def lr_multiplier(cfg: LMRunConfig):
    """The run's `LambdaLR` function: step -> multiplier of the peak LR (the one place the schedule is bound)."""
    total, warmup, min_ratio, decay = total_steps(cfg), warmup_steps(cfg), cfg.min_lr / cfg.lr, decay_steps(cfg)
    return lambda step: lr_lambda(step, total, warmup, min_ratio, decay)


def lr_at(cfg: LMRunConfig, step: int) -> float:
    return cfg.lr * lr_multiplier(cfg)(step)


# -------------------------------------------------------------------------------------------------------- data
def pack_windows(starts: np.ndarray, n_tokens: int, seq_len: int, packing: str) -> np.ndarray:
    """[n, 2] (start, end) token ranges of the training windows.

    `concat`: the document stream cut every `seq_len` tokens (no padding, documents may straddle windows).
    `docs`: whole documents greedily packed in order, a window closes when the next document does not fit
    (documents longer than a window are cut into window-sized pieces); the rest is padded.
    """
    if packing == "concat":
        n = n_tokens // seq_len
        s = np.arange(n, dtype=np.int64) * seq_len
        return np.stack([s, s + seq_len], axis=1)
    ends = np.append(starts[1:], n_tokens)
    out, w0, w1 = [], None, None
    for a, b in zip(starts.tolist(), ends.tolist()):
        while b - a > seq_len:  # an over-long document: its own full windows
            if w0 is not None:
                out.append((w0, w1))
                w0 = None
            out.append((a, a + seq_len))
            a += seq_len
        if w0 is None:
            w0, w1 = a, b
        elif b - w0 <= seq_len:
            w1 = b
        else:
            out.append((w0, w1))
            w0, w1 = a, b
    if w0 is not None:
        out.append((w0, w1))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def solution_targets(tokens: np.ndarray, open_id: int, close_id: int) -> np.ndarray:
    """Boolean mask over a token stream: False from each `open_id` (`<question>`) up to and including the next
    `close_id` (`<solution>`), True elsewhere (solution, answer, EOS). Linear, on the whole stream, so a window
    that starts inside a question is masked right."""
    opened = np.cumsum(tokens == open_id, dtype=np.int64)
    closed_before = np.cumsum(tokens == close_id, dtype=np.int64) - (tokens == close_id)
    return opened <= closed_before


class PackedWindows(Dataset):
    def __init__(self, tokens: np.ndarray, windows: np.ndarray, seq_len: int, eos_id: int, pad_id: int,
                 cross_doc_attention: bool, targets: np.ndarray | None = None):
        self.tokens, self.windows, self.seq_len = tokens, windows, seq_len
        self.eos_id, self.pad_id, self.cross_doc = eos_id, pad_id, cross_doc_attention
        self.targets = targets  # None: every token is a target; else solution_targets() of the stream

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        a, b = self.windows[i]
        ids = np.full(self.seq_len, self.pad_id, dtype=np.int64)
        ids[: b - a] = self.tokens[a:b]
        labels = ids.copy()
        labels[b - a:] = -100
        if self.targets is not None:
            labels[: b - a][~self.targets[a:b]] = -100
        item = {"input_ids": torch.from_numpy(ids), "labels": torch.from_numpy(labels)}
        if not self.cross_doc:  # positions restart after every EOS -> block-diagonal causal mask
            ar = np.arange(self.seq_len)
            is_start = np.zeros(self.seq_len, dtype=bool)
            is_start[0] = True
            is_start[1:] = ids[:-1] == self.eos_id
            item["position_ids"] = torch.from_numpy(ar - np.maximum.accumulate(np.where(is_start, ar, 0)))
        return item


class ResumableSampler(Sampler[int]):
    """Window indices for samples start+rank, start+rank+W, ... < total (a fresh permutation per epoch)."""

    def __init__(self, n_windows: int, total: int, seed: int, start: int = 0, rank: int = 0, world: int = 1):
        self.n, self.total, self.seed, self.start, self.rank, self.world = n_windows, total, seed, start, rank, world

    def _perm(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def __iter__(self):
        epoch, perm = -1, None
        for g in range(self.start + self.rank, self.total, self.world):
            e, i = divmod(g, self.n)
            if e != epoch:
                epoch, perm = e, self._perm(e)
            yield int(perm[i])

    def __len__(self) -> int:
        # the whole run's length, also after a resume: Lightning keeps counting batches from the restored
        # position and ends the (single) epoch when the count reaches this
        return len(range(self.rank, self.total, self.world))


class ShardDataModule(pl.LightningDataModule):
    def __init__(self, cfg: LMRunConfig, eos_id: int, pad_id: int, question_ids: tuple[int, int] | None = None):
        """`question_ids`: the ids of `<question>` and `<solution>`, needed when `cfg.loss_on` is `solution`."""
        super().__init__()
        self.cfg, self.eos_id, self.pad_id = cfg, eos_id, pad_id
        self.consumed = 0  # samples (windows) of the whole run already trained on, all ranks together
        tokens, starts, self.manifest = load_shards(cfg.shards)
        self.windows = pack_windows(starts, len(tokens), cfg.seq_len, cfg.packing)
        if len(self.windows) == 0:
            raise ValueError(f"shards in {cfg.shards} hold {len(tokens)} tokens, fewer than one window of {cfg.seq_len}")
        targets = None
        if cfg.loss_on == "solution":
            if question_ids is None:
                raise ValueError("loss_on: solution needs the ids of <question> and <solution>")
            targets = solution_targets(np.asarray(tokens), *question_ids)
        self.dataset = PackedWindows(tokens, self.windows, cfg.seq_len, eos_id, pad_id, cfg.cross_doc_attention,
                                     targets)
        self.samples_per_micro = cfg.micro_batch_size * cfg.devices
        self.total_samples = total_steps(cfg) * grad_accumulation(cfg) * self.samples_per_micro
        self.epochs = self.total_samples / len(self.windows)

    def train_dataloader(self) -> DataLoader:
        rank = self.trainer.global_rank if self.trainer is not None else 0
        world = self.trainer.world_size if self.trainer is not None else 1
        sampler = ResumableSampler(len(self.windows), self.total_samples, self.cfg.seed, self.consumed, rank, world)
        return DataLoader(self.dataset, batch_size=self.cfg.micro_batch_size, sampler=sampler,
                          num_workers=self.cfg.num_workers, drop_last=False)

    def state_dict(self) -> dict[str, Any]:
        # checkpoints are written right after an optimizer step, so this is exact
        steps = self.trainer.global_step if self.trainer is not None else 0
        return {"consumed": steps * grad_accumulation(self.cfg) * self.samples_per_micro}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.consumed = int(state["consumed"])


# ------------------------------------------------------------------------------------------------------ module
def _np_state() -> tuple:
    """numpy's global RNG state with the key as a tensor, so checkpoints load with `weights_only=True`."""
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    return kind, torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss), float(gauss)


class CausalLMModule(pl.LightningModule):
    """Next-token loss of a HF causal LM on packed windows. Pre- and mid-training differ only in data,
    initialization and schedule, all of which come from the run config."""

    def __init__(self, model, cfg: LMRunConfig):
        super().__init__()
        self.save_hyperparameters(dataclasses.asdict(cfg))  # DVCLive's params.yaml
        self.model, self.cfg = model, cfg
        self.steps, self.accum = total_steps(cfg), grad_accumulation(cfg)
        self.final_loss: float | None = None  # loss of the last logged step; survives resume
        self.train_seconds = 0.0  # summed over resumed segments
        self._micro_losses: list[torch.Tensor] = []
        self._grad_norm: torch.Tensor | None = None
        self._t_last: float | None = None
        self._forward = model
        if cfg.compile:  # kept out of the module tree so state dicts keep plain HF names
            object.__setattr__(self, "_forward", torch.compile(model))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self._t_last is None:
            self._t_last = time.perf_counter()
        out = self._forward(**batch, use_cache=False)
        self._micro_losses.append(out.loss.detach())
        return out.loss

    def _logs(self, done: int) -> bool:
        """Whether optimizer step `done` (1-based) is a logged one."""
        return done % self.cfg.log_every == 0 or done == self.steps

    def on_before_optimizer_step(self, optimizer) -> None:  # gradients after accumulation, before clipping
        if self._logs(self.trainer.global_step + 1):
            grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            self._grad_norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None) -> None:
        # Bookkeeping here, not in on_train_batch_end: checkpoint callbacks run before the module's hooks there,
        # and the curve must already hold this step when its checkpoint is written (resume rewinds to it).
        step = self.trainer.global_step  # 0-based index of the step being taken
        lr_used = optimizer.param_groups[0]["lr"]
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)  # runs the last micro-batch
        loss = torch.stack(self._micro_losses).mean()
        self._micro_losses = []
        loss = self.trainer.strategy.reduce(loss, reduce_op="mean")
        now = time.perf_counter()
        dt, self._t_last = now - self._t_last, now
        self.train_seconds += dt
        done = step + 1
        self.log("loss", loss, prog_bar=True, logger=False)
        self.log("tok/s", self.cfg.tokens_per_step / max(dt, 1e-9), prog_bar=True, logger=False)
        if self._logs(done):
            self.final_loss = float(loss)
            if self.logger is not None:  # the DVCLive curve (interplay.train.tracking), rank 0 only
                self.logger.log_step({"train/loss": self.final_loss, "train/lr": lr_used,
                                      "train/grad_norm": float(self._grad_norm),
                                      "train/tokens": done * self.cfg.tokens_per_step}, step=done)

    def configure_optimizers(self):
        decay = [p for p in self.model.parameters() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for p in self.model.parameters() if p.requires_grad and p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": self.cfg.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=self.cfg.lr, betas=(self.cfg.beta1, self.cfg.beta2), eps=self.cfg.eps)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_multiplier(self.cfg))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}

    # The model has no dropout, but RNG is saved anyway so anything stochastic added later resumes exactly.
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["interplay"] = {"final_loss": self.final_loss, "train_seconds": self.train_seconds,
                                   "rng": {"torch": torch.get_rng_state(), "numpy": _np_state(),
                                           "python": random.getstate()}}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("interplay", {})
        self.final_loss = state.get("final_loss")
        self.train_seconds = float(state.get("train_seconds", 0.0))
        rng = state.get("rng")
        if rng:
            torch.set_rng_state(rng["torch"])
            kind, key, pos, has_gauss, gauss = rng["numpy"]
            np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
            random.setstate(rng["python"])
