"""Verdicts that cannot mislead: a claim resting on a base model that fails its ladder is `untestable`."""

import pytest

from interplay.claims import check_finding
from interplay.eval.ladder import Ladder, check_ladder
from interplay.report import render_finding, render_summary
from interplay.spec.resolve import resolve
from tests.spec.conftest import ROOT

from .fixtures import BANDS, write_per_problem

# strict per-sample success rate per op; n = 16, 40 problems per op
PASSING = {2: 1.0, 3: 1.0, 4: 1.0, 5: 0.3, 6: 0.0, 7: 0.0, 8: 0.0}  # edge pass@1 ≈ 15 %, pass@16 ≈ 50 %
FAILING = {2: 1.0, 3: 1.0, 4: 1.0, 5: 0.0, 6: 0.0, 7: 0.0, 8: 0.0}  # learned ID, no edge headroom
RL = {2: 1.0, 3: 1.0, 4: 1.0, 5: 0.7, 6: 0.4, 7: 0.05, 8: 0.0}


def test_ladder_thresholds():
    lad = Ladder()
    assert (lad.id_passk_min, lad.edge_pass1_min, lad.edge_pass1_max, lad.edge_passk_min, lad.edge_passk_max,
            lad.hard_passk_max) == (0.95, 0.05, 0.40, 0.20, 0.80, 0.15)

    def rows(c_by_op, n=4):
        return [{"op": op, "n": n, "c_strict": c, "context": "zoo"} for op, cs in c_by_op.items() for c in cs]

    ok = rows({2: [4, 4], 3: [4, 4], 4: [4, 4], 5: [1, 0], 6: [0, 0], 7: [0, 0], 8: [0, 0]})
    got = check_ladder(ok, BANDS, lad)
    assert got["holds"] is True and got["k"] == 4 and not got["failed"]
    # ID is checked op by op: one op at 50 % fails although the band pools to 83 %
    bad_op = rows({2: [4, 4], 3: [4, 0], 4: [4, 4], 5: [1, 0], 6: [0, 0], 7: [0, 0], 8: [0, 0]})
    got = check_ladder(bad_op, BANDS, lad)
    assert got["holds"] is False and got["rungs"][0]["op"] == 3 and got["rungs"][0]["value"] == 0.5
    assert got["failed"] == ["id (op 3) strict pass@4 = 50.0 %, required >= 95 %"]
    # too easy an edge and a solved hard band fail too; a band without problems is not measured
    easy = rows({2: [4], 3: [4], 4: [4], 5: [4], 6: [4], 7: [4], 8: [4]})
    assert [r["ok"] for r in check_ladder(easy, BANDS, lad)["rungs"]] == [True, False, False, False]
    assert check_ladder(rows({2: [4], 3: [4], 4: [4]}), BANDS, lad)["holds"] is None
    assert check_ladder(ok, BANDS, lad, contexts=["teachers"])["holds"] is None


def _cfg(tmp_path, base_rates):
    write_per_problem(tmp_path / "base", base_rates, seed=0)
    write_per_problem(tmp_path / "rl", RL, seed=1)
    write_per_problem(tmp_path / "base2", PASSING, seed=2)
    write_per_problem(tmp_path / "rl2", RL, seed=3)

    def op(arm, d):
        return {"arm": arm, "metric": "strict", "k": 16, "band": "edge", "ops": [5, 6], "eval_dir": str(d)}

    claims = [{"id": "on_base", "text": "RL raises edge pass@k", "kind": "greater", "bases": ["base"],
               "lhs": op("rl", tmp_path / "rl"), "rhs": op("base", tmp_path / "base")},
              {"id": "on_base2", "text": "same on the other base", "kind": "greater", "bases": ["base2"],
               "lhs": op("rl2", tmp_path / "rl2"), "rhs": op("base2", tmp_path / "base2")}]
    return {"finding": "extrapolation", "profile": "ci", "seed": 0, "bands": BANDS,
            "ladder": {"bands": {b: BANDS[b] for b in ("id", "edge", "hard")}, "thresholds": vars(Ladder())},
            "bases": {"base": {"eval_dir": str(tmp_path / "base"), "testset": "test_main", "contexts": ["zoo"]},
                      "base2": {"eval_dir": str(tmp_path / "base2"), "testset": "test_main", "contexts": ["zoo"]}},
            "arms": {a: {"run": a, "kind": "rl" if a.startswith("rl") else "pretrain", "rl_dir": None,
                         "eval_dirs": {"test_main": str(tmp_path / a)}} for a in ("base", "rl", "base2", "rl2")},
            "claims": claims}


def test_claim_on_a_failing_base_is_untestable_and_one_on_a_passing_base_is_not(tmp_path):
    v = check_finding(_cfg(tmp_path, FAILING), n_boot=300)
    on_base, on_base2 = v.claims
    assert v.bases["base"]["holds"] is False and v.bases["base2"]["holds"] is True
    assert on_base.verdict == "untestable"
    assert "base base fails its ladder on test_main (zoo)" in on_base.reason
    assert "edge (op 5-6) strict pass@1 = 0.0 %, required in [5, 40] %" in on_base.reason
    assert on_base.ours["diff"] > 0.3 and on_base.ci is not None  # the numbers stay, the verdict does not
    assert on_base2.verdict == "holds" and on_base2.reason is None
    assert v.summary == {"holds": 1, "fails": 0, "inconclusive": 0, "untestable": 1}

    # the same claim on a base that holds its ladder is decided
    v = check_finding(_cfg(tmp_path / "ok", PASSING), n_boot=300)
    assert [c.verdict for c in v.claims] == ["holds", "holds"]


def test_a_base_without_evaluation_makes_its_claims_untestable(tmp_path):
    cfg = _cfg(tmp_path, PASSING)
    cfg["bases"]["base"]["eval_dir"] = str(tmp_path / "never_ran")
    v = check_finding(cfg, n_boot=300)
    assert v.bases["base"]["holds"] is None
    assert v.claims[0].verdict == "untestable" and "has not measured its ladder" in v.claims[0].reason


def test_reports_show_the_ladder_next_to_the_claims(tmp_path):
    cfg = _cfg(tmp_path, FAILING)
    v = check_finding(cfg, n_boot=300)
    md = render_finding(cfg, v, tmp_path / "report").read_text()
    assert "🚫 untestable" in md and "untestable: base base fails its ladder" in md
    ladder = md.split("## Base-model ladder")[1].split("## Plots")[0]
    assert "**base** on `test_main`, contexts zoo: ❌ fails (claims on it: `on_base`)" in ladder
    assert "| edge | 5–6 | pass@1 | 0.0 (80 problems) | in [5, 40] | ❌ |" in ladder
    summary = render_summary([v], tmp_path / "summary.md").read_text()
    assert "1 holds, 0 fails, 0 inconclusive, 1 untestable" in summary
    assert "### base on `test_main`, contexts zoo: ❌ fails" in summary
    assert "Claims on it: extrapolation `on_base` (untestable)" in summary
    assert "Claims on it: extrapolation `on_base2` (holds)" in summary


def test_resolved_claims_follow_the_run_graph_to_their_base():
    res = resolve("ci", ROOT)
    mid = res.runs["claims_midtraining"].config
    assert set(mid["bases"]) == {"base"} and all(c["bases"] == ["base"] for c in mid["claims"])
    ctx = res.runs["claims_context"].config
    assert set(ctx["bases"]) == {"base_ctx0", "base_ctx01", "base_ctx1", "base_ctx10"}
    first = next(c for c in ctx["claims"] if c["id"] == "seed1_beats_seed01_top")
    assert first["bases"] == ["base_ctx01", "base_ctx1"]  # rl_ctx1 -> base_ctx1, rl_ctx01 -> base_ctx01
    for b, info in ctx["bases"].items():  # each context base gets a test-set evaluation for its ladder, on A only
        assert info["contexts"] == ["zoo"] and info["testset"] == "test_context"
        ev = res.runs[f"eval_{b}__test_context__zoo"].config
        assert ev["checkpoint"] == f"artifacts/ci/pretrain/{b}/model" and info["eval_dir"] == ev["out"]
        assert sorted(ev["testsets"]) == ["edge/zoo", "hard/zoo", "id/zoo"]
        assert f"eval_{b}__test_context__zoo" in res.runs["claims_context"].inputs
        assert b in res.runs["report_context"].inputs  # the report draws its ladder curve
    assert mid["bases"]["base"]["eval_dir"] == res.runs["eval_base__test_main"].out  # the arm's own evaluation
    assert ctx["ladder"]["thresholds"] == vars(res.profile.ladder)


@pytest.mark.parametrize("key,value", [("id_passk_min", 1.5), ("edge_pass1_min", 0.5)])
def test_bad_ladder_thresholds_are_one_line_errors(key, value):
    from interplay.spec.load import load_profile
    from interplay.spec.schema import SpecError

    with pytest.raises(SpecError, match=r"specs/profiles/ci.yaml: ladder"):
        load_profile("ci", ROOT, overrides={"ladder": {key: value}})
