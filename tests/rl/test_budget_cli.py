"""`interplay budget` (paper Table 3 via interplay.compute.table3) and `interplay train rl` argument errors."""

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from interplay.train import cli_rl
from tests.test_compute import TABLE3  # paper Table 3, written down once

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app():
    root, train = typer.Typer(), typer.Typer()
    root.add_typer(train, name="train")
    cli_rl.register(train, root)
    return root


def invoke(app, *args, cwd=ROOT, monkeypatch=None):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_paper_profile_prints_table3(app, monkeypatch):
    monkeypatch.chdir(ROOT)
    res = invoke(app, "budget", "--profile", "paper", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["rows"]
    assert len(rows) == len(TABLE3)
    for row, (mid, rl, k, s80, s50, s20) in zip(rows, TABLE3):
        by = {s["beta"]: s for s in row["splits"]}
        assert by[0.0]["mid_steps"] == mid and by[1.0]["rl_steps"] == rl
        assert round(by[1.0]["rl_samples"] / 1000, 1) == k
        assert [(by[b]["mid_steps"], by[b]["rl_steps"]) for b in (0.2, 0.5, 0.8)] == [s80, s50, s20]
    table = invoke(app, "budget", "--profile", "paper").output
    for cell in ("2,000", "954 (976.6)", "30,517 / 191", "7,629 / 763", "1,000 / 25"):
        assert cell in table


def test_overrides_apply_the_same_function(app, monkeypatch):
    monkeypatch.chdir(ROOT)
    # 2 rollouts of L 1024 at 1024 prompts: a 4.194B budget buys 4·200·... = 600 RL-only steps (5/3·1024·2·1024).
    res = invoke(app, "budget", "--profile", "paper", "--total-tokens", 5 / 3 * 1024 * 2 * 1024 * 600,
                 "--rollouts", 2, "--l-total", 1024, "--mid-tokens-per-step", 1024 * 1024, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["sizes"] == {"mid_tokens_per_step": 1048576, "rl_prompts_per_step": 1024, "rollouts": 2, "l_total": 1024}
    by = {s["beta"]: s for s in out["rows"][0]["splits"]}
    assert by[1.0]["rl_steps"] == 600 and by[0.5]["rl_steps"] == 300
    assert by[0.0]["mid_steps"] == round(5 / 3 * 2 * 600)  # T / 1M tokens per step = 2000


def test_non_paper_profile_uses_its_sizes(app, monkeypatch):
    monkeypatch.chdir(ROOT)
    from interplay.spec.load import load_profile

    p = load_profile("cpu", ROOT)
    res = invoke(app, "budget", "--profile", "cpu", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["sizes"]["rollouts"] == p.rl.group_size
    assert out["sizes"]["l_total"] == p.rl.max_prompt_tokens + p.rl.max_new_tokens
    assert out["rows"][0]["total_tokens"] == p.budget.total_tokens


@pytest.mark.parametrize("args", [["--profile", "no-such-profile"], ["--rollouts", "0"], ["--total-tokens", "-5"]])
def test_bad_budget_input_is_one_line(app, monkeypatch, args):
    monkeypatch.chdir(ROOT)
    res = invoke(app, "budget", *args)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.output.strip().startswith("error:") and len(res.output.strip().splitlines()) == 1


def test_train_rl_bad_config_is_one_line(app, tmp_path):
    res = invoke(app, "train", "rl", tmp_path / "missing.yaml")
    assert res.exit_code == 2 and "not found" in res.output
    cfg = tmp_path / "rl.yaml"
    cfg.write_text("init: x\nprompts: p.jsonl\nout: o\nroll_outs: 3\n")
    res = invoke(app, "train", "rl", cfg)
    assert res.exit_code == 2 and "roll_outs" in res.output and "Traceback" not in res.output
    cfg.write_text("init: x\nprompts: p.jsonl\nreward: {name: dense}\n")
    res = invoke(app, "train", "rl", cfg, "--out", tmp_path / "o")
    assert res.exit_code == 2 and "reward.name" in res.output
    cfg.write_text("init: x\nprompts: p.jsonl\n")
    res = invoke(app, "train", "rl", cfg)
    assert res.exit_code == 2 and "output directory" in res.output
