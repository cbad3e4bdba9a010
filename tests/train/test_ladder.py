"""The ladder curve during pre-training: rows per evaluated step and band, scores that mean what they say, and a
training run that is the same with the curve on or off."""

import csv
import json

import pytest

from interplay.train.run_lm import run_lm

from . import curve_files, make_data

STEPS = 6
BANDS = {"id": [2, 3], "edge": [4], "hard": [5]}


def _heldout(root):
    """A held-out set in the `generate` stage's layout (index.json + <band>.<context>.jsonl), 2 per op/context."""
    from stages import generate

    cfg = {"name": "heldout", "hash": "h", "out": str(root / "heldout"), "purpose": "heldout", "seed": 11,
           "gen": {"render": "compact", "max_distractors": None, "modulus": None, "number_range": 5},
           "exclude": [], "groups": [{"band": b, "context": c, "ops": ops, "count_per_op": 2,
                                      "mode_weights": {"forward": 0.5, "reverse": 0.5}}
                                     for b, ops in BANDS.items() for c in ("zoo", "teachers")]}
    generate.run(cfg)
    return root / "heldout"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ladder")
    tok_dir, shard_dir, _ = make_data(root, budget=20_000)
    return root, tok_dir, shard_dir, _heldout(root)


def _cfg(data, ladder):
    _, tok_dir, shard_dir, heldout = data
    cfg = dict(tokenizer=str(tok_dir), shards=str(shard_dir), model="ci", token_budget=STEPS * 512,
               tokens_per_step=512, seq_len=64, micro_batch_size=4, lr=3e-3, min_lr=3e-4, threads=1, devices=1,
               accelerator="cpu", ckpt_every=3)
    if ladder:
        cfg["ladder"] = dict(heldout=str(heldout), every=4, bands=BANDS, contexts=["zoo"], max_new_tokens=24)
    return cfg


def test_copy_score_and_scoring_of_gold_and_garbage(data):
    from interplay.data.records import read_jsonl
    from interplay.eval.evaluate import score_completion
    from interplay.train.ladder import copy_score

    rec = read_jsonl(data[3] / "id.zoo.jsonl")[0]
    gold = " " + rec["solution"].split("Answer:")[0] + f"</solution> <answer> {rec['answer']} </answer>"
    assert copy_score(gold, rec) == 1.0 and score_completion(gold, rec)["strict"]
    assert copy_score(" Define nothing as x; so x = 1.", rec) == 0.0 and copy_score("", rec) == 0.0
    names = [n["name"] for n in rec["graph"]["nodes"]]
    one = f" Define {names[0]} as x; so x = 999. </solution> <answer> 0 </answer>"  # one name right, value wrong
    assert copy_score(one, rec) == pytest.approx(1 / len(names))
    assert not score_completion(one, rec)["strict"]


def test_ladder_rows_written_and_training_unchanged(data):
    root = data[0]
    on = run_lm(_cfg(data, ladder=True), root / "on")
    with open(root / "on" / "ladder.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", "tokens", "band", "problems", "strict", "answer", "copy", "seconds"]
    # every 4 steps and the last: steps 4 and 6, one row per band; only the configured context (zoo)
    assert [(int(r["step"]), r["band"]) for r in rows] == [(s, b) for s in (4, 6) for b in BANDS]
    for r in rows:
        assert int(r["tokens"]) == 512 * int(r["step"])
        assert int(r["problems"]) == 2 * len(BANDS[r["band"]])
        for k in ("strict", "answer", "copy"):
            assert 0.0 <= float(r[k]) <= 1.0
        assert float(r["strict"]) <= float(r["answer"])  # strict implies the right answer
        assert float(r["seconds"]) > 0
    assert set(on["ladder"]) == set(BANDS) and all(v["step"] == STEPS for v in on["ladder"].values())

    off = run_lm(_cfg(data, ladder=False), root / "off")  # the curve draws no random numbers of training
    def curve(out):  # the logged curve; params.yaml holds the config, which differs by the ladder section
        return {k: v for k, v in curve_files(out).items() if k != "params.yaml"}

    assert curve(root / "on") == curve(root / "off") != {}
    assert not (root / "off" / "ladder.csv").exists() and "ladder" not in off

    header_only = run_lm({**_cfg(data, ladder=True), "ladder": {**_cfg(data, True)["ladder"], "every": 0}},
                         root / "zero")
    assert (root / "zero" / "ladder.csv").read_text().strip() == ",".join(
        ["step", "tokens", "band", "problems", "strict", "answer", "copy", "seconds"])
    assert header_only["ladder"] == {}
    assert json.loads((root / "on" / "metrics.json").read_text())["ladder"]["id"]["step"] == STEPS


def test_missing_heldout_is_one_clear_error(data, tmp_path):
    from interplay.train.run_lm import RunError

    cfg = _cfg(data, ladder=True)
    cfg["ladder"]["heldout"] = str(tmp_path / "nope")
    with pytest.raises(RunError, match="no index.json"):
        run_lm(cfg, tmp_path / "x")
