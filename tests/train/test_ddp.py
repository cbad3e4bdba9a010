"""DDP with 2 CPU processes (gloo) sees the same global batches as 1 process and matches its loss curve."""

import csv
import json

import pytest

from interplay.train.curves import read_rows
from interplay.train.run_lm import run_lm

from . import make_data

STEPS = 12


def _curve(out):
    return [(r["step"], r["train/loss"], r["train/lr"]) for r in read_rows(out)]


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path, monkeypatch):
    tok_dir, shard_dir, _ = make_data(tmp_path, budget=20_000)
    base = dict(tokenizer=str(tok_dir), shards=str(shard_dir), model="ci", token_budget=STEPS * 512,
                tokens_per_step=512, seq_len=64, lr=3e-3, min_lr=3e-4, threads=1, accelerator="cpu")
    runs = {"one": dict(base, devices=1, micro_batch_size=4), "two": dict(base, devices=2, micro_batch_size=2)}
    # the ladder curve runs on rank 0 while rank 1 waits at a barrier (no hang, no change to training)
    from .test_ladder import BANDS, _heldout

    runs["two"]["ladder"] = dict(heldout=str(_heldout(tmp_path)), every=5, bands=BANDS, contexts=["zoo"],
                                 max_new_tokens=16)
    for name, cfg in runs.items():  # in-process call: run_lm starts the DDP ranks in a fresh process itself
        run_lm(cfg, tmp_path / name)
    one, two = _curve(tmp_path / "one"), _curve(tmp_path / "two")
    assert [s for s, _, _ in one] == [s for s, _, _ in two] == list(range(1, STEPS + 1))
    print("max |loss 1 proc - loss 2 DDP|:", max(abs(a[1] - b[1]) for a, b in zip(one, two)))
    for (_, la, lra), (_, lb, lrb) in zip(one, two):
        assert lra == lrb
        assert abs(la - lb) < 1e-4 * max(1.0, la)  # same data and math; only float reduction order differs
    with open(tmp_path / "two" / "ladder.csv") as f:
        assert [(int(r["step"]), r["band"]) for r in csv.DictReader(f)] == [(s, b) for s in (5, 10, 12) for b in BANDS]
    m = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert m["devices"] == 2 and m["grad_accumulation"] == 2
