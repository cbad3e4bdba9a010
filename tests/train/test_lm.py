"""Next-token training: loss falls on generated data, LR schedule, HF artifact, mid-training, packing, CLI."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from interplay.train.config import load_config

ROOT = Path(__file__).resolve().parents[2]
from interplay.train.lm import PackedWindows, lr_at, pack_windows, solution_targets
from interplay.train.run_lm import RunError, run_lm
from interplay.train.curves import read_metric, read_rows

from . import make_data

STEPS = 60


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    tok_dir, shard_dir, _ = make_data(root, budget=40_000)
    return root, tok_dir, shard_dir


def _cfg(data, **kw):
    _, tok_dir, shard_dir = data
    cfg = dict(tokenizer=str(tok_dir), shards=str(shard_dir), model="ci", token_budget=STEPS * 512,
               tokens_per_step=512, seq_len=64, micro_batch_size=4, lr=3e-3, min_lr=3e-4, warmup_ratio=0.05,
               threads=1, devices=1, ckpt_every=20)
    cfg.update(kw)
    return cfg


@pytest.fixture(scope="module")
def base(data):
    out = data[0] / "base"
    metrics = run_lm(_cfg(data), out)
    return out, metrics


def test_loss_falls_on_generated_data(base):
    out, m = base
    rows = read_rows(out)  # the DVCLive curve: one row per step, every key logged
    losses = [r["train/loss"] for r in rows]
    assert len(rows) == STEPS and [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert set(rows[0]) == {"step", "train/loss", "train/lr", "train/grad_norm", "train/tokens"}
    assert [r["train/tokens"] for r in rows] == [512 * s for s in range(1, STEPS + 1)]
    assert all(0 < r["train/grad_norm"] < math.inf for r in rows)
    assert np.mean(losses[-5:]) < np.mean(losses[:3]) - 1.5
    assert m["final_loss"] == losses[-1]
    summary = json.loads((out / "dvclive" / "metrics.json").read_text())  # what `dvc exp show` lists
    assert summary["step"] == STEPS and summary["train"]["loss"] == losses[-1]
    assert not (out / "curve.csv").exists() and not (out / "logs").exists()
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["steps"] == STEPS and saved["tokens"] == STEPS * 512 and saved["grad_accumulation"] == 2
    assert saved["flops"] == 6 * saved["params_non_embedding"] * saved["tokens"]
    assert 1e5 < saved["params_total"] < 4e5 and saved["tokens_per_s"] > 0
    assert (out / "ckpt" / "last.ckpt").is_file()


def test_lr_schedule_hand_computed(data, base):
    cfg = load_config(_cfg(data, token_budget=100 * 512, lr=1e-3, min_lr=1e-4))  # 100 steps, warmup ceil(5) = 5
    # warmup: 0, 1/5, 2/5 ... of the peak; then 1e-4 + 9e-4 · ½(1 + cos(π (s-5)/95))
    expected = {0: 0.0, 1: 2e-4, 4: 8e-4, 5: 1e-3, 52: 5.5e-4 + 4.5e-4 * math.cos(math.pi * 47 / 95),
                99: 1e-4 + 4.5e-4 * (1 + math.cos(math.pi * 94 / 95))}
    assert expected[52] == pytest.approx(5.5744e-4, rel=1e-4) and expected[99] == pytest.approx(1.00246e-4, rel=1e-4)
    for step, lr in expected.items():
        assert lr_at(cfg, step) == pytest.approx(lr, rel=1e-9, abs=1e-15)
    # the optimizer really used these values (the logged train/lr is read from the param group)
    run_cfg = load_config(_cfg(data))
    for step, lr in read_metric(base[0], "train/lr"):
        assert lr == pytest.approx(lr_at(run_cfg, step - 1), rel=1e-9, abs=1e-15)


def test_wsd_schedule_hand_computed(data):
    # 100 steps, warmup ceil(5) = 5, decay ceil(0.2 * 100) = 20: 0, 1/5 ... 4/5; 1 until step 80; then linear
    cfg = load_config(_cfg(data, token_budget=100 * 512, lr=1e-3, min_lr=1e-4, schedule="wsd", decay_ratio=0.2))
    expected = {0: 0.0, 4: 8e-4, 5: 1e-3, 79: 1e-3, 80: 1e-3, 90: 1e-3 - 9e-4 * 10 / 20, 99: 1e-3 - 9e-4 * 19 / 20}
    for step, lr in expected.items():
        assert lr_at(cfg, step) == pytest.approx(lr, rel=1e-9, abs=1e-15)
    with pytest.raises(ValueError, match="linear.*cosine, wsd"):
        load_config(_cfg(data, schedule="linear"))


def test_solution_loss_masks_exactly_the_question(data):
    from interplay.data.corpus import load_shards
    from interplay.data.tokenizers import load_tokenizer

    tok = load_tokenizer(data[1])
    q, sol, eos = tok.convert_tokens_to_ids(["<question>", "<solution>", "[EOS]"])
    tokens, starts, _ = load_shards(data[2])
    tokens = np.asarray(tokens)
    targets = solution_targets(tokens, q, sol)
    for a, b in zip(starts[:50], starts[1:51]):  # every document: masked exactly from <question> to <solution>
        doc, t = tokens[a:b], targets[a:b]
        i, j = int(np.flatnonzero(doc == q)[0]), int(np.flatnonzero(doc == sol)[0])
        assert not t[i:j + 1].any() and t[j + 1:].all() and t[:i].all() and doc[-1] == eos
    # a window that starts inside a question masks its first tokens too; labels elsewhere are the tokens
    s = int(starts[3]) + 2
    item = PackedWindows(tokens, np.array([[s, s + 64]]), 64, eos_id=3, pad_id=1, cross_doc_attention=True,
                         targets=targets)[0]
    lab, ids = item["labels"].numpy(), item["input_ids"].numpy()
    assert (lab[~targets[s:s + 64]] == -100).all() and (lab[targets[s:s + 64]] == ids[targets[s:s + 64]]).all()
    assert lab[0] == -100 and (lab != -100).any()


def test_solution_loss_trains(data, tmp_path):
    m = run_lm(_cfg(data, token_budget=8 * 512, loss_on="solution"), tmp_path / "sol")
    assert m["steps"] == 8 and m["config"]["loss_on"] == "solution" and 0 < m["final_loss"] < math.inf


def test_hf_directory_reloads_and_generates(base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # plain transformers calls (interplay.checkpoint: AutoTokenizer gets our tokenizer, not Qwen2Tokenizer)
    d = base[0] / "model"
    model, tok = AutoModelForCausalLM.from_pretrained(str(d)), AutoTokenizer.from_pretrained(str(d))
    assert model.config.model_type == "qwen2" and model.config.vocab_size == len(tok)
    assert model.config.tie_word_embeddings and model.config.eos_token_id == 3
    from interplay.data.tokenizers import load_tokenizer

    text = "Define owl Evervale as g; so g = 3. </solution> <answer> 3 </answer>"
    assert tok(text).input_ids == load_tokenizer(d)(text).input_ids
    ids = tok("<question> owl Evervale = 3 . owl Evervale = ? </question> <solution>", return_tensors="pt").input_ids
    gen = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    assert gen.shape[1] > ids.shape[1] and isinstance(tok.decode(gen[0]), str)


def test_midtrain_changes_weights_keeps_tokenizer(data, base):
    init = base[0] / "model"
    out = data[0] / "mid"
    m = run_lm(_cfg(data, kind="midtrain", init=str(init), token_budget=10 * 512, lr=1e-3, warmup_ratio=0.15), out)
    assert m["steps"] == 10 and m["warmup_steps"] == 2
    a, b = load_file(init / "model.safetensors"), load_file(out / "model" / "model.safetensors")
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a)
    assert (out / "model" / "tokenizer.json").read_text() == (init / "tokenizer.json").read_text()


def test_midtrain_rejects_other_vocabulary(data, base, tmp_path):
    from interplay.data.tokenizers import save_tokenizer, train_tokenizer

    other = tmp_path / "tok"
    save_tokenizer(train_tokenizer("word", ["<question> a b c </question>"]), other)
    with pytest.raises(RunError, match="vocabulary"):
        run_lm(_cfg(data, kind="midtrain", init=str(base[0] / "model"), tokenizer=str(other)), tmp_path / "o")


def test_block_diagonal_attention_isolates_documents(data):
    from interplay.data.corpus import load_shards
    from interplay.model import build_model

    tokens, starts, _ = load_shards(data[2])
    seq = 96
    s = int(starts[1]) - 40  # a window whose first document ends 40 tokens in
    item = PackedWindows(tokens, np.array([[s, s + seq]]), seq, eos_id=3, pad_id=1, cross_doc_attention=False)[0]
    ids, pos = item["input_ids"], item["position_ids"]
    cut = 40  # first document start inside the window
    assert ids[cut - 1] == 3
    assert pos[cut] == 0 and pos[cut + 3] == 3 and pos[0] == 0
    torch.manual_seed(0)
    model = build_model("ci", 2200).eval()
    with torch.no_grad():
        packed = model(ids[None], position_ids=pos[None], use_cache=False).logits[0, cut:]
        alone = model(ids[None, cut:]).logits[0]
        mixed = model(ids[None]).logits[0, cut:]  # the authors' setting: attends across documents
    assert torch.allclose(packed, alone, atol=1e-5) and not torch.allclose(mixed, alone, atol=1e-3)


def test_whole_document_packing():
    starts = np.array([0, 10, 30, 35, 100], dtype=np.int64)
    w = pack_windows(starts, 120, 32, "docs")
    assert w.tolist() == [[0, 30], [30, 35], [35, 67], [67, 99], [99, 120]]
    item = PackedWindows(np.arange(120) % 7, w, 32, eos_id=3, pad_id=1, cross_doc_attention=True)[1]
    assert (item["labels"][5:] == -100).all() and (item["input_ids"][5:] == 1).all()


runner = CliRunner()


def _cli(*args):
    from interplay.cli import app

    return runner.invoke(app, list(args))


def test_cli_errors_are_one_line(data, tmp_path):
    bad = tmp_path / "small.yaml"
    bad.write_text(yaml.safe_dump(_cfg(data, token_budget=100)))
    r = _cli("train", "pretrain", str(bad), "--out", str(tmp_path / "o"))
    assert r.exit_code == 2 and "smaller than one step" in r.output and "Traceback" not in r.output
    missing = tmp_path / "missing.yaml"
    missing.write_text(yaml.safe_dump(_cfg(data, shards=str(tmp_path / "none"))))
    r = _cli("train", "pretrain", str(missing), "--out", str(tmp_path / "o"))
    assert r.exit_code == 2 and "missing tokens.bin" in r.output
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({**_cfg(data), "learning_rate": 1e-3}))
    r = _cli("train", "pretrain", str(typo))
    assert r.exit_code == 2 and "learning_rate" in r.output
    r = _cli("train", "midtrain", str(typo.with_name("nope.yaml")))
    assert r.exit_code == 2 and "not found" in r.output


def test_cli_paper_dry_run(tmp_path):
    """The paper profile's two next-token runs (as resolved from specs/), dry-run without a tokenizer on disk."""
    from interplay.spec.resolve import resolve

    res = resolve("paper", ROOT)
    for kind, run in (("pretrain", "base"), ("midtrain", "mid_full")):
        cfg = dict(res.runs[run].config["lm"], vocab_size=2200, tokenizer=str(tmp_path / "no-tokenizer"))
        p = tmp_path / f"{kind}.yaml"
        p.write_text(yaml.safe_dump(cfg))
        r = _cli("train", kind, str(p), "--dry-run")
        assert r.exit_code == 0, r.output
        assert "103,170,816 total, 101,481,216 non-embedding" in r.output
        assert "524,288 tokens/step" in r.output and "12L hidden 768 FFN 3072 heads 12/2 KV" in r.output
        steps = 19_073 if kind == "pretrain" else cfg["token_budget"] // 524_288  # mid: the profile's compute split
        assert f"-> {steps:,} steps" in r.output and "lr[0]=0" in r.output


def test_cli_trains(data, tmp_path):
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump(_cfg(data, token_budget=4 * 512, out_dir=str(tmp_path / "run"))))
    r = _cli("train", "pretrain", str(p))
    assert r.exit_code == 0, r.output
    assert "pretrain done: 4 steps" in r.output and (tmp_path / "run" / "model" / "config.json").is_file()


def test_cli_dry_run_on_the_paper_profile_stage_configs():
    """The committed pipeline configs of the paper profile: the base and full mid-training runs."""
    root = Path(__file__).resolve().parents[2]
    r = _cli("train", "pretrain", str(root / "configs/paper/base.yaml"), "--dry-run")
    assert r.exit_code == 0, r.output
    assert "19,073 steps x 524,288 tokens/step" in r.output and "lr 0.0001 " in r.output
    assert "warmup 954 steps (5%), cosine to 3e-05" in r.output
    r = _cli("train", "midtrain", str(root / "configs/paper/mid_full.yaml"), "--dry-run")
    assert r.exit_code == 0, r.output
    assert "warmup 600 steps (15%)" in r.output and "4,000 steps" in r.output  # Table 3: 2.10B -> 4,000 steps
