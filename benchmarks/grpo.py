"""One GRPO step of ours (interplay.train.grpo) vs TRL's GRPOTrainer, same process, same model and work.

Both sides: the same HF Qwen2 checkpoint, the same B prompts (compact problems), G samples each at T = 1.0,
the same max completion length (EOS-only stop), the same outcome reward, k3 KL to a reference (β = 1e-3),
clip 0.2 and M optimizer steps (mini-batches) per rollout batch. A "step" is one rollout batch: generation,
reward, reference/old log-probs and the M updates. We report the median over repeats after one warm-up.
Ours runs twice: one process (the like-for-like comparison with TRL, both on one thread) and 2 DDP processes
of one thread each with rank-local groups (the CPU default, `rl_config.auto_devices`), to show what the
second core buys.

    .venv/bin/python benchmarks/grpo.py [--preset cpu] [--prompts 8] [--group 6] [--new-tokens 128] [--repeats 3]
    .venv/bin/python benchmarks/grpo.py --side-by-side --prompts 32 --repeats 5   # the cpu profile's RL arms: two
        one-process runs at once vs one 2-process DDP run (what the parallel pass of `interplay reproduce` could do)

TRL is a benchmark-only extra (`pip install trl`, pyproject `bench`); without it this prints so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(root: Path, preset: str, n_prompts: int):
    from interplay.data.generator import GenConfig, generate_many
    from interplay.data.records import write_jsonl
    from interplay.data.render import training_text
    from interplay.data.tokenizers import train_tokenizer
    from interplay.model import build_model

    recs = [p.to_record() for op in (3, 4) for p in generate_many(
        GenConfig(op=op, render="compact", max_distractors=2), seed=0, count=max(n_prompts, 8))]
    tok = train_tokenizer("word", [training_text(r["problem"], r["question"], r["solution"]) for r in recs])
    torch.manual_seed(0)
    model = build_model(preset, len(tok))
    model.save_pretrained(root / "init")
    tok.save_pretrained(root / "init")
    write_jsonl(root / "prompts.jsonl", recs)
    return recs


def rl_config(root: Path, args, devices: int) -> dict:
    return dict(init=str(root / "init"), prompts=str(root / "prompts.jsonl"), steps=args.repeats + 1,
               prompts_per_step=args.prompts, group_size=args.group, mini_batches=args.mini_batches,
               micro_batch_samples=args.prompts * args.group // args.mini_batches, lr=1e-6, kl_coef=1e-3,
               max_new_tokens=args.new_tokens, max_prompt_tokens=1024, stop=[], ckpt_every_steps=10_000,
               sample_batch_size=args.prompts * args.group, reward={"name": "outcome"}, devices=devices,
               threads=args.threads)


def step_times(out: Path) -> tuple[list[float], list[float]]:
    from interplay.train.curves import read_rows

    rows = read_rows(out)
    return [float(r["step_time"]) for r in rows][1:], [float(r["completions/mean_length"]) for r in rows]


def ours(root: Path, args, devices: int) -> tuple[list[float], list[float]]:
    from interplay.train.run_rl import run_rl

    run_rl(rl_config(root, args, devices), root / f"ours{devices}")
    return step_times(root / f"ours{devices}")


def side_by_side(root: Path, args) -> list[float]:
    """Two one-process GRPO runs at once (seeds 1 and 2), one per core: their step times (both runs pooled)."""
    import subprocess

    import yaml

    code = "import sys, yaml; from interplay.train.run_rl import run_rl; run_rl(yaml.safe_load(open(sys.argv[1])), sys.argv[2])"
    procs = []
    for seed in (1, 2):
        p = root / f"side{seed}.yaml"
        p.write_text(yaml.safe_dump({**rl_config(root, args, 1), "seed": seed}))
        procs.append(subprocess.Popen([sys.executable, "-c", code, str(p), str(root / f"side{seed}")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    assert all(p.wait() == 0 for p in procs)
    return [t for seed in (1, 2) for t in step_times(root / f"side{seed}")[0]]


def trl_side(root: Path, recs, args) -> tuple[list[float], list[float]]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from interplay.data.render import prompt_text
    from interplay.data.tokenizers import load_tokenizer
    from interplay.train.rewards import reward

    tok = load_tokenizer(root / "init")
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(root / "init", dtype=torch.float32)
    data = Dataset.from_list([{"prompt": prompt_text(r["problem"], r["question"]), "rec": json.dumps(r)}
                              for r in recs[:args.prompts]] * (args.repeats + 1))

    def outcome(prompts, completions, rec, **_):
        return [reward("outcome", c, json.loads(g)).score for c, g in zip(completions, rec)]

    per_device = args.prompts * args.group // args.mini_batches
    cfg = GRPOConfig(output_dir=str(root / "trl"), use_cpu=True, report_to=[], save_strategy="no",
                     per_device_train_batch_size=per_device, gradient_accumulation_steps=1,
                     steps_per_generation=args.mini_batches, num_generations=args.group,
                     max_completion_length=args.new_tokens, temperature=1.0, top_p=1.0, beta=1e-3, epsilon=0.2,
                     learning_rate=1e-6, lr_scheduler_type="constant", warmup_steps=0, num_iterations=1,
                     max_steps=(args.repeats + 1) * args.mini_batches, logging_steps=1, shuffle_dataset=False,
                     loss_type="dapo", seed=0, dataloader_num_workers=0, disable_tqdm=True, bf16=False)

    marks: list[float] = []
    lengths: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            if state.global_step % args.mini_batches == 0:
                marks.append(time.perf_counter())

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

        def on_train_end(self, a, state, control, **kw):
            marks.append(time.perf_counter())

    trainer = GRPOTrainer(model=model, reward_funcs=outcome, args=cfg, train_dataset=data, processing_class=tok,
                          callbacks=[Clock()])
    trainer.train()
    times = [b - a for a, b in zip(marks, marks[1:])]
    return times[1:], lengths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=6)
    ap.add_argument("--mini-batches", type=int, default=2)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--side-by-side", action="store_true",
                    help="only: two one-process runs at once (one per core) vs one 2-process DDP run (no TRL needed)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.side_by_side:
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            build(root, args.preset, args.prompts)
            t_ddp, _ = ours(root, args, 2)
            t_side = side_by_side(root, args)
        md, ms = statistics.median(t_ddp), statistics.median(t_side)
        print(f"2 DDP procs, one run:         step time s median {md:.2f} ({min(t_ddp):.2f}-{max(t_ddp):.2f})")
        print(f"two 1-process runs at once:   step time s median {ms:.2f} ({min(t_side):.2f}-{max(t_side):.2f}), "
              f"i.e. {ms / 2:.2f} s per step of the machine")
        print(f"grpo_side_by_side_vs_ddp: ratio {md / (ms / 2):.2f} (target 1.3)")
        return
    try:
        import trl
    except ImportError:
        print("TRL is not installed (benchmark-only extra: pip install 'interplay[bench]'); nothing to compare.")
        return
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        recs = build(root, args.preset, args.prompts)
        t_ours, len_ours = ours(root, args, 1)
        t_ddp, len_ddp = ours(root, args, 2)
        t_trl, len_trl = trl_side(root, recs, args)
    mo, md, mt = statistics.median(t_ours), statistics.median(t_ddp), statistics.median(t_trl)
    print(f"setup: preset {args.preset}, {args.prompts} prompts x G {args.group}, {args.mini_batches} mini-batches, "
          f"max {args.new_tokens} new tokens, fp32 CPU, {args.threads} thread(s), TRL {trl.__version__}")
    print(f"load avg {os.getloadavg()[0]:.1f} at the end")
    print(f"mean completion length: ours {statistics.mean(len_ours):.1f}, ours DDP {statistics.mean(len_ddp):.1f}, "
          f"TRL {statistics.mean(len_trl):.1f}")
    print(f"ours 1 process   step time s: {', '.join(f'{t:.2f}' for t in t_ours)}  (median {mo:.2f})")
    print(f"ours 2 DDP procs step time s: {', '.join(f'{t:.2f}' for t in t_ddp)}  (median {md:.2f})")
    print(f"TRL  1 process   step time s: {', '.join(f'{t:.2f}' for t in t_trl)}  (median {mt:.2f})")
    print(f"grpo_vs_trl: ratio {mt / mo:.2f} (target 3.0)")
    print(f"grpo_ddp_vs_1proc: ratio {mo / md:.2f} (target 1.0)")


if __name__ == "__main__":
    main()
