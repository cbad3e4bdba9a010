"""`interplay calibrate`: a 2-candidate grid end to end at the ci preset; a rerun skips finished candidates and a
killed one resumes from its checkpoint."""

import csv
import json

import pytest
import yaml
from typer.testing import CliRunner

from interplay.calibrate import GridError, load_grid, run_grid
from tests.spec.conftest import ROOT

GRID = """
description: tiny grid for the test
profile: ci
run: base
fixed:
  profile.pretrain.token_budget: 8192          # 4 steps of 2048 tokens
  profile.pretrain.ladder_every: 2
  profile.pretrain.ladder_problems_per_op: 1
grid:
  profile.pretrain.lr: [3.0e-3, 1.0e-2]
eval: {n: 2}
"""
BIG_EVAL = "eval: {n: 2, problems_per_op: 2}"

RL_GRID = """
profile: ci
run: rl_edge
init: {init}
fixed:
  profile.pretrain.token_budget: 8192    # as the base's grid: the same held-out set
  profile.pretrain.ladder_every: 2
  profile.pretrain.ladder_problems_per_op: 1
  profile.rl.steps: 2
grid:
  run.rl.lr: [1.0e-5, 1.0e-4]
eval: {{n: 2, problems_per_op: 2}}
"""


@pytest.mark.slow
def test_two_candidate_grid_end_to_end_and_resume(tmp_path):
    (tmp_path / "grid.yaml").write_text(GRID.replace("eval: {n: 2}", BIG_EVAL))  # final eval on a 2x held-out set
    g = load_grid(tmp_path / "grid.yaml")
    out = tmp_path / "work"
    log = []
    results = run_grid(g, out, jobs=2, root=ROOT, echo=log.append)
    assert log[0].startswith("2 candidates, 0 finished, 2 to run")
    assert [r["values"]["profile.pretrain.lr"] for r in results] == [3.0e-3, 1.0e-2]
    for r in results:
        cdir = out / "candidates" / r["id"]
        assert r["steps"] == 4 and r["tokens"] == 8192 and r["params_total"] > 0 and r["wall_seconds"] > 0
        assert set(r["greedy"]) == {"id", "edge", "hard"} and all(v["step"] == 4 for v in r["greedy"].values())
        assert r["k"] == 2 and set(r["sampled"]) == {"id", "edge", "hard"}
        assert r["ladder"]["holds"] in (True, False)
        small = yaml.safe_load((cdir / "candidate.yaml").read_text())["heldout"]["heldout"]
        final = _problems(cdir / "heldout_eval")  # the larger set, minus what the corpus holds
        assert len(final) + r["heldout_dropped"] == 2 * len(_problems(small))
        assert {x["id"] for x in csv.DictReader(open(cdir / "eval" / "per_problem.csv"))} == {p["id"] for p in final}
        rows = list(csv.DictReader(open(cdir / "ladder.csv")))
        assert [(int(x["step"]), x["band"]) for x in rows] == [(s, b) for s in (2, 4) for b in ("id", "edge", "hard")]
        # each candidate really trained with its own lr
        assert json.loads((cdir / "metrics.json").read_text())["config"]["lr"] == r["values"]["profile.pretrain.lr"]
    table = list(csv.DictReader(open(out / "results.csv")))
    assert [t["id"] for t in table] == [r["id"] for r in results]
    assert {"profile.pretrain.lr", "params", "steps", "wall_s", "greedy_id", "copy_id", "edge_pass1", "hard_passk",
            "ladder"} <= set(table[0])
    assert "| id | profile.pretrain.lr |" in (out / "results.md").read_text()

    log.clear()  # a rerun trains nothing
    again = run_grid(g, out, jobs=2, root=ROOT, echo=log.append)
    assert log[0].startswith("2 candidates, 2 finished, 0 to run") and not any("started" in x for x in log)
    assert again == results

    # a candidate killed after its last checkpoint: its result and model are gone, its checkpoint is kept
    cdir = out / "candidates" / results[1]["id"]
    (cdir / "result.json").unlink()
    log.clear()
    resumed = run_grid(g, out, jobs=1, root=ROOT, echo=log.append)
    assert log[0].startswith("2 candidates, 1 finished, 1 to run")
    assert json.loads((cdir / "metrics.json").read_text())["resumed"] is True
    assert resumed[1]["steps"] == 4 and resumed[0] == results[0]

    # an RL grid from a finished candidate: its held-out set, its base's numbers beside its own
    base_dir = out / "candidates" / results[0]["id"]
    (tmp_path / "rl.yaml").write_text(RL_GRID.format(init=base_dir))
    rg = load_grid(tmp_path / "rl.yaml")
    rl = run_grid(rg, tmp_path / "rlwork", jobs=2, root=ROOT, echo=log.append)
    assert [r["values"]["run.rl.lr"] for r in rl] == [1.0e-5, 1.0e-4] and len({r["id"] for r in rl}) == 2
    for r in rl:
        assert r["kind"] == "rl" and r["steps"] == 2 and r["base"]["id"] == results[0]["id"]
        assert set(r["sampled"]) == {"id", "edge", "hard"} and r["reward_first"] is not None
        cfg = json.loads((tmp_path / "rlwork" / "candidates" / r["id"] / "metrics.json").read_text())["config"]
        assert cfg["lr"] == r["values"]["run.rl.lr"] and cfg["init"] == str(base_dir / "model")
    # the same held-out problems as the base's evaluation
    def problems(d):
        return sorted(row["id"] for row in csv.DictReader(open(d / "eval" / "per_problem.csv")))

    assert problems(base_dir) == problems(tmp_path / "rlwork" / "candidates" / rl[0]["id"]) != []
    t = list(csv.DictReader(open(tmp_path / "rlwork" / "results.csv")))
    assert {"run.rl.lr", "reward_first", "edge_passk", "base_edge_passk", "ladder"} <= set(t[0])
    assert float(t[0]["base_edge_passk"]) == pytest.approx(results[0]["sampled"]["edge"]["passk"])


def test_grid_errors_are_one_line(tmp_path):
    bad = {"x: 1": "x: unknown key", "grid: {lr: [1]}": "grid.lr: keys are dotted paths",
           "grid: {profile.pretrain.lr: 3}": "expected a non-empty list", "eval: {k: 3}": "eval.k: unknown key"}
    for text, msg in bad.items():
        (tmp_path / "g.yaml").write_text(text)
        with pytest.raises(GridError, match=msg):
            load_grid(tmp_path / "g.yaml")
    from interplay.cli import app

    (tmp_path / "g.yaml").write_text("profile: ci\nrun: tok\n")
    res = CliRunner().invoke(app, ["calibrate", str(tmp_path / "g.yaml"), "--dry-run", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "is not a pretrain or rl run" in res.output
    (tmp_path / "g.yaml").write_text("profile: ci\nrun: rl_edge\n")  # an rl run needs its trained base
    res = CliRunner().invoke(app, ["calibrate", str(tmp_path / "g.yaml"), "--dry-run", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "an rl run needs `init`" in res.output
    (tmp_path / "g.yaml").write_text(f"profile: ci\nrun: rl_edge\ninit: {tmp_path}\n")
    res = CliRunner().invoke(app, ["calibrate", str(tmp_path / "g.yaml"), "--dry-run"])
    assert res.exit_code == 2 and "has no model/ directory" in res.output
    res = CliRunner().invoke(app, ["calibrate", str(tmp_path / "g.yaml"), "--jobs", "999"])
    assert res.exit_code == 2 and "--jobs must be in" in res.output


def test_example_grid_is_valid_and_not_a_spec():
    from interplay.calibrate import candidate_values
    from interplay.spec.load import load_specs

    g = load_grid(ROOT / "specs/calibration/example.yaml")
    assert len(candidate_values(g)) == 8
    assert "example" not in load_specs(ROOT).files


def test_calibration_always_draws_the_curve(tmp_path):
    import yaml

    from interplay.calibrate import prepare

    (tmp_path / "g.yaml").write_text("profile: ci\nrun: base\nfixed: {profile.pretrain.ladder_every: 0}\n"
                                     "grid: {run.lm.model_overrides.num_hidden_layers: [1, 2]}\n")
    cands = prepare(load_grid(tmp_path / "g.yaml"), tmp_path / "o", ROOT, build=False)
    assert len(cands) == 2 and cands[0]["id"] != cands[1]["id"]
    for c, layers in zip(cands, (1, 2)):
        saved = yaml.safe_load((tmp_path / "o" / "candidates" / c["id"] / "candidate.yaml").read_text())
        lm = saved["pretrain"]["lm"]
        assert lm["ladder"]["every"] == 1  # 8 steps at ci: about 10 points
        assert lm["model_overrides"] == {"num_hidden_layers": layers} and lm["devices"] == 1
        assert lm["tokenizer"].startswith(str((tmp_path / "o" / "shared").resolve()))
        assert saved["pretrain"]["out"] == str((tmp_path / "o" / "candidates" / c["id"]).resolve())


def test_table_numbers_keep_small_values():
    """A grid over lr must not print 3e-3 and 1.5e-3 both as 0.00 (as results.md once did)."""
    from interplay.calibrate import _fmt

    assert [_fmt(v) for v in (3e-3, 1.5e-3, 3e-5, 0.0, 0.4567, 664512.0, None)] == \
        ["0.003", "0.0015", "3e-05", "0", "0.46", "6.65e+05", "—"]


def _problems(d):
    from pathlib import Path

    d = Path(d)
    index = json.loads((d / "index.json").read_text())
    return [json.loads(line) for f in index["files"] for line in (d / f["path"]).read_text().splitlines() if line]


def test_a_larger_final_heldout_set_disjoint_from_tests_and_from_the_corpus(tmp_path):
    import numpy as np

    from interplay.calibrate import _unseen, prepare
    from interplay.data.render import training_text
    from interplay.data.tokenizers import load_tokenizer

    (tmp_path / "small.yaml").write_text(GRID)
    (tmp_path / "big.yaml").write_text(GRID.replace("eval: {n: 2}", "eval: {n: 2, problems_per_op: 3}"))
    small = prepare(load_grid(tmp_path / "small.yaml"), tmp_path / "a", ROOT)
    big = prepare(load_grid(tmp_path / "big.yaml"), tmp_path / "b", ROOT)
    assert "heldout_eval" not in small[0] and "problems_per_op" not in small[0]["eval"]
    assert {c["id"] for c in small}.isdisjoint({c["id"] for c in big})  # the final set is part of a candidate
    curve, final = _problems(big[0]["heldout"]["heldout"]), _problems(big[0]["heldout_eval"]["heldout"])
    assert len(final) == 3 * len(curve) and {p["id"] for p in curve} <= {p["id"] for p in final}
    shared = tmp_path / "b" / "shared"
    tests = {p["id"] for d in shared.glob("test_*-*") if d.is_dir() for p in _problems(d)}
    assert tests and tests.isdisjoint({p["id"] for p in final})

    # two of the final problems occur in a (hand-made) corpus: they are dropped, nothing else is
    tok_dir = next(d for d in shared.glob("tok-*") if d.is_dir())
    tok = load_tokenizer(tok_dir)
    docs = [tok.encode(training_text(p["problem"], p["question"], p["solution"]), add_special_tokens=False)
            + [tok.eos_token_id] for p in final[:2]] + [[5, 6, 7, tok.eos_token_id]]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    np.asarray([t for d in docs for t in d], dtype=np.uint16).tofile(corpus / "tokens.bin")
    np.save(corpus / "docs.npy", np.cumsum([0] + [len(d) for d in docs[:-1]]).astype(np.int64))
    (corpus / "manifest.json").write_text(json.dumps({"dtype": "uint16", "eos_id": tok.eos_token_id}))
    kept, dropped = _unseen(big[0]["heldout_eval"], corpus, tok_dir, tmp_path / "kept")
    assert dropped == 2
    assert {p["id"] for p in _problems(kept["heldout"])} == {p["id"] for p in final[2:]}
    _, none = _unseen(big[0]["heldout_eval"], tmp_path / "no-corpus", tok_dir, tmp_path / "all")
    assert none == 0 and len(_problems(tmp_path / "all")) == len(final)
