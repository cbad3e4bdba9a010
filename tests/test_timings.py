"""Per-stage wall times: the log each stage appends, the table `interplay timings` prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from interplay import timings
from interplay.cli import app
from tests.spec.conftest import ROOT


def test_latest_keeps_the_last_entry_of_current_configs_and_skips_garbage(tmp_path):
    log = tmp_path / "timings.jsonl"
    timings.record(log, name="base", kind="pretrain", hash="old", seconds=100)
    timings.record(log, name="base", kind="pretrain", hash="new", seconds=60)
    timings.record(log, name="base", kind="pretrain", hash="new", seconds=30)  # a rerun of the same config
    timings.record(log, name="eval_a", kind="evaluate", hash="h1", seconds=90)
    with log.open("a") as f:
        f.write('{"stage": "cut mid-wri\n[1, 2]\n{"stage": "x", "kind": "rl", "hash": "h", "seconds": "abc"}\n')
    timings.record(log, name="eval_b", kind="evaluate", hash="h2", seconds=30)
    every = timings.latest(log)
    assert every["base"]["seconds"] == 30 and set(every) == {"base", "eval_a", "eval_b"}
    current = timings.latest(log, {"base": "old", "eval_a": "h1", "eval_b": "other"})
    assert set(current) == {"base", "eval_a"} and current["base"]["seconds"] == 100
    assert timings.by_kind(every) == [("evaluate", 2, 2.0), ("pretrain", 1, 0.5)]
    assert timings.latest(tmp_path / "absent.jsonl") == {}


def test_a_stage_logs_its_time_and_a_failed_one_does_not(tmp_path, monkeypatch):
    import stages

    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"name": "claims_x", "kind": "claims", "profile": "p", "hash": "abc",
                                   "out": "artifacts/p/claims/x"}))
    stages.main("claims", lambda c: None, [str(cfg)])
    lines = [json.loads(x) for x in (tmp_path / "artifacts/p/timings.jsonl").read_text().splitlines()]
    assert [(e["stage"], e["kind"], e["hash"]) for e in lines] == [("claims_x", "claims", "abc")]
    assert lines[0]["seconds"] >= 0

    def boom(c):
        raise RuntimeError("stage failed")

    with pytest.raises(RuntimeError):
        stages.main("claims", boom, [str(cfg)])
    assert len((tmp_path / "artifacts/p/timings.jsonl").read_text().splitlines()) == 1


def test_timings_cli_counts_current_stages_by_kind(tmp_path, monkeypatch):
    from interplay.spec.resolve import resolve

    monkeypatch.chdir(ROOT)
    log = tmp_path / "timings.jsonl"
    monkeypatch.setattr(timings, "log_path", lambda profile, root=".": log)
    runs = resolve("ci", Path(".")).runs
    for name in ("base", "base_ctx0"):
        timings.record(log, name=name, kind="pretrain", hash=runs[name].config["hash"], seconds=120)
    timings.record(log, name="rl_edge", kind="rl", hash="stale", seconds=600)  # an older config: not counted
    r = CliRunner().invoke(app, ["timings", "--profile", "ci", "--stages"])
    assert r.exit_code == 0, r.output
    row = next(line for line in r.output.splitlines() if "pretrain" in line and "│" in line)
    assert [c.strip() for c in row.split("│")[1:5]] == ["pretrain", "2", "5", "4.0"]
    total = next(line for line in r.output.splitlines() if "total" in line)
    assert [c.strip() for c in total.split("│")[1:5]] == ["total", "2", str(len(runs)), "4.0"]
    assert "base_ctx0" in r.output and "rl_edge" not in r.output.split("└")[-1]
