import json
import re

import pytest

from interplay.claims import check_finding, write_verdicts
from interplay.eval.ladder import Ladder
from interplay.io import write_json
from interplay.plots import plot_op_bars, plot_passk, plot_rewards
from interplay.report import render_finding, render_summary

from .fixtures import BANDS, bind, write_per_problem, write_rewards

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LADDER = {"id": {"strict@16": 0.99}, "edge": {"strict@16": 0.31}, "hard": {"strict@16": 0.0}, "holds": True}


def _claim(cid, lhs, rhs, kind="greater", metric="strict", k=16, band="edge", **paper):
    return {"id": cid, "text": f"text of {cid}", "kind": kind,
            "lhs": {"arm": lhs, "metric": metric, "k": k, "band": band},
            "rhs": {"arm": rhs, "metric": metric, "k": k, "band": band} if isinstance(rhs, str) else rhs,
            "paper": paper or {"lhs": 86.0, "rhs": 43.5, "source": "Fig. 1 [F1]"}}  # percent, as printed


def _config(name, claims, runs, arm_dirs, **extra):
    """A resolved claims config (interplay.spec.resolve) over the synthetic artifacts."""
    return {"finding": name, "title": f"Finding: {name}", "profile": "ci", "seed": 0,
            "bands": {"id": [2, 3, 4], "edge": [5, 6], "hard": [7, 8]},
            "ladder": {"bands": {"id": [2, 3, 4], "edge": [5, 6], "hard": [7, 8]}, "thresholds": vars(Ladder())},
            "bases": {"base": {"eval_dir": str(runs / "base" / "eval"), "testset": "test_main", "contexts": []}},
            "departures": [{"key": "model", "paper": "100M", "ours": "0.2M", "reason": "2 cores"},
                           {"key": "eval.n", "paper": "128", "ours": "16", "reason": "CPU"}],
            "arms": {a: {"run": a, "kind": "pretrain" if a == "base" else "rl",
                         "rl_dir": str(d["rl"]) if isinstance(d, dict) and "rl" in d else None,
                         "eval_dirs": {"test_main": str(d["eval"] if isinstance(d, dict) else d)}
                         if not isinstance(d, dict) or "eval" in d else {}} for a, d in arm_dirs.items()},
            "claims": [{**bind(c, arm_dirs), "bases": ["base"]} for c in claims], **extra}


@pytest.fixture
def finding(tmp_path):
    runs = tmp_path / "runs"
    write_per_problem(runs / "base" / "eval", {2: .9, 3: .8, 4: .7, 5: .1, 6: .05, 7: 0, 8: 0},
                      per_op=10, contexts=("zoo", "teachers"))
    write_json(runs / "base" / "eval" / "metrics.json", {"n": 16, "ladder": LADDER})
    write_per_problem(runs / "rl_edge" / "eval", {2: .95, 3: .9, 4: .85, 5: .5, 6: .3, 7: .02, 8: 0},
                      per_op=10, seed=1, contexts=("zoo", "teachers"))
    write_rewards(runs / "rl_edge" / "rl", [0.1 + 0.01 * i for i in range(30)])
    write_rewards(runs / "rl_hard" / "rl", [0.0] * 30)
    arm_dirs = {"base": runs / "base" / "eval",
                "rl_edge": {"eval": runs / "rl_edge" / "eval", "rl": runs / "rl_edge" / "rl"},
                "rl_hard": {"rl": runs / "rl_hard" / "rl"}}  # its evaluation never ran
    claims = [
        _claim("edge_gain", "rl_edge", "base"),
        _claim("id_flat", "rl_edge", "base", kind="at_most", band="id"),
        {"id": "hard_reward", "text": "reward | on hard ≈ 0", "kind": "at_most", "rhs": None, "value": 0.05,
         "lhs": {"arm": "rl_hard", "metric": "reward"}, "paper": {"lhs": 0.0, "source": "Fig. 11"}},
        {"id": "fp_drop", "text": "fewer hacks", "kind": "less", "margin": 0.01,
         "lhs": {"arm": "rl_edge", "metric": "false_positive", "band": "hard"},
         "rhs": {"arm": "base", "metric": "false_positive", "band": "hard"},
         "paper": {"delta": -4.5, "source": "Fig. 8"}},
        _claim("hard_gain", "rl_hard", "base", band="hard"),
    ]
    cfg = _config("extrapolation", claims, runs, arm_dirs)
    verdicts = check_finding(cfg, n_boot=300)
    write_verdicts(tmp_path / "claims" / "extrapolation" / "verdicts.json", verdicts)
    return cfg, arm_dirs, verdicts, tmp_path


def test_render_finding_writes_report_and_plots(finding):
    cfg, arm_dirs, verdicts, tmp = finding
    out = tmp / "reports" / "extrapolation"
    report = render_finding(cfg, tmp / "claims" / "extrapolation" / "verdicts.json", out)
    assert report == out / "report.md"
    md = report.read_text()
    for name in ("passk", "op_bars", "rewards", "categories", "passk_teachers", "op_bars_zoo"):
        png = out / f"{name}.png"
        assert png.stat().st_size > 1000 and png.read_bytes()[:8] == PNG_MAGIC
        assert f"]({name}.png)" in md
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (out / link).is_file()
    table = [line for line in md.splitlines() if line.startswith("| `")]
    assert len(table) == len(cfg["claims"])
    for c, v in zip(cfg["claims"], verdicts.claims):
        row = next(line for line in table if f"`{c['id']}`" in line)
        assert v.verdict in row
    assert "reward \\| on hard" in md  # pipes inside cells are escaped
    assert "86 vs 43.5 (Fig. 1 [F1])" in md  # paper values as printed
    assert "Δ -4.5 (Fig. 8)" in md and ": Δ < -1)" in md  # paper delta; margin shown in % like our numbers
    assert "rl_hard" in md and "no per_problem.csv" in md  # the inconclusive reason is reported
    assert "`model`: 0.2M instead of 100M (2 cores) (all claims)" in md
    assert "`eval.n`: 16 instead of 128 (CPU) (all claims)" in md
    ladder = md.split("## Base-model ladder")[1].split("## Plots")[0]
    # measured from per_problem.csv with the default thresholds: ID at 70-90 % per sample passes pass@16 on every
    # op; edge pass@1 (10 % / 5 % per sample) is inside [5, 40] %
    assert "**base**" in ladder and "| id | 2–4 (worst: op " in ladder and "| pass@16 |" in ladder
    assert "| edge | 5–6 | pass@1 | 9.1 (40 problems) | in [5, 40] | ✅ |" in ladder and "(60 problems) | >= 95 | ✅ |" in ladder
    assert "rl_edge" not in ladder  # only base models
    assert verdicts.summary["inconclusive"] >= 1


def test_render_finding_without_verdicts_or_artifacts(tmp_path):
    cfg = {"finding": "context", "claims": [], "arms": {"a": {"eval_dirs": {"t": str(tmp_path / "nothing")},
                                                              "rl_dir": None}}}
    report = render_finding(cfg, tmp_path / "missing.json", tmp_path / "reports" / "context")
    md = report.read_text()
    assert "no verdicts" in md and "no evaluation or RL artifacts" in md and "no ladder recorded" in md
    assert not list((tmp_path / "reports" / "context").glob("*.png"))


def test_render_summary_has_every_claim(finding):
    cfg, arm_dirs, verdicts, tmp = finding
    other = _config("reward", [_claim("pv_gain", "rl_edge", "base", k=1, band="hard")], tmp / "runs", arm_dirs)
    write_verdicts(tmp / "claims" / "reward" / "verdicts.json", check_finding(other, n_boot=300))
    paths = [tmp / "claims" / "extrapolation" / "verdicts.json", tmp / "claims" / "reward" / "verdicts.json",
             tmp / "claims" / "midtraining" / "verdicts.json"]
    out = render_summary(paths, tmp / "reports" / "summary.md")
    md = out.read_text()
    rows = [line for line in md.splitlines() if line.startswith("| extrapolation") or line.startswith("| reward")]
    assert len(rows) == len(cfg["claims"]) + 1
    for cid in ["edge_gain", "id_flat", "hard_reward", "fp_drop", "hard_gain", "pv_gain"]:
        assert f"`{cid}`" in md
    assert "| finding | claim | paper | ours | 95 % CI of Δ | verdict |" in md
    assert "midtraining" in md and "missing or unreadable" in md
    assert "Profile: `ci`" in md
    n = json.loads(paths[0].read_text())["summary"]
    total = n["holds"] + n["fails"] + n["inconclusive"] + 1
    assert md.count("holds") + md.count("fails") + md.count("inconclusive") >= total


def test_plots_return_none_without_data(tmp_path):
    assert plot_passk({"a": tmp_path}, BANDS, tmp_path / "p.png") is None
    assert plot_op_bars({"a": tmp_path}, tmp_path / "o.png") is None
    assert plot_rewards({"a": tmp_path}, tmp_path / "r.png") is None
    assert not list(tmp_path.iterdir())


def test_plots_are_byte_stable(finding):
    _, arm_dirs, _, tmp = finding
    a = plot_passk(arm_dirs, BANDS, tmp / "a.png").read_bytes()
    b = plot_passk(arm_dirs, BANDS, tmp / "b.png").read_bytes()
    assert a == b


def test_resolved_config_call_forms(finding):
    """The pipeline's stage calls: check_finding(cfg) (pure), render_finding(cfg, verdicts, out_dir),
    render_summary([verdicts], out_dir)."""
    _, arm_dirs, _, tmp = finding
    runs = tmp / "runs"
    cfg = {"finding": "extrapolation", "title": "Finding 1", "paper_ref": "§3", "profile": "ci", "seed": 3,
           "decisions": [{"issue": "ID arm op 7-10 vs 8-10", "decision": "id_top band"}],
           "departures": [{"key": "model", "paper": "100M", "ours": "0.2M", "reason": "2 cores"}],
           "bands": {"id": [2, 3, 4], "edge": [5, 6], "hard": [7, 8]},
           "ladder": {"bands": {"id": [2, 3, 4], "edge": [5, 6], "hard": [7, 8]}, "thresholds": vars(Ladder())},
           "bases": {"base": {"eval_dir": str(runs / "base" / "eval"), "testset": "test"}},
           "arms": {"base": {"run": "base", "kind": "pretrain", "rl_dir": None,
                             "eval_dirs": {"test": str(runs / "base" / "eval")}},
                    "rl_edge": {"run": "rl_edge", "kind": "rl", "rl_dir": str(runs / "rl_edge" / "rl"),
                                "eval_dirs": {"test": str(runs / "rl_edge" / "eval")}}},
           "claims": [{"id": "edge_gain", "text": "t", "kind": "greater", "margin": 0.0, "value": None,
                       "lhs": {"arm": "rl_edge", "metric": "strict", "k": 16, "k_spec": 128, "band": "edge",
                               "at": "all", "context": None, "testset": "test", "last": 5, "ops": [5, 6],
                               "eval_dir": str(runs / "rl_edge" / "eval"), "rl_dir": str(runs / "rl_edge" / "rl")},
                       "rhs": {"arm": "base", "metric": "strict", "k": 16, "k_spec": 128, "band": "edge",
                               "at": "all", "context": None, "testset": "test", "last": 5, "ops": [5, 6],
                               "eval_dir": str(runs / "base" / "eval"), "rl_dir": None},
                       "paper": {"lhs": 86.0, "rhs": 43.5, "delta": None, "source": "Fig. 1"}}]}
    v = check_finding(cfg)
    assert not (tmp / "verdicts.json").exists()
    assert v.profile == "ci" and v.claims[0].verdict == "holds"
    assert v.claims[0].departures == ["model: 0.2M instead of 100M (2 cores)"]
    assert "eval_dir" not in v.claims[0].lhs  # paths stay out of the verdicts
    out = tmp / "reports" / "ci" / "extrapolation"
    md = render_finding(cfg, v, out).read_text()
    assert "(paper k=128)" in md and "id_top band" in md and "Paper: §3." in md
    assert "**base**" in md and (out / "rewards.png").is_file()
    summary = render_summary([v], tmp / "reports" / "ci")
    assert summary == tmp / "reports" / "ci" / "summary.md" and "`edge_gain`" in summary.read_text()
