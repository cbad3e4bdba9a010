"""Pre-training corpus build: the pretrain stage's parallel build (one process per core) vs one process.

    .venv/bin/python benchmarks/corpus.py [--profile cpu] [--tokens 2000000] [--repeats 3]

Builds the profile's §3 base mixture (configs/<profile>/base.yaml: its components, render, distractor cap) to
`--tokens` tokens with the pipeline's own `build_corpus`, alternately with `workers=1` and with the stage's default
(`stages.pretrain.corpus_workers`: one process per available core), checks that both wrote the same bytes, and
reports the median wall time of each and their ratio. A base of the cpu profile spends ~4 min of one core here
before training starts (docs/calibration.md); the build is a pure function of its seed, so the worker count is
not part of any run's identity. Target: >= 1.6x on 2 cores (the workers' start-up and the merge are serial).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from interplay.data.corpus import MixComponent, build_corpus  # noqa: E402
from stages.pretrain import _PARALLEL_FROM, corpus_workers  # noqa: E402

TARGET = 1.6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--tokens", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from interplay.data.tokenizers import train_tokenizer
    from interplay.data.generator import GenConfig, generate_many
    from interplay.data.render import training_text

    c = yaml.safe_load((ROOT / "configs" / args.profile / "base.yaml").read_text())["corpus"]
    comps = [MixComponent(ops=list(m["ops"]), weight=m["weight"], context=m["context"],
                          mode_weights=dict(m["mode_weights"])) for m in c["components"]]
    ops = sorted({op for m in comps for op in m.ops})
    texts = [training_text(p.problem, p.question, p.solution) for op in ops for ctx in ("zoo", "teachers", "festival")
             for p in generate_many(GenConfig(op=op, context=ctx, render=c["render"]), 0, 20)]
    tok = train_tokenizer("word", texts)
    workers = corpus_workers(max(args.tokens, _PARALLEL_FROM), 0)
    times: dict[int, list[float]] = {1: [], workers: []}
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.repeats):
            for w in (1, workers):
                t = time.perf_counter()
                build_corpus(comps, args.tokens, tok, Path(d) / f"w{w}", seed=r, render=c["render"],
                             max_distractors=c["max_distractors"], workers=w)
                times[w].append(time.perf_counter() - t)
            same = all(filecmp.cmp(Path(d) / "w1" / n, Path(d) / f"w{workers}" / n, shallow=False)
                       for n in ("tokens.bin", "docs.npy", "manifest.json"))
            if not same:
                sys.exit(f"error: repeat {r}: {workers} workers wrote other bytes than one process")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    one, par = statistics.median(times[1]), statistics.median(times[workers])
    print(f"{args.profile} base mixture, {args.tokens:,} tokens, {args.repeats} repeats, load average {load:.1f} "
          f"on {os.cpu_count()} cores; outputs byte-identical")
    for w in (1, workers):
        print(f"  {w} process{'es' if w > 1 else ''}: median {statistics.median(times[w]):.1f} s "
              f"[{min(times[w]):.1f}-{max(times[w]):.1f}]  ({args.tokens / statistics.median(times[w]) / 1e3:.0f}k tokens/s)")
    print(f"corpus_parallel: ratio {one / par:.2f} (target {TARGET})")


if __name__ == "__main__":
    main()
