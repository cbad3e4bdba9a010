"""Resume after SIGKILL gives the same weights and reward rows as an uninterrupted run (CPU); DDP on 2 ranks."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from interplay.train.curves import read_rows

from . import make_world, records, rl_config

pytest.importorskip("interplay.data.verify", reason="rewards need interplay.data.verify (data-verify)")

KILL_SCRIPT = """
import os, signal, sys, json
import torch
torch.set_num_threads(1)
from pytorch_lightning.callbacks import ModelCheckpoint
from interplay.train import run_rl as R
orig = ModelCheckpoint.on_train_batch_end
def kill_after(self, trainer, module, *a):
    orig(self, trainer, module, *a)
    if module.rl_step == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
ModelCheckpoint.on_train_batch_end = kill_after
R.run_rl(json.loads(sys.argv[1]), sys.argv[2])
"""


def rows(out: Path) -> list[dict]:  # the logged metrics (DVCLive files), one dict per step
    # tokens_per_s and step_time are wall-clock, the only metrics allowed to differ
    return [{k: v for k, v in r.items() if k not in ("tokens_per_s", "step_time")} for r in read_rows(out)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("rl_world")
    init = make_world(root, {"easy": records(2, 1, 24) + records(3, 1, 24)})
    return init, root / "easy.jsonl"


def test_sigkill_then_resume_matches_uninterrupted(world, tmp_path):
    import json

    from interplay.train.run_rl import run_rl

    init, prompts = world
    cfg = rl_config(init, prompts, steps=3)
    full = run_rl(cfg, tmp_path / "full")

    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", KILL_SCRIPT, json.dumps(cfg), str(tmp_path / "killed"), "2"],
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    assert (tmp_path / "killed/ckpt/last.ckpt").is_file() and not (tmp_path / "killed/model").exists()
    assert len(rows(tmp_path / "killed")) == 2

    resumed = run_rl(cfg, tmp_path / "killed", resume=True)
    assert rows(tmp_path / "killed") == rows(tmp_path / "full")
    a = (tmp_path / "full/model/model.safetensors").read_bytes()
    b = (tmp_path / "killed/model/model.safetensors").read_bytes()
    assert a == b
    assert resumed["steps"] == full["steps"] == 3
    assert (tmp_path / "killed/model/tokenizer.json").is_file()


def test_outputs_and_metric_names(world, tmp_path):
    from interplay.train.grpo import METRIC_COLUMNS
    from interplay.train.run_rl import run_rl

    init, prompts = world
    m = run_rl(rl_config(init, prompts, steps=2), tmp_path)
    r = read_rows(tmp_path)
    assert list(r[0]) == ["step", *sorted(METRIC_COLUMNS[1:])] and len(r) == 2 and [x["step"] for x in r] == [1, 2]
    assert json.loads((tmp_path / "dvclive/metrics.json").read_text())["rewards"]["outcome"]["mean"] == \
        r[-1]["rewards/outcome/mean"]  # the summary `dvc exp show` lists
    assert not (tmp_path / "rewards.csv").exists()
    for key in ("reward", "reward_std", "frac_reward_zero_std", "completions/mean_length", "completions/clipped_ratio",
                "kl", "entropy", "clip_ratio", "acc_strict", "acc_answer", "tokens_per_s", "token_equivalents",
                "rewards/outcome/mean", "rewards/process/mean"):
        assert key in r[0]
    # Sampler log-probs equal a recompute while the policy has not moved (first mini-batch).
    assert all(float(x["old_logprob_abs_diff"]) < 1e-4 for x in r)
    # Cumulative token-equivalents grow by (8 + 2γ)/6 × tokens processed (γ = 1: a reference model is used).
    te = [float(x["token_equivalents"]) for x in r]
    assert 0 < te[0] < te[1] == pytest.approx(m["token_equivalents"], rel=1e-6)
    assert m["samples"] == 2 * 4 * 4 and (tmp_path / "metrics.json").is_file()
    assert {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "model").iterdir()} == \
        {p.name: 0o644 for p in (tmp_path / "model").iterdir()}  # safetensors writes 0600; artifacts are 0644


@pytest.mark.slow
def test_ddp_two_cpu_processes(world, tmp_path):
    from interplay.train.run_rl import run_rl

    init, prompts = world
    m = run_rl(rl_config(init, prompts, steps=2, devices=2), tmp_path)
    assert m["steps"] == 2 and m["samples"] == 2 * 4 * 4
    assert len(rows(tmp_path)) == 2 and (tmp_path / "model/model.safetensors").is_file()
