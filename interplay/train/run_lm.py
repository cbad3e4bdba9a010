"""`run_lm(cfg, out_dir, resume)`: one pre- or mid-training run from a resolved run config.

Writes: `out_dir/model/` (HF `save_pretrained` + tokenizer), `out_dir/metrics.json`, `out_dir/dvclive/`
(the training curve: `train/loss`, `train/lr`, `train/grad_norm`, `train/tokens` per logged step, as DVCLive
metrics and plots: interplay.train.tracking), `out_dir/ladder.csv` (when the config has a `ladder`:
interplay.train.ladder) and `out_dir/ckpt/last.ckpt` (Lightning, for `--resume`).

Also runnable as `python -m interplay.train.run_lm CONFIG OUT_DIR [--resume]` (Lightning's DDP launcher
re-executes this command line in each worker process).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from interplay.compute import train_flops
from interplay.io import atomic_path, write_json
from interplay.train.config import (LMRunConfig, grad_accumulation, load_config, resolve_accelerator, total_steps,
                                    warmup_steps)


class RunError(ValueError):
    """A bad run configuration or input; the CLI prints it as one line."""


def _quiet_lightning() -> None:
    import logging
    import warnings

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for msg in ("The '.*dataloader' does not have many workers", ".*does not have many workers.*",
                ".*LeafSpec.*", ".*isinstance.*treespec.*", ".*GPU available but not used.*",
                ".*Checkpoint directory .* exists and is not empty.*", ".*You're resuming from a checkpoint that ended.*"):
        warnings.filterwarnings("ignore", message=msg)


def check_vocab(model, tokenizer, init: str | None = None) -> None:
    """The model must embed exactly the tokenizer's ids (and an init checkpoint's own tokenizer must agree)."""
    n = len(tokenizer)
    if model.config.vocab_size != n:
        raise RunError(f"init checkpoint {init} has vocabulary {model.config.vocab_size}, the tokenizer has {n}")
    if init and (Path(init) / "tokenizer.json").is_file():
        from interplay.data.tokenizers import load_tokenizer

        if load_tokenizer(init).get_vocab() != tokenizer.get_vocab():
            raise RunError(f"init checkpoint {init} was trained with a different tokenizer vocabulary")


def load_inputs(cfg: LMRunConfig):
    """Tokenizer, model (fresh or from `init`); clear RunErrors for anything missing or mismatched."""
    from transformers import AutoModelForCausalLM

    from interplay.data.tokenizers import load_tokenizer
    from interplay.model import build_model

    for key in ("tokenizer", "shards"):
        if not getattr(cfg, key):
            raise RunError(f"the run config does not set `{key}`")
    try:
        tok = load_tokenizer(cfg.tokenizer)
    except (FileNotFoundError, OSError) as e:
        raise RunError(f"cannot load tokenizer: {e}") from None
    if cfg.init:
        if not (Path(cfg.init) / "config.json").is_file():
            raise RunError(f"init checkpoint {cfg.init} not found (no config.json)")
        model = AutoModelForCausalLM.from_pretrained(cfg.init, attn_implementation="sdpa", dtype=torch.float32)
        check_vocab(model, tok, cfg.init)
        model.train()  # from_pretrained returns eval mode
    else:
        if cfg.kind == "midtrain":
            raise RunError("a midtrain run needs `init` (the base checkpoint directory)")
        model = build_model(cfg.model, len(tok), **cfg.model_overrides)
    return tok, model


def _trainer(cfg: LMRunConfig, out: Path, steps: int, resume_step: int | None, callbacks: list = ()):
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import TQDMProgressBar

    from interplay.train.divergence import DivergenceGuard, optimizer_steps
    from interplay.train.tracking import RunLogger, checkpointing

    accelerator = resolve_accelerator(cfg)
    precision = cfg.precision if cfg.precision != "auto" else ("bf16-mixed" if accelerator == "gpu" else "32-true")
    strategy: Any = "auto"
    if cfg.devices > 1:
        from pytorch_lightning.strategies import DDPStrategy

        strategy = DDPStrategy(process_group_backend="gloo" if accelerator == "cpu" else "nccl")
    ckpt, ckpt_io = checkpointing(out, cfg.ckpt_every or max(1, steps // 10))
    guard = DivergenceGuard(cfg.kind, out / "ckpt" / "last.ckpt", optimizer_steps)
    return pl.Trainer(
        accelerator=accelerator, devices=cfg.devices, strategy=strategy, precision=precision,
        max_steps=steps, max_epochs=1, accumulate_grad_batches=grad_accumulation(cfg),
        gradient_clip_val=cfg.grad_clip, gradient_clip_algorithm="norm",
        callbacks=[ckpt, TQDMProgressBar(refresh_rate=max(1, grad_accumulation(cfg))), guard, *callbacks],
        logger=RunLogger(out, resume_step), plugins=[ckpt_io], use_distributed_sampler=False, num_sanity_val_steps=0,
        limit_val_batches=0, enable_model_summary=False, deterministic=accelerator == "cpu",
        default_root_dir=out,
    )


_LAUNCHED = "INTERPLAY_RUN_LM_LAUNCHED"
_DIVERGED_FILE = "INTERPLAY_RUN_LM_DIVERGED_FILE"  # set by _launch_ddp: where a rank reports a divergence


def _launch_ddp(cfg: LMRunConfig, out: Path, resume: bool) -> dict:
    """Run DDP from a fresh `python -m interplay.train.run_lm` process: Lightning starts the other ranks by
    re-executing the launching command line, which must be this module, not whatever called `run_lm`."""
    import subprocess

    from omegaconf import OmegaConf

    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "run_config.yaml"
    with atomic_path(cfg_path) as tmp:
        OmegaConf.save(OmegaConf.structured(cfg), tmp)
    cmd = [sys.executable, "-m", "interplay.train.run_lm", str(cfg_path), str(out)] + (["--resume"] if resume else [])
    import tempfile

    with tempfile.TemporaryDirectory() as d:  # the ranks leave a divergence message here instead of printing it
        diverged = Path(d) / "diverged"
        r = subprocess.run(cmd, env={**os.environ, _LAUNCHED: "1", _DIVERGED_FILE: str(diverged)})
        if r.returncode != 0 and diverged.is_file():
            from interplay.train import Diverged

            raise Diverged(diverged.read_text().strip())
    if r.returncode != 0:
        raise RunError(f"DDP run failed (exit {r.returncode}); its error is printed above")
    from interplay.io import read_json

    return read_json(out / "metrics.json")


def run_lm(cfg: dict | str | Path | LMRunConfig, out_dir: str | os.PathLike, resume: bool = False) -> dict:
    """Train one run; returns the final metrics (also written to out_dir/metrics.json)."""
    import pytorch_lightning as pl

    from interplay.model import param_counts
    from interplay.train.lm import CausalLMModule, ShardDataModule
    from interplay.train.tracking import read_checkpoint, resume_point

    cfg = cfg if isinstance(cfg, LMRunConfig) else load_config(cfg)
    out = Path(out_dir)
    if cfg.devices > 1 and os.environ.get(_LAUNCHED) != "1":
        return _launch_ddp(cfg, out, resume)
    _quiet_lightning()
    if resolve_accelerator(cfg) == "cpu":
        torch.set_num_threads(cfg.threads)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)  # before the model is initialized
    tok, model = load_inputs(cfg)
    try:
        dm = ShardDataModule(cfg, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id,
                             question_ids=tuple(tok.convert_tokens_to_ids(["<question>", "<solution>"])))
    except FileNotFoundError as e:
        raise RunError(str(e)) from None
    if dm.manifest.get("vocab_size") not in (None, len(tok)):
        raise RunError(f"shards in {cfg.shards} were tokenized with vocabulary {dm.manifest['vocab_size']}, "
                       f"the tokenizer has {len(tok)}")
    steps = total_steps(cfg)
    if not resume and (out / "ckpt").exists():
        shutil.rmtree(out / "ckpt")  # a fresh run never silently continues an old one
    last = resume_point(out, resume)
    resuming = last is not None
    module = CausalLMModule(model, cfg)
    ladder = None
    if cfg.ladder is not None and cfg.ladder.every > 0:  # the held-out ladder curve (interplay.train.ladder)
        from interplay.train.ladder import LadderCallback

        try:
            ladder = LadderCallback(cfg.ladder, tok, cfg.tokens_per_step, steps)
        except (FileNotFoundError, ValueError) as e:
            raise RunError(str(e)) from None
    resume_step = int(read_checkpoint(last)["global_step"]) if resuming else None
    trainer = _trainer(cfg, out, steps, resume_step, [ladder] if ladder else [])
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resuming else None)
    wall = time.perf_counter() - t0
    if not trainer.is_global_zero:
        return {}

    total, non_emb = param_counts(model)
    tokens = steps * cfg.tokens_per_step
    from interplay.checkpoint import save_checkpoint

    save_checkpoint(model, tok, out / "model")
    metrics = {
        "kind": cfg.kind, "name": cfg.name, "steps": steps, "tokens": tokens, "tokens_per_step": cfg.tokens_per_step,
        "grad_accumulation": grad_accumulation(cfg), "warmup_steps": warmup_steps(cfg),
        "epochs": dm.epochs, "final_loss": module.final_loss,
        "tokens_per_s": tokens / module.train_seconds if module.train_seconds else None,
        "train_seconds": module.train_seconds, "wall_seconds_last_segment": wall,
        "params_total": total, "params_non_embedding": non_emb, "flops": train_flops(non_emb, tokens),
        "vocab_size": len(tok), "devices": cfg.devices, "threads": cfg.threads,
        "precision": trainer.precision, "resumed": resuming, "config": asdict(cfg),
    }
    if cfg.ladder is not None:
        from interplay.train.ladder import final_rows, write_curve

        write_curve(ladder.rows if ladder else [], out / "ladder.csv")
        metrics["ladder"] = final_rows(ladder.rows if ladder else [])
    write_json(out / "metrics.json", metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 2:
        print("usage: python -m interplay.train.run_lm CONFIG OUT_DIR [--resume]", file=sys.stderr)
        return 2
    os.environ[_LAUNCHED] = "1"  # this command line is what Lightning re-executes for the other DDP ranks
    from interplay.train import Diverged

    try:
        run_lm(args[0], args[1], resume="--resume" in argv)
    except Diverged as e:
        if os.environ.get(_DIVERGED_FILE):  # the launching process reports it, once
            Path(os.environ[_DIVERGED_FILE]).write_text(f"{e}\n")
        else:
            print(f"error: {e}", file=sys.stderr)
        return 1
    except (RunError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
