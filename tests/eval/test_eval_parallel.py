"""Evaluation in worker processes writes the same bytes as one process (same seed and batch size)."""

from __future__ import annotations

import pytest
import torch

from interplay.data.generator import GenConfig, generate
from interplay.data.records import write_jsonl
from interplay.data.render import training_text
from interplay.eval.evaluate import EvalError, evaluate

FILES = ("metrics.json", "per_problem.csv", "per_op.csv", "passk.csv", "samples.jsonl.gz")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from interplay.data.tokenizers import train_tokenizer
    from interplay.checkpoint import save_checkpoint
    from interplay.model import build_model

    root = tmp_path_factory.mktemp("evalpar")
    probs = [generate(GenConfig(op=op, render="compact", mode=m, context="zoo"), 0, 10 * op + k)
             for op in (2, 3, 4) for k, m in enumerate(("forward", "reverse", "forward"))]
    write_jsonl(root / "a.jsonl", probs[:5])
    write_jsonl(root / "b.jsonl", probs[5:])
    tok = train_tokenizer("word", [training_text(p.problem, p.question, p.solution) for p in probs])
    torch.manual_seed(0)
    model = build_model("ci", len(tok))
    save_checkpoint(model, tok, root / "ckpt")  # the package's one checkpoint writer
    return root


def run(root, out, workers, **kw):
    args = dict(n=4, max_new_tokens=24, temperature=1.0, seed=3, bands={"id": [2, 3], "edge": [4, 4]},
                batch_size=8, n_boot=50, device="cpu")
    args.update(kw)
    return evaluate(root / "ckpt", [root / "a.jsonl", root / "b.jsonl"], out_dir=out, workers=workers, **args)


def test_two_workers_write_the_same_bytes_as_one_process(setup, tmp_path):
    torch.set_num_threads(1)  # the workers' setting: floating point identical by construction
    run(setup, tmp_path / "one", 1)
    run(setup, tmp_path / "two", 2)  # 9 problems in 5 chunks of 2 over 2 processes
    for f in FILES:
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes(), f
    # and the samples are real draws that depend on the seed
    run(setup, tmp_path / "other", 1, seed=4)
    assert (tmp_path / "one/samples.jsonl.gz").read_bytes() != (tmp_path / "other/samples.jsonl.gz").read_bytes()


def test_bad_workers(setup, tmp_path):
    with pytest.raises(EvalError, match="workers"):
        run(setup, tmp_path / "x", -1)
