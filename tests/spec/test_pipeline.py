"""dvc.yaml and configs/ are generated, committed and current; edits move only what depends on them."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from interplay.spec.pipeline import render, sync
from interplay.spec.resolve import resolve
from tests.spec.conftest import ROOT, edit

DVC = str(Path(sys.executable).with_name("dvc"))


def test_committed_dvc_yaml_and_configs_are_current():
    dvc_stale, stale_configs = sync(ROOT, check=True)
    assert not dvc_stale, "dvc.yaml is out of date: run `interplay pipeline`"
    assert not stale_configs, f"configs out of date: {stale_configs[:3]} (run `interplay pipeline`)"


def test_stage_graph_is_templated_by_profile():
    text = (ROOT / "dvc.yaml").read_text()
    assert text == render(resolve("ci", ROOT)) == render(resolve("paper", ROOT))
    stages = yaml.safe_load(text)["stages"]
    assert "/ci/" not in text and "/cpu/" not in text
    rl = stages["rl_edge"]
    assert rl["cmd"] == "python -m stages.rl configs/${profile}/rl_edge.yaml"
    assert rl["deps"][0] == "configs/${profile}/rl_edge.yaml"
    assert {"artifacts/${profile}/rl/rl_edge/ckpt": {"persist": True}} in rl["outs"]
    assert "artifacts/${profile}/pretrain/base/model" in rl["deps"]
    assert stages["eval_rl_edge__test_main"]["metrics"] == ["artifacts/${profile}/eval/eval_rl_edge__test_main/metrics.json"]
    kinds = {s["cmd"].split()[2] for s in stages.values()}
    assert kinds == {f"stages.{k}" for k in ("resolve", "generate", "tokenizer", "pretrain", "midtrain", "rl",
                                             "evaluate", "claims", "report")}
    for name, s in stages.items():  # every stage's module and config exist
        module = s["cmd"].split()[2].replace(".", "/") + ".py"
        assert (ROOT / module).is_file(), module
        if name != "resolve":
            assert (ROOT / s["deps"][0].replace("${profile}", "ci")).is_file()


def changed_configs(before, after) -> set[str]:
    return {n for n in after.runs if before.runs[n].config != after.runs[n].config}


def test_editing_one_arm_moves_only_it_and_its_dependents(repo):
    before = resolve("ci")
    edit(repo / "specs/reward.yaml", "rl_edge_strict: {init: base, prompts: prompts_edge, reward: {name: strict}}",
         "rl_edge_strict: {init: base, prompts: prompts_edge, reward: {name: gated, alpha: 0.2}}")
    after = resolve("ci")
    assert changed_configs(before, after) == {"rl_edge_strict", "eval_rl_edge_strict__test_main", "claims_reward",
                                              "report_reward", "summary"}


def test_editing_the_shared_base_moves_findings_1_3_4_not_2(repo):
    before = resolve("ci")
    edit(repo / "specs/runs.yaml", "split: [0.2, 0.3, 0.5]", "split: [0.25, 0.25, 0.5]")
    moved = changed_configs(before, resolve("ci"))
    assert {"base", "rl_edge", "mid_full", "rl_light", "claims_extrapolation", "claims_midtraining",
            "claims_reward"} <= moved
    assert not moved & {"base_ctx1", "rl_ctx1", "claims_context", "report_context", "tok", "test_main"}


def test_params_override_reaches_one_run(repo):
    before = resolve("ci")
    edit(repo / "params.yaml", "  runs: {}", "  runs: {rl_mixed: {rl: {lr: 2.0e-4}}}")
    after = resolve("ci")
    assert after.runs["rl_mixed"].config["rl"]["lr"] == 2.0e-4
    assert changed_configs(before, after) == {"rl_mixed", "eval_rl_mixed__test_main", "claims_extrapolation",
                                              "report_extrapolation", "summary"}


def test_sync_writes_only_what_changed(repo):
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copytree(ROOT / "configs", repo / "configs")
    assert sync(repo, check=True) == (False, [])
    edit(repo / "specs/context.yaml", "rl_ctx10: {init: base_ctx10, prompts: prompts_ctx, reward: {name: strict}}",
         "rl_ctx10: {init: base_ctx10, prompts: prompts_ctx, reward: {name: outcome}}")
    dvc_changed, changed = sync(repo)
    assert not dvc_changed
    assert {p.parent.name for p in changed} == {"ci", "cpu", "gpu", "paper"}
    assert {p.stem for p in changed} == {"rl_ctx10", "eval_rl_ctx10__test_context", "claims_context",
                                         "report_context", "summary"}


def test_dvc_reads_the_templated_pipeline(tmp_path):
    """The real dvc CLI parses dvc.yaml, resolves `${profile}` from params.yaml and links the stages."""
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([DVC, "init", "-q"], cwd=tmp_path, check=True)
    shutil.copy(ROOT / "dvc.yaml", tmp_path)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text().replace("profile: cpu", "profile: ci"))
    out = subprocess.run([DVC, "dag", "--md", "report_reward"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for stage in ("resolve", "tok", "base", "rl_edge_strict", "eval_rl_edge_strict__test_main", "claims_reward"):
        assert f'["{stage}"]' in out.stdout
    # nothing of finding 2 but its test set, which the held-out ladder set is kept disjoint from
    assert "ctx" not in out.stdout and "claims_context" not in out.stdout and '["test_context"]' in out.stdout
    out = subprocess.run([DVC, "stage", "list", "rl_edge"], cwd=tmp_path, capture_output=True, text=True)
    assert "artifacts/ci/rl/rl_edge/model" in out.stdout, out.stdout + out.stderr


@pytest.mark.slow
@pytest.mark.integration
def test_dvc_repro_end_to_end_with_stand_in_library(tmp_path):
    """Every stage of all four findings through `dvc repro` (stand-in training/eval, real glue and DVC); a second
    repro does nothing; editing one RL arm reruns exactly its rl/evaluate/claims/report stages."""
    from tests.spec import fakelib

    root = tmp_path / "repo"
    for d in ("specs", "stages", "interplay", "configs"):
        shutil.copytree(ROOT / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(ROOT / f, root / f)
    fakelib.install(root)
    edit(root / "params.yaml", "profile: cpu", "profile: ci")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path), "INTERPLAY_THREADS": "1"}

    def sh(*cmd):
        r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        return r.stdout

    sh("git", "init", "-q")
    sh(DVC, "init", "-q")
    ran = [l.split("'")[1] for l in sh(DVC, "repro").splitlines() if l.startswith("Running stage")]
    assert len(ran) == len(yaml.safe_load((root / "dvc.yaml").read_text())["stages"])
    assert (root / "reports/ci/summary.md").is_file()
    assert "up to date" in sh(DVC, "repro")
    edit(root / "specs/reward.yaml", "reward: {name: strict}}", "reward: {name: gated, alpha: 0.2}}")
    ran = [l.split("'")[1] for l in sh(DVC, "repro").splitlines() if l.startswith("Running stage")]
    assert ran == ["resolve", "rl_edge_strict", "eval_rl_edge_strict__test_main", "claims_reward", "report_reward",
                   "summary"]
