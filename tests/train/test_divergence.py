"""A diverging run (lr 1e4 on the ci model) stops at the first non-finite step: exit 1, one error line naming the
step, the last finite checkpoint kept, no model and no metrics written; through DVC the stage fails and nothing
downstream runs."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from . import make_data

ROOT = Path(__file__).resolve().parents[2]
ERROR = re.compile(r"^error: (?:\[\w+\] \w+: )?(\w+) diverged at step (\d+): (.*); kept the last finite checkpoint "
                   r"(\S+) \(step (\d+)\); no model written$")


def _cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "interplay.cli", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def _diverged(stderr: str) -> re.Match:
    """The one `error:` line (Lightning's progress bar also writes to stderr)."""
    errors = [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr[-3000:]
    m = ERROR.match(errors[0])
    assert m, errors[0]
    assert "nan" in m.group(3) or "inf" in m.group(3)
    return m


def _all_finite(state: dict) -> bool:
    return all(torch.isfinite(v).all() for v in state.values() if torch.is_tensor(v) and v.is_floating_point())


def _assert_stopped(r, out: Path, kind: str, max_step: int) -> int:
    """One `error:` line naming the step, the last finite checkpoint kept, no model or metrics; returns its step."""
    assert r.returncode == 1, r.stderr[-3000:]
    m = _diverged(r.stderr)
    step, ckpt, kept = int(m.group(2)), Path(m.group(4)), int(m.group(5))
    assert m.group(1) == kind and 1 <= kept == step - 1 and step < max_step
    assert ckpt == out / "ckpt" / "last.ckpt"
    assert not (out / "model").exists() and not (out / "metrics.json").exists()
    return kept


@pytest.mark.slow  # tokenizer, shards and a training subprocess: ~30 s (DDP ~90 s) on the shared cores
@pytest.mark.parametrize("devices", [1, 2], ids=["1proc", "ddp2"])
def test_pretrain_at_lr_1e4_stops_and_keeps_the_last_finite_checkpoint(tmp_path, devices):
    tok, shards, _ = make_data(tmp_path, budget=20_000)
    cfg = dict(kind="pretrain", tokenizer=str(tok), shards=str(shards), model="ci", token_budget=12 * 512,
               tokens_per_step=512, seq_len=64, micro_batch_size=4 // devices, lr=1e4, min_lr=1e3, warmup_ratio=0.2,
               threads=1, devices=devices, ckpt_every=1, log_every=1)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    kept = _assert_stopped(_cli("train", "pretrain", tmp_path / "run.yaml", "--out", out), out, "pretrain", 12)
    state = torch.load(out / "ckpt" / "last.ckpt", weights_only=True)
    assert state["global_step"] == kept and _all_finite(state["state_dict"])


@pytest.mark.slow  # sampling + GRPO on the ci model: ~15 s on the shared cores
def test_rl_at_lr_1e4_stops_and_keeps_the_last_finite_checkpoint(tmp_path):
    pytest.importorskip("interplay.data.verify")
    from tests.rl import make_world, records, rl_config

    init = make_world(tmp_path, {"easy": records(2, 1, 24)}, arch="ci")
    cfg = rl_config(init, tmp_path / "easy.jsonl", steps=6, lr=1e4, ckpt_every_steps=1)
    (tmp_path / "rl.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    kept = _assert_stopped(_cli("train", "rl", tmp_path / "rl.yaml", "--out", out), out, "rl", 6)
    state = torch.load(out / "ckpt" / "last.ckpt", weights_only=True)
    assert state["interplay_rl"]["rl_step"] == kept and _all_finite(state["state_dict"])


@pytest.mark.slow  # dvc + data + tokenizer + pre-training stages: ~40-60 s on the shared cores
def test_diverging_pretrain_stage_fails_dvc_repro_and_nothing_downstream_runs(tmp_path):
    """The real stage modules on the ci profile (pre-training lr overridden to 1e4) in a 6-stage dvc.yaml."""
    from interplay.spec.resolve import config_path, resolve, write_configs

    root = tmp_path / "repo"
    for d in ("specs", "stages", "interplay"):
        shutil.copytree(ROOT / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profile"] = "ci"
    params.setdefault("overrides", {})["profile"] = {"pretrain": {"lr": 1.0e4, "ckpt_every": 1}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        res = resolve("ci", Path("."))
        write_configs(res, Path("."))
    finally:
        os.chdir(cwd)
    base = res.runs["base_ctx0"]
    assert base.config["lm"]["lr"] == 1.0e4
    stages = {}
    upstream = ["test_context", "test_main", "heldout", "tok"]  # base_ctx0's inputs, in resolution order
    assert set(res.runs["base_ctx0"].inputs) <= set(upstream)
    for name in (*upstream, "base_ctx0"):
        run = res.runs[name]
        deps = [str(config_path("ci", name))] + [res.runs[i].out for i in run.inputs if i in stages]
        stages[name] = {"cmd": f"python -m stages.{run.kind} {config_path('ci', name)}", "deps": deps,
                        "outs": [run.out] if run.kind != "pretrain" else
                        [f"{run.out}/corpus", f"{run.out}/model", {f"{run.out}/ckpt": {"persist": True}}]}
    stages["downstream"] = {"cmd": "python -c \"open('downstream.txt', 'w').write('ran')\"",
                            "deps": [f"{base.out}/model"], "outs": ["downstream.txt"]}
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path), "INTERPLAY_THREADS": "1",
           "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1"}
    dvc = str(Path(sys.executable).with_name("dvc"))
    for cmd in (["git", "init", "-q"], [dvc, "init", "-q"]):
        subprocess.run(cmd, cwd=root, check=True, env=env)
    r = subprocess.run([dvc, "repro"], cwd=root, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode != 0, r.stdout[-3000:]
    ran = [line.split("'")[1] for line in r.stdout.splitlines() if line.startswith("Running stage")]
    assert ran == [*upstream, "base_ctx0"], r.stdout[-3000:]
    m = _diverged(r.stderr + r.stdout)
    assert m.group(1) == "pretrain" and int(m.group(5)) == int(m.group(2)) - 1 >= 1
    out = root / base.out
    state = torch.load(out / "ckpt" / "last.ckpt", weights_only=True)
    assert state["global_step"] == int(m.group(5)) and _all_finite(state["state_dict"])
    assert not (out / "model").exists() and not (out / "metrics.json").exists()
    assert not (root / "downstream.txt").exists()
