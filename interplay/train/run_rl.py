"""`run_rl(cfg, out_dir, resume)`: one GRPO run from an HF checkpoint to an HF checkpoint (contracts §5, §8).

Output layout: `out_dir/model/` (HF save_pretrained + tokenizer), `out_dir/dvclive/` (every step's metrics as
DVCLive metrics and plots: interplay.train.tracking), `out_dir/metrics.json` (final summary),
`out_dir/ckpt/last.ckpt` (Lightning: module, optimizer, loop state, RNG, step = data position; the same
`ModelCheckpoint` + atomic CheckpointIO as pre-training). A killed run restarted with `resume=True` ends with the
same weights and metric rows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from interplay.io import read_json, write_json
from interplay.train.divergence import Diverged, DivergenceGuard
from interplay.train.grpo import GRPOModule, PromptMixture
from interplay.train.rl_config import load_rl_config, sources
from interplay.train.curves import read_rows
from interplay.train.tracking import RunLogger, checkpointing, read_checkpoint, resume_point


class RLOutputs(pl.Callback):
    """Writes the final artifacts from rank 0 inside the (possibly spawned) training process."""

    def __init__(self, out: Path):
        self.out = out

    def on_train_end(self, trainer, module):
        if not trainer.is_global_zero:
            return
        c, out = module.cfg, self.out
        rows = read_rows(out)  # the DVCLive files, complete: every step is written when it is logged
        from interplay.checkpoint import save_checkpoint

        save_checkpoint(module.policy, module.tokenizer, out / "model")
        tail = rows[-10:]

        def mean(key):
            return sum(r[key] for r in tail) / len(tail) if tail else None

        write_json(out / "metrics.json", {
            "steps": module.rl_step,
            "reward_first": rows[0]["reward"] if rows else None,
            "reward_last": rows[-1]["reward"] if rows else None,
            "reward_last10_mean": mean("reward"),
            "acc_strict_last10_mean": mean("acc_strict"),
            "acc_answer_last10_mean": mean("acc_answer"),
            "token_equivalents": module.cum_tokens,
            "samples": module.rl_step * c.prompts_per_step * c.group_size,
            "config": OmegaConf.to_container(c, resolve=True),
        })


def _guard(last: Path) -> DivergenceGuard:
    """Stops the run at a non-finite loss, gradient norm, reward or KL (Lightning runs `ModelCheckpoint` after
    every other callback, so a diverged step is never saved)."""
    return DivergenceGuard("rl", last, _rl_steps, metrics=("reward", "kl", "loss", "grad_norm"))


def _rl_steps(trainer, module) -> int:  # module level: DDP spawn pickles the callbacks
    return module.rl_step


def _reraise_divergence(worker_traceback: str) -> None:
    """Raise the `Diverged` a DDP worker raised (its one-line message), if that is what ended it."""
    prefix = f"{Diverged.__module__}.{Diverged.__qualname__}: "
    lines = [line for line in worker_traceback.splitlines() if line.startswith(prefix)]
    if lines:
        raise Diverged(lines[-1][len(prefix):]) from None


def _exclude_ids(paths: list[str]) -> frozenset[str]:
    from interplay.data.records import read_jsonl

    return frozenset(str(r["id"]) for p in paths for r in read_jsonl(p))


def run_rl(cfg: Any, out_dir: str | os.PathLike, resume: bool = False) -> dict:
    """Run GRPO per `cfg` (dict, DictConfig or YAML path; schema `RLConfig`). Returns the final metrics."""
    from transformers import AutoModelForCausalLM

    from interplay.data.tokenizers import load_tokenizer

    c = load_rl_config(cfg)
    out = Path(out_dir)
    (out / "ckpt").mkdir(parents=True, exist_ok=True)
    last = resume_point(out, resume)
    if c.threads:
        torch.set_num_threads(c.threads)
    pl.seed_everything(c.seed, workers=True, verbose=False)

    # Not AutoTokenizer: with a qwen2 config.json it builds Qwen2Tokenizer, whose pre-tokenizer breaks ours.
    tok = load_tokenizer(c.init)
    policy = AutoModelForCausalLM.from_pretrained(c.init, dtype=torch.float32)
    mixture = PromptMixture(sources(c), tok, seed=c.seed, max_prompt_tokens=c.max_prompt_tokens,
                            exclude_ids=_exclude_ids(list(c.data.exclude)))
    module = GRPOModule(c, policy, tok, mixture)
    strategy = "auto"
    if c.devices > 1:
        from pytorch_lightning.strategies import DDPStrategy

        # spawn: works from any caller (CLI, pytest); outputs are written by rank 0 inside the workers.
        strategy = DDPStrategy(start_method="spawn", process_group_backend="gloo" if c.accelerator == "cpu" else "nccl")
    # Manual optimization: trainer.global_step counts optimizer steps, mini_batches × ppo_epochs per rollout step
    # (a step that skips its update on a non-finite gradient norm is stopped by the divergence guard).
    ckpt, ckpt_io = checkpointing(out, c.ckpt_every_steps * c.mini_batches * c.ppo_epochs)
    resume_step = int(read_checkpoint(last)["interplay_rl"]["rl_step"]) if last else None
    trainer = pl.Trainer(accelerator=c.accelerator, devices=c.devices, strategy=strategy, precision=c.precision,
                         max_epochs=1, logger=RunLogger(out, resume_step), enable_progress_bar=False,
                         enable_model_summary=False, use_distributed_sampler=False, num_sanity_val_steps=0,
                         callbacks=[_guard(out / "ckpt" / "last.ckpt"), ckpt, RLOutputs(out)], plugins=[ckpt_io],
                         deterministic=True)
    try:
        trainer.fit(module, ckpt_path=str(last) if last else None)
    except torch.multiprocessing.ProcessRaisedException as e:  # DDP spawn: a worker's exception arrives as text
        _reraise_divergence(str(e))
        raise

    return read_json(out / "metrics.json")
