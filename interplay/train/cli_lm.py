"""`interplay train pretrain CONFIG` / `interplay train midtrain CONFIG` (CONFIG = resolved run-config YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def describe(cfg) -> str:
    """Model size, steps, tokens/step and LR schedule of a run, without loading data or training."""
    from interplay.compute import train_flops
    from interplay.model import build_model, model_config, param_counts
    from interplay.train.config import grad_accumulation, total_steps, warmup_steps
    from interplay.train.lm import lr_at

    vocab, src = cfg.vocab_size, "config"
    if cfg.tokenizer and (Path(cfg.tokenizer) / "tokenizer.json").is_file():
        from interplay.data.tokenizers import load_tokenizer

        vocab, src = len(load_tokenizer(cfg.tokenizer)), cfg.tokenizer
    if cfg.init and (Path(cfg.init) / "config.json").is_file():
        from transformers import AutoConfig

        mc = AutoConfig.from_pretrained(cfg.init)
        arch, vocab = f"init {cfg.init}", mc.vocab_size
    else:
        if vocab is None:
            _fail("dry run needs a tokenizer on disk or `vocab_size` in the config")
        mc = model_config(cfg.model, vocab, **cfg.model_overrides)
        arch = f"preset {cfg.model}" + (f" (init {cfg.init}, not on disk)" if cfg.init else "")
    import torch

    with torch.device("meta"):  # no memory for the paper model's weights
        from transformers import Qwen2ForCausalLM

        total, non_emb = param_counts(Qwen2ForCausalLM(mc)) if mc.model_type == "qwen2" else (0, 0)
    steps, warm = total_steps(cfg), warmup_steps(cfg)
    tokens = steps * cfg.tokens_per_step
    marks = sorted({0, 1, warm // 2, warm, (warm + steps) // 2, steps - 1} - {-1})
    lines = [
        f"run        {cfg.kind} {cfg.name or ''}".rstrip(),
        f"model      {arch}: {mc.num_hidden_layers}L hidden {mc.hidden_size} FFN {mc.intermediate_size} "
        f"heads {mc.num_attention_heads}/{mc.num_key_value_heads} KV, vocab {vocab} ({src})",
        f"params     {total:,} total, {non_emb:,} non-embedding",
        f"tokens     budget {cfg.token_budget:,} -> {steps:,} steps x {cfg.tokens_per_step:,} tokens/step "
        f"= {tokens:,} tokens",
        f"batch      seq_len {cfg.seq_len} x micro {cfg.micro_batch_size} x devices {cfg.devices} x accumulation "
        f"{grad_accumulation(cfg)}; packing {cfg.packing}, cross-doc attention {cfg.cross_doc_attention}",
        f"optimizer  AdamW lr {cfg.lr:g} wd {cfg.weight_decay:g} betas ({cfg.beta1:g}, {cfg.beta2:g}) clip {cfg.grad_clip:g}",
        f"schedule   linear warmup {warm:,} steps ({cfg.warmup_ratio:.0%}), cosine to {cfg.min_lr:g}; "
        + ", ".join(f"lr[{s}]={lr_at(cfg, s):.3g}" for s in marks),
        f"compute    6·P·T = {train_flops(non_emb, tokens):.3e} FLOPs",
    ]
    return "\n".join(lines)


def _run(kind: str, config: Path, out: Optional[Path], resume: bool, dry_run: bool) -> None:
    from interplay.train.config import load_config

    if not config.is_file():
        _fail(f"config file {config} not found")
    import yaml

    try:
        raw = yaml.safe_load(config.read_text()) or {}
    except yaml.YAMLError as e:
        _fail(f"{config}: not valid YAML ({str(e).splitlines()[0]})")
    stage_out = None
    if isinstance(raw, dict) and isinstance(raw.get("lm"), dict):  # a pipeline stage config (configs/<profile>/)
        tok_run = (raw.get("inputs") or {}).get("tokenizer", {}).get("run")
        tok_cfg = config.parent / f"{tok_run}.yaml"
        raw, stage_out = dict(raw["lm"]), raw.get("out")
        if tok_cfg.is_file() and "vocab_size" not in raw:  # --dry-run before the tokenizer stage has run
            raw["vocab_size"] = (yaml.safe_load(tok_cfg.read_text()) or {}).get("vocab_size")
    try:
        cfg = load_config(raw)
    except ValueError as e:
        _fail(f"{config}: {e}")
    if cfg.kind != kind:
        _fail(f"{config} is a {cfg.kind} config; use `interplay train {cfg.kind}`")
    if dry_run:
        typer.echo(describe(cfg))
        return
    out_dir = out or (Path(cfg.out_dir) if cfg.out_dir else None) or (Path(stage_out) if stage_out else None)
    if out_dir is None:
        _fail("no output directory: pass --out or set out_dir in the config")
    from interplay.train import Diverged
    from interplay.train.run_lm import RunError, run_lm

    try:
        m = run_lm(cfg, out_dir, resume=resume)
    except Diverged as e:
        _fail(str(e), code=1)
    except (RunError, ValueError, OSError) as e:
        _fail(str(e))
    if m:
        typer.echo(f"{kind} done: {m['steps']} steps, {m['tokens']:,} tokens, final loss {m['final_loss']:.4f}, "
                   f"{m['tokens_per_s']:.0f} tokens/s -> {out_dir}/model")


def register(train_app: typer.Typer) -> None:
    config_arg = typer.Argument(..., help="resolved run-config YAML (schema: interplay.train.config.LMRunConfig)")
    out_opt = typer.Option(None, "--out", help="output directory (default: out_dir in the config)")
    resume_opt = typer.Option(False, "--resume", help="continue from out_dir/ckpt/last.ckpt if present")
    dry_opt = typer.Option(False, "--dry-run", help="print model size, steps, tokens/step and LR schedule; no training")

    @train_app.command("pretrain")
    def pretrain(config: Path = config_arg, out: Optional[Path] = out_opt, resume: bool = resume_opt,
                 dry_run: bool = dry_opt) -> None:
        """Pre-train a Qwen2 model from scratch on packed token shards."""
        _run("pretrain", config, out, resume, dry_run)

    @train_app.command("midtrain")
    def midtrain(config: Path = config_arg, out: Optional[Path] = out_opt, resume: bool = resume_opt,
                 dry_run: bool = dry_opt) -> None:
        """Mid-train (continued pre-training) from the `init` checkpoint with the same next-token objective."""
        _run("midtrain", config, out, resume, dry_run)
