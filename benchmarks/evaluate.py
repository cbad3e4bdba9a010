"""One evaluation of the `cpu` preset: one process vs the parallel default (worker processes, 1 thread each).

The same evaluation (`interplay.eval.evaluate.evaluate`: gold NLL, sampling, verification, artifacts) of P
problems × n samples, run as (a) one process with 1 torch thread, (b) the default, `default_workers()`
processes with 1 thread each, and with --two-threads (c) one process with 2 threads. The model is the `cpu` preset, randomly initialized
(so nearly every sample runs to --new-tokens: the sampling-heavy end of an evaluation), on compact problems of
the cpu profile's ops 2-11 with a word tokenizer trained on them. Repeats are interleaved (a, b, c, a, b, c, ...)
so that load changes hit all sides alike; wall time median and spread (min–max). The artifacts of (a) and (b)
must be byte-identical (the result does not depend on the worker count); (c) is compared and reported too.
(c) is off by default: on a loaded 2-core machine two OpenMP threads in one process spin-wait on each other and
it can take 5-20× longer than (a).

    .venv/bin/python benchmarks/evaluate.py [--problems 60] [--n 32] [--new-tokens 48] [--repeats 3] [--two-threads]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interplay.eval.evaluate import default_workers, evaluate  # noqa: E402

FILES = ("metrics.json", "per_problem.csv", "per_op.csv", "passk.csv", "samples.jsonl.gz")


def build(root: Path, problems: int) -> list[Path]:
    from interplay.data.generator import GenConfig, generate_many
    from interplay.data.records import write_jsonl
    from interplay.data.render import training_text
    from interplay.data.tokenizers import train_tokenizer
    from interplay.model import build_model

    ops = list(range(2, 12))
    probs = [p for i, op in enumerate(ops) for p in generate_many(
        GenConfig(op=op, render="compact", max_distractors=2), seed=i, count=-(-problems // len(ops)))][:problems]
    write_jsonl(root / "test.jsonl", probs)
    tok = train_tokenizer("word", [training_text(p.problem, p.question, p.solution) for p in probs])
    torch.manual_seed(0)
    model = build_model("cpu", len(tok))
    model.save_pretrained(root / "ckpt")
    tok.save_pretrained(root / "ckpt")
    return [root / "test.jsonl"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=60)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--two-threads", action="store_true", help="also one process with 2 threads")
    args = ap.parse_args()
    workers = default_workers("cpu")
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        testsets = build(root, args.problems)
        sides = {"1 process x 1 thread": (1, 1), f"{workers} processes x 1 thread (default)": (workers, 1)}
        if args.two_threads:
            sides["1 process x 2 threads"] = (1, 2)
        times: dict[str, list[float]] = {k: [] for k in sides}
        tokens = 0
        for r in range(args.repeats):
            for name, (w, threads) in sides.items():
                torch.set_num_threads(threads)
                out = root / f"out{r}_{w}x{threads}"
                t0 = time.perf_counter()
                evaluate(root / "ckpt", testsets, n=args.n, max_new_tokens=args.new_tokens, temperature=0.7, seed=0,
                         out_dir=out, bands={"all": [2, 11]}, batch_size=args.batch_size, device="cpu", workers=w)
                times[name].append(time.perf_counter() - t0)
        import gzip
        import json

        with gzip.open(out / "samples.jsonl.gz", "rt") as f:
            tokens = sum(sum(json.loads(line)["lengths"]) for line in f)
        same = {}
        ref = root / f"out0_{workers}x1"
        for name, (w, threads) in sides.items():
            other = root / f"out0_{w}x{threads}"
            same[name] = all((ref / f).read_bytes() == (other / f).read_bytes() for f in FILES)
        stable = all((root / f"out{r}_{workers}x1" / f).read_bytes() == (ref / f).read_bytes()
                     for r in range(args.repeats) for f in FILES)
    print(f"setup: cpu preset (random init), {args.problems} problems x n {args.n}, max {args.new_tokens} new tokens "
          f"({tokens} sampled), batch {args.batch_size}, torch {torch.__version__}, {os.cpu_count()} cores, "
          f"load avg {os.getloadavg()[0]:.1f} at the end; wall seconds, median (min-max) of {args.repeats}")
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, v in times.items():
        print(f"  {name:34} {med[name]:7.1f} s ({min(v):.1f}-{max(v):.1f})  {tokens / med[name]:7.0f} tok/s  "
              f"artifacts identical to the default: {same[name]}")
    print(f"  the default's artifacts are identical across its {args.repeats} repeats: {stable}")
    par = med[f"{workers} processes x 1 thread (default)"]
    ok = same["1 process x 1 thread"] and stable
    print(f"evaluate_vs_1x1: ratio {med['1 process x 1 thread'] / par:.2f} (target 1.5)")
    if args.two_threads:
        print(f"evaluate_vs_1x2: ratio {med['1 process x 2 threads'] / par:.2f} (target 1.5)")
    print(f"evaluate_identical: ratio {1.0 if ok else 0.0:.2f} (target 1.0)")


if __name__ == "__main__":
    main()
