"""Each kind of malformed spec gives a one-line SpecError naming the file and the key (CLI: exit 2)."""

import re

import pytest
from typer.testing import CliRunner

from interplay.cli import app
from interplay.spec.resolve import resolve
from interplay.spec.schema import SpecError
from tests.spec.conftest import edit


def error(profile: str = "ci") -> str:
    with pytest.raises(SpecError) as e:
        resolve(profile)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_unknown_key(repo):
    edit(repo / "specs/reward.yaml", "reward: {name: strict}", "reward: {name: strict, temprature: 2}")
    msg = error()
    assert msg.startswith("specs/reward.yaml: ") and "rl.rl_edge_strict.reward.temprature" in msg


def test_wrong_type(repo):
    edit(repo / "specs/extrapolation.yaml", "margin: 0.05", "margin: lots")
    msg = error()
    assert msg.startswith("specs/extrapolation.yaml: ") and "claims[2].margin" in msg


def test_unknown_band(repo):
    edit(repo / "specs/extrapolation.yaml", "mix: [{bands: [mixed]}]", "mix: [{bands: [middle]}]")
    msg = error()
    assert msg.startswith("specs/extrapolation.yaml: datasets.prompts_mixed.mix[0].bands[0]: unknown band 'middle'")


def test_unknown_band_in_claim(repo):
    edit(repo / "specs/reward.yaml", "k: 1, band: hard}", "k: 1, band: ood}")
    assert "specs/reward.yaml: claims[0].lhs.band: unknown band 'ood'" in error()


def test_dangling_run_reference(repo):
    edit(repo / "specs/context.yaml", "rl_ctx1: {init: base_ctx1,", "rl_ctx1: {init: base_ctx2,")
    assert error() == "specs/context.yaml: rl.rl_ctx1.init: unknown run 'base_ctx2'"


def test_reference_to_wrong_kind(repo):
    edit(repo / "specs/context.yaml", "rl_ctx1: {init: base_ctx1, prompts: prompts_ctx",
         "rl_ctx1: {init: base_ctx1, prompts: test_context")
    assert "rl.rl_ctx1.prompts: dataset 'test_context' is not an RL pool" in error()


def test_run_defined_twice(repo):
    text = (repo / "specs/reward.yaml").read_text()
    (repo / "specs/reward.yaml").write_text(text.replace("datasets: {}", "datasets:\n  prompts_edge: {purpose: rl, "
                                                         "mix: [{bands: [edge]}]}"))
    msg = error()
    assert msg == ("specs/runs.yaml: datasets.prompts_edge: run 'prompts_edge' is already defined in "
                   "specs/reward.yaml") or msg == ("specs/reward.yaml: datasets.prompts_edge: run 'prompts_edge' is "
                                                   "already defined in specs/runs.yaml")


def test_claim_arm_not_in_finding(repo):
    edit(repo / "specs/reward.yaml", "lhs: {arm: rl_edge_mix02, metric: strict, k: 1",
         "lhs: {arm: rl_heavy, metric: strict, k: 1")
    assert "specs/reward.yaml: claims[0].lhs.arm: 'rl_heavy' is not one of this finding's arms" in error()


def test_bad_claim_kind(repo):
    edit(repo / "specs/reward.yaml", "kind: less\n", "kind: fewer\n")
    assert "specs/reward.yaml: claims[4].kind: unknown claim kind 'fewer'" in error()


def test_yaml_syntax(repo):
    (repo / "specs/reward.yaml").write_text("finding: reward\narms: [base\n")
    msg = error()
    assert msg.startswith("specs/reward.yaml: line ")


def test_profile_missing_band(repo):
    edit(repo / "specs/profiles/ci.yaml", "  beyond: [8, 8]\n", "")
    assert error() == "specs/profiles/ci.yaml: bands.beyond: band not bound to an op range"


def test_profile_wrong_type(repo):
    edit(repo / "specs/profiles/ci.yaml", "  n: 4\n", "  n: four\n")
    msg = error()
    assert msg.startswith("specs/profiles/ci.yaml: eval.n: ")


def test_overlapping_test_bands_under_a_profile(repo):
    edit(repo / "specs/profiles/ci.yaml", "  edge: [5, 6]", "  edge: [4, 6]")
    assert re.search(r"datasets.test_(main|context).bands: bands 'id' and 'edge' overlap at op 4 under profile 'ci'", error())


def test_override_of_unknown_run(repo):
    edit(repo / "params.yaml", "  runs: {}", "  runs: {rl_edgy: {rl: {lr: 1.0}}}")
    assert error() == "params.yaml: overrides.runs.rl_edgy: unknown run under profile 'ci'"


def test_unknown_profile(repo):
    assert error("laptop").startswith("specs/profiles/laptop.yaml: unknown profile 'laptop'")


def test_cli_exits_2_with_one_line(repo):
    edit(repo / "specs/context.yaml", "rl_ctx1: {init: base_ctx1,", "rl_ctx1: {init: base_ctx2,")
    r = CliRunner().invoke(app, ["spec", "validate"])
    assert r.exit_code == 2
    assert r.output.strip() == "error: specs/context.yaml: rl.rl_ctx1.init: unknown run 'base_ctx2'"
    r = CliRunner().invoke(app, ["findings"])
    assert r.exit_code == 2 and r.output.count("\n") == 1
