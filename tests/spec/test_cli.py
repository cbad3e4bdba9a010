"""CliRunner tests of the spec commands; `--help` on every command."""

import pytest
from typer.testing import CliRunner

from interplay.cli import app
from tests.spec.conftest import ROOT

runner = CliRunner()
COMMANDS = [["findings"], ["reproduce"], ["report"], ["timings"], ["pipeline"], ["spec"], ["spec", "validate"], ["spec", "show"]]


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_help(cmd):
    r = runner.invoke(app, [*cmd, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage" in r.output and len(r.output.split("Usage", 1)[1].splitlines()) > 2


def test_spec_validate(at_root):
    r = runner.invoke(app, ["spec", "validate"])
    assert r.exit_code == 0, r.output
    for p in ("ci", "cpu", "gpu", "paper"):
        assert f"ok  {p}: 4 findings" in r.output
    assert "out of date" not in r.output


def test_findings_table(at_root):
    r = runner.invoke(app, ["findings", "--profile", "ci"])
    assert r.exit_code == 0, r.output
    for f in ("extrapolation", "context", "midtraining", "reward"):
        assert f in r.output


def test_pipeline_check(at_root):
    r = runner.invoke(app, ["pipeline", "--check"])
    assert r.exit_code == 0, r.output
    assert "up to date" in r.output


def test_pipeline_writes_into_a_fresh_tree(repo):
    r = runner.invoke(app, ["pipeline"])
    assert r.exit_code == 0, r.output
    assert (repo / "dvc.yaml").read_text() == (ROOT / "dvc.yaml").read_text()
    assert (repo / "configs/ci/rl_edge.yaml").read_text() == (ROOT / "configs/ci/rl_edge.yaml").read_text()
    r = runner.invoke(app, ["pipeline", "--check"])
    assert r.exit_code == 0 and "up to date" in r.output


def test_spec_show(at_root):
    r = runner.invoke(app, ["spec", "show", "rl_edge", "--profile", "ci"])
    assert r.exit_code == 0, r.output
    assert "kind: rl" in r.output and "artifacts/ci/rl/rl_edge" in r.output
    r = runner.invoke(app, ["spec", "show", "reward", "--profile", "paper"])
    assert r.exit_code == 0 and "kind: claims" in r.output
    r = runner.invoke(app, ["spec", "show", "--profile", "ci"])
    assert r.exit_code == 0 and "eval_base__test_main" in r.output
    r = runner.invoke(app, ["spec", "show", "nope"])
    assert r.exit_code == 2 and "unknown run or finding 'nope'" in r.output


def test_bad_arguments_exit_2(at_root):
    r = runner.invoke(app, ["reproduce", "nonsense", "--dry"])
    assert r.exit_code == 2 and "unknown finding 'nonsense'" in r.output
    r = runner.invoke(app, ["reproduce", "--profile", "laptop"])
    assert r.exit_code == 2 and "unknown profile 'laptop'" in r.output
    r = runner.invoke(app, ["report", "nonsense"])
    assert r.exit_code == 2


def test_outside_the_repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["findings"])
    assert r.exit_code == 2 and "repository root" in r.output


def _stand_in_repo(tmp_path, monkeypatch):
    """A git + DVC repository of the specs, stages and library with the stand-in library (tests/spec/fakelib.py)
    installed, as the working directory."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from tests.spec import fakelib

    root = tmp_path / "repo"
    for d in ("specs", "stages", "interplay"):
        shutil.copytree(ROOT / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("params.yaml", ".dvcignore"):
        shutil.copy(ROOT / f, root / f)
    fakelib.install(root)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([str(Path(sys.executable).with_name("dvc")), "init", "-q"], cwd=root, check=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("INTERPLAY_THREADS", "1")
    return root


@pytest.mark.slow
def test_reproduce_one_finding_with_stand_in_library(tmp_path, monkeypatch):
    """`interplay reproduce reward --profile ci` syncs, runs `dvc repro report_reward`, prints the verdicts."""
    root = _stand_in_repo(tmp_path, monkeypatch)
    r = runner.invoke(app, ["reproduce", "reward", "--profile", "ci"])
    assert r.exit_code == 0, r.output
    assert "profile: ci" in (root / "params.yaml").read_text()
    assert (root / "reports/ci/reward/report.md").is_file()
    assert not (root / "reports/ci/context").exists()  # only this finding's targets ran
    assert "strict_pass1_hard" in r.output and "inconclusive" in r.output


def test_stage_cores_and_upstream():
    """What the parallel pass runs (a target's upstream, in order) and how many cores each stage takes."""
    from interplay.spec.cli import stage_cores, upstream
    from interplay.spec.load import load_params
    from interplay.spec.resolve import resolve

    res = resolve("ci", ROOT)
    up = upstream(res, ["report_context"])
    bases = [n for n in up if res.runs[n].kind == "pretrain"]
    assert bases == ["base_ctx0", "base_ctx01", "base_ctx1", "base_ctx10"]
    assert up.index("tok") < up.index("base_ctx0") < up.index("rl_ctx0") and up[-1] == "report_context"
    assert "base" not in up and "rl_edge" not in up  # only this finding's runs
    assert [stage_cores(res.runs[b], 2) for b in bases] == [1, 1, 1, 1]  # ci: `pretrain.devices: 1`
    assert stage_cores(res.runs["tok"], 2) == 1 and stage_cores(res.runs["eval_rl_ctx0__test_context"], 2) is None
    cpu = resolve("cpu", ROOT)
    assert stage_cores(cpu.runs["base"], 2) == 1  # cpu: one compiled process per base, bases side by side
    assert stage_cores(cpu.runs["rl_edge"], 2) == 2  # rl_config.auto_devices: 32 prompts split over 2 x 2 mini-batches
    assert stage_cores(cpu.runs["rl_edge"], 1) == 1
    params = load_params(ROOT)
    params.overrides.profile = {"pretrain": {"devices": 0}}
    assert stage_cores(resolve("ci", ROOT, params=params).runs["base_ctx0"], 2) == 2  # 0 = 2 DDP processes on CPU


def test_evaluation_workers_follow_the_parallel_pass(monkeypatch):
    from interplay.eval.evaluate import default_workers

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.delenv("INTERPLAY_WORKERS", raising=False)
    assert default_workers("cpu") == 2
    monkeypatch.setenv("INTERPLAY_WORKERS", "1")
    assert default_workers("cpu") == 1
    monkeypatch.setenv("INTERPLAY_WORKERS", "8")
    assert default_workers("cpu") == 2


@pytest.mark.slow
def test_reproduce_trains_independent_bases_side_by_side(tmp_path, monkeypatch):
    """`interplay reproduce context --profile ci`: every stage runs as a parallel `dvc repro --single-item` call
    (the one-process ci bases side by side) before the main `dvc repro`, which then finds them up to date."""
    import subprocess
    import sys
    from pathlib import Path

    root = _stand_in_repo(tmp_path, monkeypatch)
    dvc = str(Path(sys.executable).with_name("dvc"))
    monkeypatch.setattr("interplay.spec.cli._cores", lambda: 2)
    r = runner.invoke(app, ["reproduce", "context", "--profile", "ci"])
    assert r.exit_code == 0, r.output
    assert "parallel pass:" in r.output
    for b in ("base_ctx0", "base_ctx01", "base_ctx1", "base_ctx10", "rl_ctx0", "eval_rl_ctx0__test_context"):
        assert f"done {b}" in r.output and (root / "artifacts/ci/logs" / f"{b}.log").is_file()
        assert f"Running stage '{b}'" not in r.output  # the main dvc repro did not run it again
    assert "done base_ctx0 (" in r.output and "1 of 2 cores" in r.output
    assert (root / "reports/ci/context/report.md").is_file()
    status = subprocess.run([dvc, "status", "report_context"], cwd=root, capture_output=True, text=True)
    assert "up to date" in status.stdout


def test_status_and_verdicts_from_artifacts(repo):
    from interplay.io import write_json

    write_json(repo / "artifacts/ci/claims/reward/verdicts.json", {"finding": "reward", "claims": [
        {"id": "mix02_pass1_hard", "verdict": "holds", "paper": {"lhs": 9.9, "rhs": 5.6},
         "ours": {"lhs": 0.12, "rhs": 0.05, "diff": 0.07}, "ci": [0.02, 0.11]},
        {"id": "strict_pass1_hard", "verdict": "fails", "ours": {"lhs": 0.01, "rhs": 0.05}, "ci": [-0.08, -0.01]}]})
    r = runner.invoke(app, ["findings", "--profile", "ci"])
    assert r.exit_code == 0, r.output
    assert "1/2 hold, 1 fail" in r.output and "not run" in r.output
    r = runner.invoke(app, ["report", "reward", "--profile", "ci"])
    assert r.exit_code == 1  # verdicts are there, the rendered report is not
    assert "12.0 vs 5.0" in r.output and "[2.0, 11.0]" in r.output and "holds" in r.output
    assert "9.9 vs 5.6" in r.output
    assert "not rendered yet: run `interplay reproduce reward`" in r.output
