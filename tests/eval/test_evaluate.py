"""evaluate / rescore end to end on a tiny checkpoint, with drop-in samplers of `sample`'s interface.

The oracle and wrong-derivation tests need the data layer's verifier (`interplay.data.verify`); they are
skipped until it lands. The aggregation / artifact tests use a stand-in scorer and run regardless.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
import types

import pytest
import torch

from interplay.data.generator import GenConfig, generate
from interplay.data.records import write_jsonl
from interplay.data.render import prompt_text, training_text
from interplay.eval import evaluate as ev
from interplay.eval.evaluate import EvalError, evaluate, parse_bands, rescore
from interplay.eval.ladder import Ladder
from interplay.sampling import Samples

BANDS = {"id": [2, 3], "edge": [4, 4], "hard": [5, 6]}


def problems():
    out = []
    for op in (2, 3, 4, 5):
        for i, mode in enumerate(("forward", "reverse")):
            ctx = "zoo" if i == 0 else "teachers"
            out.append(generate(GenConfig(op=op, render="compact", mode=mode, context=ctx), 0, op))
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from interplay.data.tokenizers import train_tokenizer
    from interplay.model import build_model

    root = tmp_path_factory.mktemp("eval")
    probs = problems()
    write_jsonl(root / "id.jsonl", [p for p in probs if p.op <= 3])
    write_jsonl(root / "ood.jsonl", [p for p in probs if p.op > 3])
    tok = train_tokenizer("word", [training_text(p.problem, p.question, p.solution) for p in probs])
    torch.manual_seed(0)
    model = build_model("ci", len(tok))
    ckpt = root / "ckpt"
    model.save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    return root, ckpt, probs


def gold_completion(p) -> str:
    full, prompt = training_text(p.problem, p.question, p.solution), prompt_text(p.problem, p.question)
    assert full.startswith(prompt)
    return full[len(prompt):]


def scripted_sampler(answer_for):
    """A drop-in for `interplay.sampling.sample` that emits `answer_for(prompt, i)` as the i-th completion,
    round-tripped through the tokenizer as real samples are (decoded ids, special tokens kept)."""

    def _sample(model, tokenizer, prompts, n, *, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=1024,
                stop=("</answer>",), seed=0, batch_size=256, prompt_keys=None) -> Samples:
        texts = [answer_for(p, i) for p in prompts for i in range(n)]
        ids = [tokenizer.encode(t, add_special_tokens=False)[:max_new_tokens] for t in texts]
        texts = [tokenizer.decode(x, skip_special_tokens=False) if "BOOM" not in t else t for t, x in zip(texts, ids)]
        T = max(1, max(len(x) for x in ids))
        comp = torch.full((len(ids), T), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(ids), T), dtype=torch.bool)
        for r, x in enumerate(ids):
            comp[r, : len(x)] = torch.tensor(x, dtype=torch.long)
            mask[r, : len(x)] = True
        return Samples(prompt_index=torch.arange(len(texts)) // n,
                       prompt_ids=[tokenizer.encode(p, add_special_tokens=False) for p in prompts],
                       completion_ids=comp, completion_mask=mask, logprobs=torch.zeros(comp.shape),
                       finished=torch.ones(len(texts), dtype=torch.bool), texts=texts)

    return _sample


def by_prompt(probs):
    return {prompt_text(p.problem, p.question): p for p in probs}


# ------------------------------------------------------------------------------ with the real verifier


def test_oracle_scores_strict_pass1_one(setup, tmp_path):
    root, ckpt, probs = setup
    table = by_prompt(probs)
    m = evaluate(ckpt, [root / "id.jsonl", root / "ood.jsonl"], n=4, out_dir=tmp_path / "o", bands=BANDS,
                 sampler=scripted_sampler(lambda p, i: gold_completion(table[p])))
    for g in ("overall", "band=id", "band=edge", "band=hard", "context=zoo", "context=teachers", "op=2"):
        assert m["passk"][g]["strict"]["1"] == 1.0, g
        assert m["passk"][g]["answer"]["1"] == 1.0, g
    assert m["categories"]["overall"]["correct"] == 1.0
    assert m["ladder"]["rungs"][-1]["ok"] is False  # an oracle is not a base model: hard ≈ 0 fails


def test_right_answer_wrong_derivation_is_answer_only(setup, tmp_path):
    root, ckpt, probs = setup
    table = by_prompt(probs)

    def shortcut(prompt, i):  # no derivation at all, but the right final answer
        return f" Define total zoo as A; so A = 1. </solution> <answer> {table[prompt].answer} </answer>"

    m = evaluate(ckpt, [root / "id.jsonl", root / "ood.jsonl"], n=3, out_dir=tmp_path / "w", bands=BANDS,
                 sampler=scripted_sampler(shortcut))
    assert m["passk"]["overall"]["answer"]["1"] == 1.0
    assert m["passk"]["overall"]["strict"]["1"] == 0.0
    assert m["passk"]["overall"]["strict"]["3"] == 0.0
    assert m["categories"]["overall"]["correct"] == 0.0


def test_real_sampler_and_garbage_never_crash(setup, tmp_path):
    root, ckpt, probs = setup
    out = tmp_path / "r"
    m = evaluate(ckpt, [root / "id.jsonl"], n=2, max_new_tokens=12, out_dir=out, bands=BANDS, batch_size=3)
    assert m["passk"]["overall"]["strict"]["1"] == 0.0  # a random model derives nothing
    rows = ev.read_samples(out)
    assert all(len(r["completions"]) == 2 for r in rows)
    garbage = ["", "</answer>", "<answer> </answer>", "Define as ; so = = .", "x" * 500, "Answer: banana.",
               "\x00\ufffd <solution> Define A as B; so B = A. </solution> <answer> 1e999 </answer>"]
    for text in garbage:
        s = ev.score_completion(text, probs[0].to_record())
        assert s["category"] in ev.CATEGORIES and not s["strict"]
    # rescore in the official-compatibility mode works from the stored samples alone
    m2 = rescore(out, "official_compat")
    assert m2["mode"] == "official_compat" and m2["n"] == 2


# ------------------------------------------------------------------------------ with a stand-in scorer


@pytest.fixture
def fake_verify(monkeypatch):
    """Stand-in for interplay.data.verify.verify: answer from `<answer> n </answer>`; strict iff the text also
    contains the gold solution's first step; raises on the word BOOM (scoring must survive that)."""
    mod = types.ModuleType("interplay.data.verify")

    def verify(text, gold, mode="paper"):
        if "BOOM" in text:
            raise RuntimeError("verifier bug")
        ans = text.split("<answer>")[-1].split("</answer>")[0].strip() if "<answer>" in text else None
        right = ans == str(gold["answer"])
        first = gold["solution"].split(";")[0]
        strict = right and first in text
        cat = "correct" if strict else ("wrong_answer_only" if not right else "missing_nodes")
        return types.SimpleNamespace(answer_correct=right, verified=strict, process_acc=1.0 if strict else 0.25,
                                     category=cat)

    mod.verify = verify
    monkeypatch.setitem(sys.modules, "interplay.data.verify", mod)
    return mod


def test_artifacts_groups_and_rescore(setup, tmp_path, fake_verify):
    root, ckpt, probs = setup
    table = by_prompt(probs)

    def half_right(prompt, i):  # samples 0, 1 strict-correct; 2 right answer only; 3 wrong; 4 crashes verify
        p = table[prompt]
        return [gold_completion(p), gold_completion(p), f" x </solution> <answer> {p.answer} </answer>",
                " </solution> <answer> -1 </answer>", " BOOM"][i]

    out = tmp_path / "e"
    m = evaluate(ckpt, [root / "id.jsonl", root / "ood.jsonl"], n=5, out_dir=out, bands=BANDS, seed=3,
                 sampler=scripted_sampler(half_right), ladder=Ladder(id_passk_min=0.99, edge_pass1_min=0.0, hard_passk_max=0.05))
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "passk.csv", "per_op.csv", "per_problem.csv",
                                                     "samples.jsonl.gz"]
    assert json.loads((out / "metrics.json").read_text()) == m
    assert m["ks"] == [1, 2, 4, 5] and m["n"] == 5 and m["temperature"] == 0.7 and m["mode"] == "paper"
    expected = {"overall", "band=id", "band=edge", "band=hard", "op=2", "op=3", "op=4", "op=5", "context=zoo",
                "context=teachers", "mode=forward", "mode=reverse", "band=id/context=zoo",
                "band=id/context=teachers", "band=edge/context=zoo", "band=hard/context=teachers",
                "band=id/mode=forward", "band=id/mode=reverse"}
    assert expected <= set(m["passk"])
    by_mode = [m["passk"][f"band=id/mode={d}"]["problems"] for d in ("forward", "reverse")]
    assert sum(by_mode) == m["passk"]["band=id"]["problems"] and all(by_mode)
    o = m["passk"]["overall"]
    assert o["strict"]["1"] == pytest.approx(2 / 5) and o["answer"]["1"] == pytest.approx(3 / 5)
    assert o["strict"]["4"] == 1.0 and o["problems"] == 8 and m["passk"]["band=id"]["problems"] == 4
    lo, hi = o["strict_ci"]["1"]
    assert lo <= o["strict"]["1"] <= hi
    cats = m["categories"]["overall"]
    assert cats["correct"] == pytest.approx(0.4) and cats["unparseable"] == pytest.approx(0.2)
    assert sum(cats.values()) == pytest.approx(1.0)
    assert set(m["nll"]) == {"2", "3", "4", "5"} and all(v > 0 for v in m["nll"].values())
    lad = m["ladder"]
    rung = {(r["band"], r["stat"]): r for r in lad["rungs"]}
    assert lad["k"] == 5 and rung["id", "pass@5"]["value"] == 1.0 and rung["id", "pass@5"]["ok"]
    assert rung["hard", "pass@5"]["ok"] is False and lad["holds"] is False

    rows = list(csv.DictReader(open(out / "per_problem.csv")))
    assert list(rows[0]) == ev.PER_PROBLEM_COLUMNS and len(rows) == 8
    assert {(r["c_strict"], r["c_answer"], r["cat_correct"], r["cat_unparseable"]) for r in rows} == \
        {("2", "3", "2", "1")}
    per_op = list(csv.DictReader(open(out / "per_op.csv")))
    assert list(per_op[0]) == ["op", "k", "strict", "answer"] and len(per_op) == 4 * 4
    passk = list(csv.DictReader(open(out / "passk.csv")))
    assert list(passk[0]) == ["group", "k", "strict", "answer"]
    with gzip.open(out / "samples.jsonl.gz", "rt") as f:
        srow = json.loads(f.readline())
    assert len(srow["completions"]) == 5 and srow["record"]["graph"]["nodes"]

    # same seed and inputs → byte-identical artifacts
    out2 = tmp_path / "e2"
    evaluate(ckpt, [root / "id.jsonl", root / "ood.jsonl"], n=5, out_dir=out2, bands=BANDS, seed=3,
             sampler=scripted_sampler(half_right), ladder=Ladder(id_passk_min=0.99, edge_pass1_min=0.0, hard_passk_max=0.05))
    for name in ("metrics.json", "per_problem.csv", "samples.jsonl.gz"):
        assert (out / name).read_bytes() == (out2 / name).read_bytes(), name

    # rescore: a stricter verifier changes the scores without sampling again; the other fields stay
    fake_verify.verify = lambda text, gold, mode="paper": types.SimpleNamespace(
        answer_correct=False, verified=False, process_acc=0.0, category="unparseable")
    m3 = rescore(out, "official_compat", out=tmp_path / "re")
    assert m3["mode"] == "official_compat" and m3["passk"]["overall"]["strict"]["5"] == 0.0
    # answer-only is the authors' exact match on the text: no verifier changes it
    assert m3["passk"]["overall"]["answer"] == m["passk"]["overall"]["answer"]
    assert m3["nll"] == m["nll"] and m3["ladder"]["rungs"][0]["required"] == ">= 0.99"
    assert json.loads((out / "metrics.json").read_text())["mode"] == "paper"  # original untouched


def test_errors(setup, tmp_path, fake_verify):
    root, ckpt, probs = setup
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text((ckpt / "config.json").read_text())
    with pytest.raises(EvalError, match="no tokenizer"):
        evaluate(bare, [root / "id.jsonl"], n=2, out_dir=tmp_path / "x")
    with pytest.raises(EvalError, match="n must be"):
        evaluate(ckpt, [root / "id.jsonl"], n=0, out_dir=tmp_path / "x")
    with pytest.raises(EvalError, match="not found"):
        evaluate(ckpt, [root / "nope.jsonl"], n=2, out_dir=tmp_path / "x")
    with pytest.raises(EvalError, match="not defined"):
        parse_bands("id,mystery")
    with pytest.raises(EvalError, match="bad op range"):
        parse_bands("id=a-b")
    with pytest.raises(EvalError, match="scoring mode"):
        rescore(tmp_path, "bogus")
    with pytest.raises(EvalError, match="not an evaluation"):
        rescore(tmp_path, "paper")
    assert not (tmp_path / "x").exists()  # nothing half-written
    assert parse_bands("id,edge=11-14") == {"id": (2, 10), "edge": (11, 14)}
    assert parse_bands({"hard": [15, 20], "one": 7}) == {"hard": (15, 20), "one": (7, 7)}


def test_metrics_json_is_valid_json_when_a_value_is_not_finite(tmp_path):
    import json

    from interplay.eval.evaluate import write_outputs

    metrics = {"passk": {}, "process_acc": {"op=9": float("nan")}, "nll": {"9": float("inf")}}
    write_outputs(tmp_path / "out", [], metrics)
    text = (tmp_path / "out" / "metrics.json").read_text()
    got = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert got["process_acc"]["op=9"] is None and got["nll"]["9"] is None
