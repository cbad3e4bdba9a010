"""A run killed with SIGKILL and resumed with --resume ends bitwise equal to an uninterrupted run (CPU, 1 thread)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from safetensors.torch import load_file

from interplay.train.curves import read_metric

from . import curve_files, make_data

STEPS = 48


def _launch(cfg_path, out, *extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "interplay.train.run_lm", str(cfg_path), str(out), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)


@pytest.mark.slow  # three training subprocesses: ~40-80 s on the shared 2 cores
def test_sigkill_and_resume_matches_uninterrupted(tmp_path, monkeypatch):
    tok_dir, shard_dir, _ = make_data(tmp_path, budget=30_000)
    cfg = dict(tokenizer=str(tok_dir), shards=str(shard_dir), model="ci", token_budget=STEPS * 512,
               tokens_per_step=512, seq_len=64, micro_batch_size=4, lr=3e-3, min_lr=3e-4, threads=1, devices=1, ckpt_every=3)
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))

    full = _launch(cfg_path, tmp_path / "full")
    killed = _launch(cfg_path, tmp_path / "killed")
    last = tmp_path / "killed" / "ckpt" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "killed" / "model").exists()
    step_at_kill = torch.load(last, weights_only=True)["global_step"]
    assert 0 < step_at_kill < STEPS

    resumed = _launch(cfg_path, tmp_path / "killed", "--resume")
    assert resumed.wait() == 0, resumed.stderr.read()
    assert full.wait() == 0, full.stderr.read()

    a = load_file(tmp_path / "full" / "model" / "model.safetensors")
    b = load_file(tmp_path / "killed" / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bitwise
    ma, mb = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("full", "killed"))
    assert ma["final_loss"] == mb["final_loss"] and mb["resumed"]
    # the DVCLive curve, every file byte for byte (a resume rewinds steps logged after the checkpoint)
    assert curve_files(tmp_path / "full") == curve_files(tmp_path / "killed")
    assert [s for s, _ in read_metric(tmp_path / "killed", "train/loss")] == list(range(1, STEPS + 1))
