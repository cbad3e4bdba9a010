"""`interplay data verify FILE [--mode ...]` through the root Typer app."""

from __future__ import annotations

import gzip
import json

import pytest
from typer.testing import CliRunner

from interplay.cli import app

from .test_parser import GOLD, OP5

runner = CliRunner()


def _write(path, rows):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


def _official_rows():
    """Rows in the official schema: no graph, no answer (the gold graph is the parse of the solution)."""
    return [{"problem": "...", "question": "...", "solution": text, "op": 0, "id": key,
             "template": "crazy_zootopia", "mode": "forwardreverse" if key == "rev8" else "normalforward"}
            for key, (text, _) in GOLD.items()]


def _our_rows():
    return [dict(row, graph=GOLD[row["id"]][1].to_dict(), answer=GOLD[row["id"]][1].answer)
            for row in _official_rows()]


@pytest.mark.parametrize("mode", ["paper", "official_compat"])
@pytest.mark.parametrize("name,rows", [("official.jsonl", _official_rows()), ("ours.jsonl.gz", _our_rows())])
def test_all_gold_verify(tmp_path, name, rows, mode):
    path = _write(tmp_path / name, rows)
    res = runner.invoke(app, ["data", "verify", str(path), "--mode", mode])
    assert res.exit_code == 0, res.output
    assert "ProcessAcc" in res.output and "VerifiedCorrect" in res.output and "4/4" in res.output


def test_json_summary(tmp_path):
    path = _write(tmp_path / "g.jsonl", _our_rows())
    res = runner.invoke(app, ["data", "verify", str(path), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["n"] == 4 and s["verified"] == 1.0 and s["process_acc"] == 1.0 and s["categories"]["correct"] == 4


def test_a_failing_gold_solution_exits_1(tmp_path):
    rows = _our_rows()
    bad = next(r for r in rows if r["id"] == "op5")
    bad["solution"] = OP5.replace("3 * 3 = 9", "3 * 3 = 10")  # disagrees with its gold graph
    path = _write(tmp_path / "bad.jsonl", rows)
    res = runner.invoke(app, ["data", "verify", str(path), "--json"])
    assert res.exit_code == 1
    s = json.loads(res.output)
    assert s["n_failed"] == 1 and s["categories"]["value_mismatch"] == 1
    assert s["failures"][0]["id"] == "op5" and s["failures"][0]["process_acc"] == pytest.approx(2 / 3)
    res = runner.invoke(app, ["data", "verify", str(path)])
    assert res.exit_code == 1 and "value_mismatch" in res.output


@pytest.mark.parametrize("content,msg", [
    (None, "no such file"),
    ('{"solution": "Define a b as g; so g = 2."}\n{not json', "not JSONL"),
    ('["a list"]', "row 1"),
    ('{"problem": "no solution here"}', "row 1"),
    ('{"solution": "Define a b as g; so g = 2.", "graph": {"nodes": [{"nope": 1}]}}', "row 1"),
])
def test_unreadable_input_exits_2(tmp_path, content, msg):
    path = tmp_path / "in.jsonl"
    if content is not None:
        path.write_text(content + "\n")
    res = runner.invoke(app, ["data", "verify", str(path)])
    assert res.exit_code == 2
    assert msg in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_unknown_mode_exits_2(tmp_path):
    path = _write(tmp_path / "g.jsonl", _our_rows())
    res = runner.invoke(app, ["data", "verify", str(path), "--mode", "strict"])
    assert res.exit_code == 2 and "unknown --mode" in res.output


def test_generated_file_verifies(tmp_path):
    """End to end with interplay's generator and writer."""
    import interplay.data.generator as gen
    from interplay.data.records import write_jsonl

    problems = [gen.generate(gen.GenConfig(op=op, mode=mode, context=ctx, render=render), 3, op)
                for op in (2, 9, 15) for mode in ("forward", "reverse") for ctx in ("zoo", "festival")
                for render in ("paper", "compact")]
    path = tmp_path / "gen.jsonl.gz"
    write_jsonl(path, problems)
    for mode in ("paper", "official_compat"):
        res = runner.invoke(app, ["data", "verify", str(path), "--mode", mode, "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["n_verified"] == len(problems)
