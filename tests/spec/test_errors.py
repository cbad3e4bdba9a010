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
    assert msg.startswith("specs/extrapolation.yaml: datasets.prompts_mixed.mix[0].bands[0]: Invalid value 'middle'")
    assert "atomic" in msg and "\n" not in msg  # the known names, on one line


def test_unknown_band_in_claim(repo):
    edit(repo / "specs/reward.yaml", "k: 1, band: hard}", "k: 1, band: ood}")
    assert "specs/reward.yaml: claims[0].lhs.band: Invalid value 'ood'" in error()


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
    # the file just edited is blamed, whichever loads first
    assert error() == ("specs/reward.yaml: datasets.prompts_edge: run 'prompts_edge' is already defined in "
                       "specs/runs.yaml")
    text = (repo / "specs/runs.yaml").read_text()
    (repo / "specs/runs.yaml").write_text(text + "\n")  # now runs.yaml is the newer one
    assert error().startswith("specs/runs.yaml: datasets.prompts_edge: ")


def test_claim_arm_not_in_finding(repo):
    edit(repo / "specs/reward.yaml", "lhs: {arm: rl_edge_mix02, metric: strict, k: 1",
         "lhs: {arm: rl_heavy, metric: strict, k: 1")
    assert "specs/reward.yaml: claims[0].lhs.arm: 'rl_heavy' is not one of this finding's arms" in error()


def test_bad_claim_kind(repo):
    edit(repo / "specs/reward.yaml", "kind: less\n", "kind: fewer\n")
    assert "specs/reward.yaml: claims[4].kind: Invalid value 'fewer'" in error()


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


def validate_error(repo) -> str:
    """`interplay spec validate`: exit 2 and exactly one line."""
    r = CliRunner().invoke(app, ["spec", "validate"])
    assert r.exit_code == 2, r.output
    assert r.output.count("\n") == 1 and r.output.startswith("error: "), r.output
    return r.output.strip()[len("error: "):]


@pytest.mark.parametrize("content", ["", "# emptied\n", "title: nothing here\n"])
def test_empty_or_finding_less_spec_file(repo, content):
    (repo / "specs/context.yaml").write_text(content)
    assert validate_error(repo).startswith("specs/context.yaml: empty spec: a spec file defines a `finding` or runs")


@pytest.mark.parametrize("file, old, new, key, rule", [
    ("specs/profiles/ci.yaml", "  token_budget: 16384", "  token_budget: -16384", "pretrain.token_budget",
     "> 0, got -16384"),
    ("specs/profiles/ci.yaml", "  lr: 3.0e-3", "  lr: 0", "pretrain.lr", "> 0, got 0"),
    ("specs/profiles/ci.yaml", "  warmup_ratio: 0.15", "  warmup_ratio: 1.5", "midtrain.warmup_ratio", "in [0, 1], got 1.5"),
    ("specs/profiles/ci.yaml", "  steps: 2", "  steps: 0", "rl.steps", "> 0, got 0"),
    ("specs/profiles/ci.yaml", "  group_size: 4", "  group_size: -4", "rl.group_size", "> 0, got -4"),
    ("specs/profiles/ci.yaml", "  clip: 0.2", "  clip: 1.2", "rl.clip", "in [0, 1], got 1.2"),
    ("specs/profiles/ci.yaml", "  total_tokens: 21760", "  total_tokens: -1", "budget.total_tokens", "> 0, got -1"),
    ("specs/profiles/ci.yaml", "  ks: [1, 2, 4]", "  ks: [1, 0, 4]", "eval.ks[1]", ">= 1, got 0"),
    ("specs/profiles/ci.yaml", "  top_p: 1.0\n  max_new_tokens: 80", "  top_p: 0\n  max_new_tokens: 80", "eval.top_p",
     "in (0, 1], got 0"),
    ("specs/profiles/ci.yaml", "mode_weights: {forward: 0.5,", "mode_weights: {forward: -0.5,",
     "data.mode_weights.forward", ">= 0, got -0.5"),
    ("specs/profiles/ci.yaml", "sample_per_op: 10}", "sample_per_op: 0}", "tokenizer.sample_per_op", "> 0, got 0"),
    ("specs/profiles/ci.yaml", "  min_lr: 3.0e-4\n  warmup_ratio: 0.05", "  min_lr: 3.0e-2\n  warmup_ratio: 0.05",
     "pretrain.min_lr", "at most pretrain.lr (0.003), got 0.03"),
    ("specs/reward.yaml", "k: 1, band: hard}", "k: 0, band: hard}", "claims[0].lhs.k", ">= 1, got 0"),
    ("specs/reward.yaml", "reward: {name: strict}", "reward: {name: mix, alpha: 1.5}", "rl.rl_edge_strict.reward.alpha",
     "in [0, 1], got 1.5"),
    ("specs/extrapolation.yaml", "margin: 0.05", "margin: -0.05", "claims[2].margin", ">= 0, got -0.05"),
    ("params.yaml", "threads: 1 ", "threads: 0 ", "threads", "> 0, got 0"),
])
def test_every_numeric_knob_is_range_checked_at_load_time(repo, file, old, new, key, rule):
    edit(repo / file, old, new)
    assert validate_error(repo) == f"{file}: {key}: must be {rule}"


def test_profile_override_out_of_range_names_params_yaml(repo):
    edit(repo / "params.yaml", "  profile: {}", "  profile: {rl: {lr: -1.0e-5}}")
    assert validate_error(repo) == "params.yaml: overrides.profile.rl.lr: must be > 0, got -1e-05"


def test_claim_k_beyond_the_paper_profiles_n(repo):
    edit(repo / "specs/extrapolation.yaml", "lhs: {arm: rl_edge, metric: strict, k: 128, band: hard}",
         "lhs: {arm: rl_edge, metric: strict, k: 1000, band: hard}")
    assert re.fullmatch(r"specs/extrapolation\.yaml: claims\[\d+\]\.lhs\.k: 1000 exceeds the paper profile's "
                        r"eval\.n = 128 samples per problem \(pass@k needs k <= n\)", validate_error(repo))


def test_claim_k_clamped_at_small_profiles_is_reported(repo):
    r = CliRunner().invoke(app, ["spec", "validate", "--profile", "ci"])
    assert r.exit_code == 0, r.output
    assert re.search(r"ci: \d+ claim operands ask for k > eval\.n = 4 and are evaluated at k = 4", r.output)
    res = resolve("ci")
    ops = [op for c in res.runs["claims_extrapolation"].config["claims"] for op in (c["lhs"], c["rhs"]) if op]
    assert {(op["k_spec"], op["k"]) for op in ops} == {(128, 4), (1, 1)}


def test_rl_metric_on_a_model_without_rl(repo):
    edit(repo / "specs/extrapolation.yaml", "lhs: {arm: rl_beyond, metric: rollout_strict}",
         "lhs: {arm: base, metric: rollout_strict}")
    msg = error()
    assert msg.startswith("specs/extrapolation.yaml: ") and "metric rollout_strict needs an rl arm" in msg
