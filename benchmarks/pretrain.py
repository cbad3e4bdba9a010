"""Pre-training throughput: our Lightning stage vs a bare PyTorch loop, and achieved FLOP/s vs torch.mm peak.

Same model init, same shards, same batch (windows, accumulation, AdamW + LambdaLR + clipping) in both; each
repeat times every optimizer step and we compare medians after warm-up steps. The fp32 `torch.mm` peak is
measured in the same run at the same thread count. Optionally (--ddp) compares 1 process × 2 threads with
2 DDP processes (gloo) × 1 thread (and 1 × 1) through `run_lm`, and (--compile) `torch.compile` against eager
on the profile's shape (2 DDP × 1 thread): each run first for 10 steps (the cold one-off: start-up and, compiled,
a compile with an empty Inductor cache), then for S and 2S steps, so that the steady rate (S steps / the difference
of the two walls) and the warm one-off come apart; the ratio is the projected wall of a 25M-token cpu base (cold
one-off + tokens / steady rate), eager over compiled.

    .venv/bin/python benchmarks/pretrain.py --preset ci --repeats 3
    .venv/bin/python benchmarks/pretrain.py --preset cpu --repeats 3 --ddp
    .venv/bin/python benchmarks/pretrain.py --preset cpu --repeats 1 --compile

Targets: Lightning/bare tokens/s ≥ 0.95; model FLOP/s ≥ 50 % of the torch.mm peak.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interplay.data.corpus import MixComponent, build_corpus  # noqa: E402
from interplay.data.tokenizers import save_tokenizer, train_tokenizer  # noqa: E402
from interplay.model import build_model, param_counts  # noqa: E402
from interplay.train.config import grad_accumulation, load_config, total_steps  # noqa: E402

SHAPES = {"ci": dict(seq_len=128, micro_batch_size=16, tokens_per_step=4096),
          "cpu": dict(seq_len=256, micro_batch_size=8, tokens_per_step=4096)}
PROFILE_SHAPE = dict(seq_len=256, tokens_per_step=2048, micro_batch_size=4, devices=2, threads=1)  # the cpu profile's


def mm_peak(threads: int, n: int = 1024, reps: int = 10) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


def make_data(root: Path, budget: int):
    from interplay.data.generator import GenConfig, generate_many
    from interplay.data.render import training_text

    texts = [training_text(p.problem, p.question, p.solution) for op in range(2, 11) for m in ("forward", "reverse")
             for p in generate_many(GenConfig(op=op, mode=m, render="compact"), 99, 40)]
    tok = train_tokenizer("word", texts)
    save_tokenizer(tok, root / "tok")
    build_corpus([MixComponent(ops=list(range(2, 11)), weight=1.0)], budget, tok, root / "shards", seed=0,
                 render="compact")
    return root / "tok", root / "shards", len(tok)


def model_flops_per_token(model, seq_len: int) -> tuple[float, float]:
    """(6·P_non-embedding, PaLM model FLOPs 6·(P_non-emb + LM head) + 12·layers·hidden·seq/2 causal)."""
    _, non_emb = param_counts(model)
    c = model.config
    head = c.vocab_size * c.hidden_size
    attn = 12 * c.num_hidden_layers * c.hidden_size * seq_len / 2
    return 6 * non_emb, 6 * (non_emb + head) + attn


def lightning_step_times(cfg) -> list[float]:
    import pytorch_lightning as pl

    from interplay.train.lm import CausalLMModule, ShardDataModule
    from interplay.train.run_lm import _quiet_lightning

    _quiet_lightning()
    pl.seed_everything(cfg.seed, verbose=False)
    from interplay.data.tokenizers import load_tokenizer

    tok = load_tokenizer(cfg.tokenizer)
    model = build_model(cfg.model, len(tok))
    times: list[float] = []

    class Timer(pl.Callback):
        last = None

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if (batch_idx + 1) % grad_accumulation(cfg) == 0:
                now = time.perf_counter()
                if self.last is not None:
                    times.append(now - self.last)
                self.last = now

    from interplay.train.run_lm import _trainer

    out = Path(tempfile.mkdtemp(prefix="stage_", dir=Path(cfg.shards).parent))
    trainer = _trainer(cfg, out, total_steps(cfg), None)  # the real stage: checkpoints, CSV logger, progress bar
    trainer.callbacks.append(Timer())
    trainer.fit(CausalLMModule(model, cfg), datamodule=ShardDataModule(cfg, tok.eos_token_id, tok.pad_token_id))
    return times


def bare_step_times(cfg) -> list[float]:
    import pytorch_lightning as pl

    from interplay.data.tokenizers import load_tokenizer
    from interplay.train.lm import ShardDataModule, lr_multiplier

    pl.seed_everything(cfg.seed, verbose=False)
    tok = load_tokenizer(cfg.tokenizer)
    model = build_model(cfg.model, len(tok)).train()
    dm = ShardDataModule(cfg, tok.eos_token_id, tok.pad_token_id)
    loader = dm.train_dataloader()
    acc = grad_accumulation(cfg)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0}],
                            lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_multiplier(cfg))
    times, last = [], None
    for i, batch in enumerate(loader):
        loss = model(**batch, use_cache=False).loss / acc
        loss.backward()
        if (i + 1) % acc == 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            loss.detach().item()  # Lightning syncs the loss for logging too
            now = time.perf_counter()
            if last is not None:
                times.append(now - last)
            last = now
    return times


def _run_lm(root: Path, name: str, cfg: dict) -> float:
    import subprocess

    import yaml

    p = root / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "interplay.train.run_lm", str(p), str(root / name)], check=True,
                   capture_output=True)
    return time.perf_counter() - t


def ddp_vs_threads(root: Path, tok_dir, shard_dir, preset: str, steps: int) -> dict:
    import json

    out = {}
    shape = SHAPES[preset]
    for name, kw in (("1x1thread", dict(devices=1, threads=1, micro_batch_size=shape["micro_batch_size"])),
                     ("1x2threads", dict(devices=1, threads=2, micro_batch_size=shape["micro_batch_size"])),
                     ("2ddpx1thread", dict(devices=2, threads=1, micro_batch_size=shape["micro_batch_size"] // 2))):
        cfg = dict(tokenizer=str(tok_dir), shards=str(shard_dir), model=preset, accelerator="cpu", seq_len=shape["seq_len"],
                   tokens_per_step=shape["tokens_per_step"], token_budget=steps * shape["tokens_per_step"], **kw)
        wall = _run_lm(root, name, cfg)
        m = json.loads((root / name / "metrics.json").read_text())
        out[name] = (m["tokens_per_s"], wall)
    return out


def compile_vs_eager(root: Path, tok_dir, shard_dir, steps: int, base_tokens: int = 25_000_000) -> dict:
    """(steady tokens/s, one-off seconds, projected wall of a `base_tokens` base) for eager and compiled runs."""
    shape = PROFILE_SHAPE
    out = {}
    for name, compile_ in (("eager", False), ("compiled", True)):
        walls = []
        for s in (10, steps, 2 * steps):  # the first run warms Inductor's on-disk cache, which later runs hit
            cfg = dict(tokenizer=str(tok_dir), shards=str(shard_dir), model="cpu", accelerator="cpu",
                       compile=compile_, token_budget=s * shape["tokens_per_step"], ckpt_every=10**6, **shape)
            walls.append(_run_lm(root, f"{name}{s}", cfg))
        cold, walls = walls[0], walls[1:]
        steady = steps * shape["tokens_per_step"] / max(walls[1] - walls[0], 1e-9)
        once = walls[0] - steps * shape["tokens_per_step"] / steady
        out[name] = (steady, once, cold + base_tokens / steady, walls, cold)
    return out


def side_by_side(root: Path, tok_dir, shard_dir, steps: int) -> dict:
    """Two compiled bases of `steps` steps each (the profile's shape, seeds 1 and 2): one after the other on 2 DDP
    processes × 1 thread each, against both at once in one process × 1 thread each (what `interplay reproduce`'s
    pre-training pass does when `pretrain.devices` is 1). Inductor's cache is warmed for both shapes first."""
    import subprocess

    import yaml

    def cfg(name: str, seed: int, devices: int, s: int) -> Path:
        shape = {**PROFILE_SHAPE, "devices": devices,
                 "micro_batch_size": PROFILE_SHAPE["micro_batch_size"] * 2 // devices}
        c = dict(tokenizer=str(tok_dir), shards=str(shard_dir), model="cpu", accelerator="cpu", compile=True, seed=seed,
                 token_budget=s * shape["tokens_per_step"], ckpt_every=10**6, **shape)
        p = root / f"{name}.yaml"
        p.write_text(yaml.safe_dump(c))
        return p

    def launch(name: str, seed: int, devices: int, s: int):
        return subprocess.Popen([sys.executable, "-m", "interplay.train.run_lm", str(cfg(name, seed, devices, s)),
                                 str(root / name)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    for devices in (2, 1):  # warm the compile cache of both shapes
        assert launch(f"warm{devices}", 1, devices, 10).wait() == 0
    t = time.perf_counter()
    for seed in (1, 2):
        assert launch(f"seq{seed}", seed, 2, steps).wait() == 0
    sequential = time.perf_counter() - t
    t = time.perf_counter()
    procs = [launch(f"par{seed}", seed, 1, steps) for seed in (1, 2)]
    assert all(p.wait() == 0 for p in procs)
    parallel = time.perf_counter() - t
    tokens = 2 * steps * PROFILE_SHAPE["tokens_per_step"]
    return {"sequential": (sequential, tokens / sequential), "parallel": (parallel, tokens / parallel)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="ci", choices=list(SHAPES))
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3, help="steps dropped from each timing")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ddp", action="store_true", help="also compare 1 process × 2 threads vs 2 DDP × 1 thread")
    ap.add_argument("--compile", action="store_true", help="also compare torch.compile with eager (2 DDP × 1 thread)")
    ap.add_argument("--compile-steps", type=int, default=300, help="S: the compile comparison runs S and 2S steps")
    ap.add_argument("--side-by-side", action="store_true",
                    help="also compare two compiled bases one per core at once with one after the other on 2 DDP")
    ap.add_argument("--side-steps", type=int, default=600, help="steps of each base in --side-by-side")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench_pretrain_"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    shape = SHAPES[args.preset]
    budget = max(200_000, 2 * args.steps * shape["tokens_per_step"],
                 4 * args.compile_steps * PROFILE_SHAPE["tokens_per_step"] if args.compile else 0,
                 2 * args.side_steps * PROFILE_SHAPE["tokens_per_step"] if args.side_by_side else 0)
    tok_dir, shard_dir, vocab = make_data(root, budget=budget)
    cfg = load_config(dict(tokenizer=str(tok_dir), shards=str(shard_dir), model=args.preset, accelerator="cpu", devices=1,
                           ckpt_every=10**6,  # per-step timing; checkpoint cost is amortized (every steps/10) in real runs
                           threads=args.threads, token_budget=args.steps * shape["tokens_per_step"], **shape))
    torch.set_num_threads(args.threads)
    model = build_model(args.preset, vocab)
    total, non_emb = param_counts(model)
    f6p, fmodel = model_flops_per_token(model, cfg.seq_len)
    print(f"preset {args.preset}: {total:,} params ({non_emb:,} non-embedding), vocab {vocab}, seq {cfg.seq_len}, "
          f"{cfg.tokens_per_step} tokens/step, accumulation {grad_accumulation(cfg)}, {args.threads} threads")

    light, bare, peaks = [], [], []
    for r in range(args.repeats):  # interleaved so machine noise hits both alike
        peaks.append(mm_peak(args.threads))
        torch.set_num_threads(args.threads)
        bt = bare_step_times(cfg)[args.warmup:]
        lt = lightning_step_times(cfg)[args.warmup:]
        bare.append(cfg.tokens_per_step / statistics.median(bt))
        light.append(cfg.tokens_per_step / statistics.median(lt))
        print(f"  repeat {r}: bare {bare[-1]:,.0f} tok/s, lightning {light[-1]:,.0f} tok/s, mm peak {peaks[-1] / 1e9:.1f} GFLOP/s")
    mb, ml, mp = statistics.median(bare), statistics.median(light), statistics.median(peaks)
    spread = lambda xs: (max(xs) - min(xs)) / statistics.median(xs)  # noqa: E731
    print(f"tokens/s   bare {mb:,.0f}  lightning {ml:,.0f}  ratio {ml / mb:.3f} (target >= 0.97); "
          f"spread across repeats bare {spread(bare):.0%}, lightning {spread(light):.0%}")
    print(f"FLOP/s     mm peak {mp / 1e9:.1f} GFLOP/s (spread {spread(peaks):.0%}); lightning achieves "
          f"{ml * fmodel / 1e9:.1f} GFLOP/s model FLOPs = {ml * fmodel / mp:.0%} of peak (target >= 50%), "
          f"{ml * f6p / 1e9:.1f} GFLOP/s by 6·P_non-emb = {ml * f6p / mp:.0%}")
    if args.ddp:
        res = ddp_vs_threads(root, tok_dir, shard_dir, args.preset, max(args.steps, 20))
        for k, (tps, wall) in res.items():
            print(f"run_lm     {k:14s} {tps:,.0f} tok/s (wall {wall:.1f} s incl. start-up)")
        best = max(res, key=lambda k: res[k][0])
        print(f"           fastest: {best}")
    if args.compile:
        res = compile_vs_eager(root, tok_dir, shard_dir, args.compile_steps)
        for k, (steady, once, proj, walls, cold) in res.items():
            print(f"run_lm     {k:9s} steady {steady:,.0f} tok/s, one-off {once:.0f} s warm / {cold:.0f} s cold "
                  f"(walls {walls[0]:.0f} / {walls[1]:.0f} s for {args.compile_steps} / {2 * args.compile_steps} "
                  f"steps); a 25M-token base {proj / 60:.1f} min (cold one-off + tokens / steady)")
        print(f"pretrain_compile_vs_eager: ratio {res['eager'][2] / res['compiled'][2]:.2f} (target 1.1)")
    if args.side_by_side:
        res = side_by_side(root, tok_dir, shard_dir, args.side_steps)
        for k, (wall, tps) in res.items():
            print(f"two bases  {k:10s} wall {wall:.0f} s, {tps:,.0f} tokens/s through the machine")
        print(f"pretrain_side_by_side_vs_ddp: ratio {res['sequential'][0] / res['parallel'][0]:.2f} (target 1.3)")
    print(f"pretrain_lightning_vs_bare: ratio {ml / mb:.3f} (target 0.97)")
    print(f"pretrain_model_flops_vs_mm_peak: ratio {ml * fmodel / mp:.2f} (target 0.5)")


if __name__ == "__main__":
    main()
