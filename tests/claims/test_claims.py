import json
import math

import numpy as np
import pytest

from interplay.claims import (ClaimError, Verdicts, bootstrap_diff, check_claim, check_finding, departure_text,
                              pass_at_k_array, read_verdicts, verdict, write_verdicts)

from .fixtures import BANDS, bind, write_per_problem, write_rewards

BASE = {2: 0.9, 3: 0.8, 4: 0.7, 5: 0.08, 6: 0.04, 7: 0.0, 8: 0.0}
RL_EDGE = {2: 0.95, 3: 0.9, 4: 0.85, 5: 0.45, 6: 0.3, 7: 0.02, 8: 0.0}


def claim(kind="greater", lhs_arm="rl", rhs_arm="base", metric="strict", k=8, band="edge", margin=0.0, **extra):
    return {"id": "c1", "text": "t", "kind": kind, "margin": margin,
            "lhs": {"arm": lhs_arm, "metric": metric, "k": k, "band": band, **extra},
            "rhs": {"arm": rhs_arm, "metric": metric, "k": k, "band": band, **extra},
            "paper": {"lhs": 0.86, "rhs": 0.435, "source": "Fig. 1 [F1]"}}


def check(c: dict, arms: dict, bands: dict = BANDS, **kw) -> dict:
    return check_claim(bind(c, arms, bands), **kw)


@pytest.fixture
def arms(tmp_path):
    write_per_problem(tmp_path / "base", BASE, seed=0)
    write_per_problem(tmp_path / "rl", RL_EDGE, seed=1)
    return {"base": tmp_path / "base", "rl": tmp_path / "rl"}


def test_pass_at_k_matches_combinatorial_definition():
    n = np.array([1, 5, 8, 8, 8, 16, 16, 128, 128])
    c = np.array([0, 5, 0, 1, 7, 3, 16, 1, 60])
    for k in (1, 2, 4, 8):
        ok = n >= k
        got = pass_at_k_array(n[ok], c[ok], k)
        want = [1.0 - math.comb(ni - ci, k) / math.comb(ni, k) for ni, ci in zip(n[ok], c[ok])]
        np.testing.assert_allclose(got, want, atol=1e-12)
    with pytest.raises(ValueError):
        pass_at_k_array(np.array([4]), np.array([1]), 8)


def test_clear_holds_paired(arms):
    r = check(claim(margin=0.1), arms, BANDS)
    assert r["verdict"] == "holds", r
    assert r["paired"] and r["reason"] is None
    assert r["lhs"]["problems"] == r["rhs"]["problems"] == 80  # ops 5 and 6, 40 problems each
    assert r["ci"][0] - 0.1 > 0 and r["ci"][0] <= r["ours"]["diff"] <= r["ci"][1]
    assert r["ours"]["diff"] == pytest.approx(r["ours"]["lhs"] - r["ours"]["rhs"])
    assert r["paper"]["source"] == "Fig. 1 [F1]"


def test_clear_fails(arms):
    r = check(claim(lhs_arm="base", rhs_arm="rl"), arms, BANDS)
    assert r["verdict"] == "fails"
    assert r["ci"][1] < 0


def test_margin_can_turn_holds_into_fails(arms):
    r = check(claim(margin=0.9), arms, BANDS)
    assert r["verdict"] == "fails"


def test_overlapping_cis_are_inconclusive(tmp_path):
    same = {5: 0.3, 6: 0.3}
    write_per_problem(tmp_path / "a", same, per_op=15, seed=3)
    write_per_problem(tmp_path / "b", same, per_op=15, seed=4)
    r = check(claim(lhs_arm="a", rhs_arm="b", k=2), {"a": tmp_path / "a", "b": tmp_path / "b"}, BANDS)
    assert r["ci"][0] < 0 < r["ci"][1]
    assert r["verdict"] == "inconclusive" and r["reason"] is None


@pytest.mark.parametrize("case", ["no_dir", "no_arm", "empty_selection", "no_rewards"])
def test_missing_artifact_is_inconclusive_with_reason(arms, tmp_path, case):
    c = claim()
    dirs = dict(arms)
    if case == "no_dir":
        dirs["rl"] = tmp_path / "nowhere"
        want = "per_problem.csv"
    elif case == "no_arm":
        c["lhs"]["arm"] = "rl_missing"
        want = "rl_missing"
    elif case == "empty_selection":
        c["lhs"]["band"] = c["rhs"]["band"] = None
        c["lhs"]["ops"] = c["rhs"]["ops"] = [19]
        want = "no evaluated problems"
    else:
        c["lhs"] = {"arm": "rl", "metric": "reward"}
        want = "dvclive/metrics.json"
    r = check(c, dirs, BANDS)
    assert r["verdict"] == "inconclusive"
    assert want in r["reason"]
    assert r["ci"] is None


def test_corrupt_artifact_is_inconclusive(arms):
    (arms["rl"] / "per_problem.csv").write_text("id,op\nx,notanumber\n")
    r = check(claim(), arms, BANDS)
    assert r["verdict"] == "inconclusive" and "unreadable" in r["reason"]


def _relabel(src, dst, prefix):
    dst.mkdir(parents=True)
    text = (src / "per_problem.csv").read_text().replace("\npzoo-", f"\n{prefix}zoo-")
    (dst / "per_problem.csv").write_text(text)


def test_pairing_uses_shared_problems_and_narrows_the_interval(tmp_path):
    # Heterogeneous problems, and an arm that solves one more sample of each: a small, consistent gain that
    # only a paired bootstrap resolves.
    rng = np.random.default_rng(0)
    ps = {op: p for op, p in zip(range(2, 9), rng.uniform(0.05, 0.95, 7))}
    write_per_problem(tmp_path / "base", ps, per_op=20, n=16, hack=0.0)
    rows = (tmp_path / "base" / "per_problem.csv").read_text().splitlines()
    out = [rows[0]]
    for line in rows[1:]:
        f = line.split(",")
        c = min(int(f[5]) + 1, int(f[4]))
        f[5] = f[6] = f[9] = str(c)
        out.append(",".join(f))
    (tmp_path / "better").mkdir()
    (tmp_path / "better" / "per_problem.csv").write_text("\n".join(out) + "\n")
    _relabel(tmp_path / "better", tmp_path / "better_other_ids", "q")
    c = claim(lhs_arm="better", rhs_arm="base", k=1, band=None)
    paired = check(c, {"better": tmp_path / "better", "base": tmp_path / "base"}, BANDS)
    c["lhs"]["arm"] = "other"
    unpaired = check(c, {"other": tmp_path / "better_other_ids", "base": tmp_path / "base"}, BANDS)
    assert paired["paired"] and not unpaired["paired"]
    assert paired["ours"] == unpaired["ours"]
    assert any("unpaired" in n for n in unpaired["notes"])
    width = lambda r: r["ci"][1] - r["ci"][0]  # noqa: E731
    assert width(paired) < 0.5 * width(unpaired)
    assert paired["verdict"] == "holds" and unpaired["verdict"] == "inconclusive"


def test_k_larger_than_n_uses_the_largest_estimable_k(tmp_path):
    write_per_problem(tmp_path / "a", RL_EDGE, n=16, seed=1)
    write_per_problem(tmp_path / "b", BASE, n=32, seed=0)
    r = check(claim(lhs_arm="a", rhs_arm="b", k=128), {"a": tmp_path / "a", "b": tmp_path / "b"}, BANDS)
    assert r["lhs"]["k_used"] == 16 and r["rhs"]["k_used"] == 16  # both sides at the same k
    assert any("k=128 > n=16" in n for n in r["notes"])
    assert r["verdict"] == "holds"
    direct = check(claim(lhs_arm="a", rhs_arm="b", k=16), {"a": tmp_path / "a", "b": tmp_path / "b"}, BANDS)
    assert direct["ours"] == r["ours"]


def test_constant_rhs_and_selectors(tmp_path):
    write_per_problem(tmp_path / "a", {2: 0.9, 3: 0.9, 9: 0.0}, contexts=("zoo", "teachers"))
    dirs = {"a": tmp_path / "a"}
    c = {"id": "c", "kind": "at_least", "lhs": {"arm": "a", "metric": "answer", "k": 4, "ops": [2, 3]},
         "rhs": None, "value": 0.9}
    r = check(c, dirs, BANDS)
    assert r["verdict"] == "holds" and r["lhs"]["problems"] == 160 and not r["paired"]
    c["lhs"] = {"arm": "a", "metric": "strict", "k": 4, "ops": [9], "context": "teachers"}
    c["kind"], c["value"] = "at_most", 0.01
    r = check(c, dirs, BANDS)
    assert r["lhs"]["problems"] == 40 and r["ours"]["lhs"] == 0.0 and r["ci"] == [-0.01, -0.01]
    assert r["verdict"] == "holds"


def test_false_positive_shares(tmp_path):
    write_per_problem(tmp_path / "outcome", {5: 0.3, 6: 0.3}, hack=0.4, seed=1)
    write_per_problem(tmp_path / "strict", {5: 0.3, 6: 0.3}, hack=0.02, seed=2)
    dirs = {"outcome": tmp_path / "outcome", "strict": tmp_path / "strict"}
    c = {"id": "fp", "kind": "less", "lhs": {"arm": "strict", "metric": "false_positive", "band": "edge"},
         "rhs": {"arm": "outcome", "metric": "false_positive", "band": "edge"}}
    r = check(c, dirs, BANDS)
    assert r["verdict"] == "holds" and 0.2 < r["ours"]["rhs"] < 0.35


def test_reward_statistics(tmp_path):
    write_rewards(tmp_path / "hard", [0.0] * 50)
    write_rewards(tmp_path / "edge", list(np.linspace(0.1, 0.6, 50) + 0.02 * np.sin(np.arange(50))))
    dirs = {"hard": tmp_path / "hard", "edge": tmp_path / "edge"}
    flat = {"id": "r0", "kind": "at_most", "lhs": {"arm": "hard", "metric": "reward", "last": 10}, "value": 0.05}
    r = check(flat, dirs, BANDS)
    assert r["verdict"] == "holds" and r["lhs"]["steps"] == 10 and r["lhs"]["last"] == 10
    rising = {"id": "r1", "kind": "greater", "lhs": {"arm": "edge", "metric": "reward", "last": 10}, "value": 0.4}
    assert check(rising, dirs, BANDS)["verdict"] == "holds"  # the last 10 of a 0.1 -> 0.6 ramp
    from dvclive import Live

    import shutil

    shutil.rmtree(tmp_path / "edge" / "dvclive")
    with Live(str(tmp_path / "edge" / "dvclive"), dvcyaml=None, save_dvc_exp=False) as live:
        live.log_metric("acc_strict", 0.5)  # a run that logged no reward
        live.next_step()
    r = check(rising, dirs, BANDS)
    assert r["verdict"] == "inconclusive" and "logged no 'reward'" in r["reason"]


def test_rollout_strict_separates_guessing_from_competence(tmp_path):
    """A too-hard arm whose outcome reward is answer guessing (.25) while no rollout verifies: the reward claim
    fails, the rollout_strict claim holds (docs/decisions.md D14); the column read is the logged acc_strict."""
    rng = np.random.default_rng(0)
    write_rewards(tmp_path / "beyond", list(0.25 + 0.03 * rng.standard_normal(40)), acc_strict=[0.0] * 40)
    dirs = {"beyond": tmp_path / "beyond"}
    reward = {"id": "r", "kind": "at_most", "lhs": {"arm": "beyond", "metric": "reward", "last": 10}, "value": 0.05}
    verified = {"id": "v", "kind": "at_most", "lhs": {"arm": "beyond", "metric": "rollout_strict", "last": 10},
                "value": 0.05}
    r, v = check(reward, dirs, BANDS), check(verified, dirs, BANDS)
    assert r["verdict"] == "fails" and 0.2 < r["ours"]["lhs"] < 0.3
    assert v["verdict"] == "holds" and v["ours"]["lhs"] == 0.0 and v["lhs"]["steps"] == 10
    assert "rollouts verified" in v["lhs"]["label"]
    write_rewards(tmp_path / "rising", [0.0] * 40, acc_strict=list(np.linspace(0.0, 0.5, 40)))
    v2 = check({**verified, "lhs": {**verified["lhs"], "arm": "rising"}}, {"rising": tmp_path / "rising"}, BANDS)
    assert v2["verdict"] == "fails" and v2["ours"]["lhs"] > 0.4


def test_seed_replicates(tmp_path):
    for s in range(3):
        write_per_problem(tmp_path / "rl" / f"seed{s}", RL_EDGE, seed=10 + s)
    write_per_problem(tmp_path / "base", BASE)
    r = check(claim(), {"rl": tmp_path / "rl", "base": tmp_path / "base"}, BANDS)
    assert r["lhs"]["seeds"] == 3 and r["rhs"]["seeds"] == 1 and r["paired"]
    assert r["verdict"] == "holds"
    as_list = check(claim(), {"rl": sorted((tmp_path / "rl").iterdir()), "base": tmp_path / "base"}, BANDS)
    assert as_list["ours"] == r["ours"] and as_list["ci"] == r["ci"]


def test_bootstrap_is_deterministic_and_matches_index_resampling(arms):
    a = check(claim(), arms, BANDS, seed=5)
    b = check(claim(), arms, BANDS, seed=5)
    assert a["ci"] == b["ci"]
    assert check(claim(), arms, BANDS, seed=6)["ci"] != a["ci"]
    from interplay.claims import _Sample
    rng = np.random.default_rng(0)
    x, y = rng.random((1, 300)), rng.random((1, 300))
    ids = [str(i) for i in range(300)]
    draws, paired = bootstrap_diff(_Sample(x, None, ids), _Sample(y, None, ids), n_boot=4000)
    assert draws.shape == (4000,) and paired
    # The weighted (multiplicity) bootstrap has the spread of plain index resampling of the paired differences.
    idx = rng.integers(0, 300, (4000, 300))
    ref = (x[0] - y[0])[idx].mean(axis=1)
    assert draws.mean() == pytest.approx((x - y).mean(), abs=0.005)
    assert draws.std() == pytest.approx(ref.std(), rel=0.1)


@pytest.mark.parametrize("kind,ci,want", [
    ("greater", (0.1, 0.2), "holds"), ("greater", (-0.2, -0.1), "fails"), ("greater", (-0.1, 0.1), "inconclusive"),
    ("greater", (0.0, 0.0), "fails"), ("at_least", (0.0, 0.0), "holds"), ("at_least", (-0.2, -0.1), "fails"),
    ("less", (-0.2, -0.1), "holds"), ("less", (0.0, 0.0), "fails"), ("less", (-0.1, 0.1), "inconclusive"),
    ("at_most", (0.0, 0.0), "holds"), ("at_most", (0.1, 0.2), "fails"),
])
def test_verdict_table(kind, ci, want):
    assert verdict(kind, ci) == want


def test_verdict_uses_margin():
    assert verdict("greater", (0.1, 0.2), margin=0.05) == "holds"
    assert verdict("greater", (0.1, 0.2), margin=0.15) == "inconclusive"
    assert verdict("greater", (0.1, 0.2), margin=0.25) == "fails"


def test_unknown_claim_kind_is_a_one_line_error():
    with pytest.raises(ClaimError, match="unknown claim kind 'bigger'") as e:
        verdict("bigger", (0.1, 0.2))
    assert "\n" not in str(e.value)


def test_departure_text():
    assert departure_text({"key": "eval.n", "paper": "128", "ours": "32", "reason": "CPU"}) == \
        "eval.n: 32 instead of 128 (CPU)"
    assert departure_text({"key": "model", "paper": "", "ours": "", "reason": "tiny"}) == "model: tiny"


def test_check_finding_writes_and_reads_typed_verdicts(arms, tmp_path):
    cfg = {"finding": "extrapolation", "profile": "ci", "seed": 0, "bands": BANDS,
           "departures": [{"key": "model", "paper": "", "ours": "", "reason": "tiny"}],
           "claims": [bind(c, arms) for c in (claim(margin=0.1), {**claim(lhs_arm="base", rhs_arm="rl"), "id": "c2"},
                                              {**claim(lhs_arm="ghost"), "id": "c3"})]}
    out = tmp_path / "out" / "verdicts.json"
    v = check_finding(cfg, n_boot=500)
    write_verdicts(out, v)
    assert isinstance(v, Verdicts) and read_verdicts(out) == v
    assert v.finding == "extrapolation" and v.profile == "ci"
    assert v.summary == {"holds": 1, "fails": 1, "inconclusive": 1, "untestable": 0}
    assert [c.id for c in v.claims] == ["c1", "c2", "c3"]
    assert all(c.departures == ["model: tiny"] for c in v.claims)
    assert not list(out.parent.glob(".*tmp"))
    bad = json.loads(out.read_text())
    bad["claims"][0]["verdict"] = "maybe"
    out.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"verdicts.json: .*verdict: Invalid value 'maybe'"):
        read_verdicts(out)


@pytest.mark.parametrize("kind,ci,margin,want", [
    # greater: d > m; less: d < -m (margin = required gap)
    ("greater", (0.1, 0.2), 0.05, "holds"), ("less", (-0.2, -0.1), 0.05, "holds"),
    ("less", (-0.2, -0.1), 0.15, "inconclusive"), ("less", (-0.2, -0.1), 0.25, "fails"),
    # greater_equal / at_least: d >= -m; less_equal / at_most: d <= m (margin = tolerance)
    ("greater_equal", (-0.03, 0.01), 0.05, "holds"), ("at_least", (-0.03, 0.01), 0.0, "inconclusive"),
    ("greater_equal", (-0.2, -0.1), 0.05, "fails"), ("less_equal", (-0.01, 0.03), 0.05, "holds"),
    ("at_most", (0.06, 0.1), 0.05, "fails"), ("less_equal", (0.0, 0.0), 0.0, "holds"),
])
def test_verdict_margin_semantics_follow_the_contract(kind, ci, margin, want):
    assert verdict(kind, ci, margin) == want


def test_spec_form_value_and_top_op(tmp_path):
    write_per_problem(tmp_path / "a", {5: 0.5, 6: 0.0})
    dirs = {"a": tmp_path / "a"}
    c = {"id": "top", "kind": "at_most", "value": 0.01, "rhs": None, "margin": 0.0,
         "lhs": {"arm": "a", "metric": "strict", "k": 4, "band": "edge", "at": "top"}}
    r = check(c, dirs, BANDS)
    assert r["lhs"]["problems"] == 40 and r["verdict"] == "holds" and r["rhs"] == {"value": 0.01, "label": "0.01"}
    c["lhs"]["at"] = "all"
    assert check(c, dirs, BANDS)["verdict"] == "fails"


def test_resolved_operands_carry_their_own_dirs_and_ops(tmp_path):
    write_per_problem(tmp_path / "evals" / "rl", RL_EDGE, seed=1)
    write_per_problem(tmp_path / "evals" / "base", BASE)
    write_rewards(tmp_path / "rl_run", [0.0] * 20 + [0.5] * 5)
    side = lambda arm: {"arm": arm, "metric": "strict", "k": 8, "k_spec": 128, "band": "edge", "at": "all",  # noqa
                        "context": None, "testset": "t", "last": 5, "ops": [5, 6],
                        "eval_dir": str(tmp_path / "evals" / arm), "rl_dir": None}
    c = {"id": "r", "kind": "greater", "margin": 0.0, "value": None, "lhs": side("rl"), "rhs": side("base"),
         "paper": {"lhs": 86.0, "rhs": 43.5, "delta": None, "source": "Fig. 1"}}
    r = check_claim(c)  # the resolved operands say everything
    assert r["verdict"] == "holds" and r["paired"] and "eval_dir" not in r["lhs"]
    assert r["lhs"]["label"] == "rl strict@8 (paper k=128) band=edge"
    assert r["paper"] == {"lhs": 86.0, "rhs": 43.5, "source": "Fig. 1"}
    rw = {"id": "w", "kind": "greater", "value": 0.4, "rhs": None,
          "lhs": {"arm": "rl", "metric": "reward", "k": 1, "band": None, "last": 5, "ops": None,
                  "eval_dir": None, "rl_dir": str(tmp_path / "rl_run")}}
    r = check_claim(rw)
    assert r["lhs"]["steps"] == 5 and r["lhs"]["last"] == 5 and r["verdict"] == "holds"
    rw["lhs"]["last"], rw["value"] = 10, 0.6
    assert check_claim(rw)["verdict"] == "fails"  # mean 0.25 over the last 10 steps


def test_check_finding_config_form_is_pure(tmp_path):
    write_per_problem(tmp_path / "e" / "rl", RL_EDGE, seed=1)
    write_per_problem(tmp_path / "e" / "base", BASE)
    cfg = {"finding": "extrapolation", "profile": "ci", "seed": 1, "bands": {"edge": [5, 6]},
           "departures": [{"key": "eval.n", "paper": "128", "ours": "16", "reason": "2 cores"}],
           "arms": {a: {"run": a, "kind": k, "rl_dir": None, "eval_dirs": {"t": str(tmp_path / "e" / a)}}
                    for a, k in (("rl", "rl"), ("base", "pretrain"))},
           "claims": [bind(claim(k=8), {a: str(tmp_path / "e" / a) for a in ("rl", "base")})]}
    before = sorted(p.name for p in tmp_path.rglob("*"))
    v = check_finding(cfg, n_boot=300)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert v.summary["holds"] == 1 and v.bands == {"edge": [5, 6]}
    assert v.claims[0].departures == ["eval.n: 16 instead of 128 (2 cores)"]


def test_block_weights_keep_the_resample_size_and_runs():
    from interplay.claims import _weights
    rng = np.random.default_rng(0)
    w = _weights(rng, 200, 50, block=4)
    assert w.shape == (200, 50) and (w.sum(axis=1) == 50).all()
    iid = _weights(rng, 200, 50)
    assert (iid.sum(axis=1) == 50).all()
    # Blocks resample runs of neighbours: adjacent steps are picked together far more often than iid.
    co = lambda x: np.mean((x[:, :-1] > 0) & (x[:, 1:] > 0))  # noqa: E731
    assert co(w) > co(iid) + 0.05


def test_reward_block_bootstrap_widens_the_interval_on_trending_rewards(tmp_path):
    write_rewards(tmp_path / "a", list(np.linspace(0.0, 1.0, 100)))
    c = {"id": "w", "kind": "greater", "lhs": {"arm": "a", "metric": "reward", "last": 100}, "value": 0.4}
    from interplay.claims import _reward_sample, bootstrap_diff
    s = _reward_sample(bind(c, {"a": tmp_path / "a"})["lhs"])
    assert s.block == 5
    blocked, _ = bootstrap_diff(s, 0.4, n_boot=2000)
    s.block = 1
    iid, _ = bootstrap_diff(s, 0.4, n_boot=2000)
    assert blocked.std() > 1.3 * iid.std()
    assert check(c, {"a": tmp_path / "a"}, BANDS)["verdict"] == "inconclusive"  # iid would say holds
    c["value"] = 0.2
    assert check(c, {"a": tmp_path / "a"}, BANDS)["verdict"] == "holds"
