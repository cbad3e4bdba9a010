"""`interplay eval CHECKPOINT ...` and `interplay eval rescore DIR`: both spellings, one-line errors (exit 2)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from interplay.cli import app
from interplay.data.records import write_jsonl
from interplay.data.render import training_text
from .test_evaluate import fake_verify, problems  # noqa: F401  (fixture)

runner = CliRunner()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from interplay.data.tokenizers import train_tokenizer
    from interplay.checkpoint import save_checkpoint
    from interplay.model import build_model

    root = tmp_path_factory.mktemp("cli")
    probs = problems()
    write_jsonl(root / "a.jsonl", probs[:4])
    write_jsonl(root / "b.jsonl", probs[4:])
    tok = train_tokenizer("word", [training_text(p.problem, p.question, p.solution) for p in probs])
    torch.manual_seed(0)
    model = build_model("ci", len(tok))
    save_checkpoint(model, tok, root / "model")  # the package's one checkpoint writer
    return root


def one_line_error(res, needle):
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err, err


def test_eval_and_rescore(ckpt, tmp_path, fake_verify):  # noqa: F811
    out = tmp_path / "ev"
    # `--testset a b` (extra positional test sets) and the bands as named ranges
    res = runner.invoke(app, ["eval", str(ckpt / "model"), "--testset", str(ckpt / "a.jsonl"), str(ckpt / "b.jsonl"),
                              "--bands", "id=2-3,edge=4-4,hard=5-6", "--n", "2", "--max-new-tokens", "6",
                              "--temperature", "0.7", "--out", str(out)])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["n"] == 2 and m["bands"] == {"id": [2, 3], "edge": [4, 4], "hard": [5, 6]}
    assert m["passk"]["overall"]["problems"] == 8 and "ladder" in res.stdout
    res = runner.invoke(app, ["eval", "rescore", str(out), "--mode", "official_compat"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "metrics.json").read_text())["mode"] == "official_compat"
    # repeated --testset spelling
    res = runner.invoke(app, ["eval", str(ckpt / "model"), "--testset", str(ckpt / "a.jsonl"), "--testset",
                              str(ckpt / "b.jsonl"), "--n", "1", "--max-new-tokens", "3", "--no-nll",
                              "--bands", "id,edge", "--out", str(tmp_path / "ev2")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ev2" / "metrics.json").read_text())["nll"] == {}


def test_errors(ckpt, tmp_path):
    model = str(ckpt / "model")
    ts = str(ckpt / "a.jsonl")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text((ckpt / "model" / "config.json").read_text())
    one_line_error(runner.invoke(app, ["eval", str(bare), "--testset", ts, "--out", str(tmp_path / "o")]),
                   "no tokenizer")
    one_line_error(runner.invoke(app, ["eval", model, "--testset", ts, "--bands", "id,weird", "--out",
                                       str(tmp_path / "o")]), "not defined")
    one_line_error(runner.invoke(app, ["eval", model, "--testset", ts, "--n", "0", "--out", str(tmp_path / "o")]),
                   "--n must be >= 1")
    one_line_error(runner.invoke(app, ["eval", model, "--out", str(tmp_path / "o")]), "--testset")
    one_line_error(runner.invoke(app, ["eval", model, "--testset", ts]), "--out")
    one_line_error(runner.invoke(app, ["eval", "rescore", str(tmp_path)]), "not an evaluation")
    one_line_error(runner.invoke(app, ["eval", "rescore"]), "usage")
    one_line_error(runner.invoke(app, ["eval", model, "--testset", ts, "--ks", "1,x", "--out", str(tmp_path / "o")]),
                   "--ks")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("bad, needle", [
    (lambda r: dict(r, problem=None), "`problem` must be a string, got null"),
    (lambda r: {k: v for k, v in r.items() if k != "solution"}, "required field `solution` is missing"),
    (lambda r: dict(r, op="3"), '`op` must be an integer, got "3"'),
    (lambda r: dict(r, question=" "), "`question` is empty"),
    (lambda r: json.dumps(r)[:-1], "not valid JSON"),
    (lambda r: [r], "expected a JSON object, got list"),
    (lambda r: dict(r, graph=None, solution="no steps here"), "cannot derive a gold graph"),
])
@pytest.mark.parametrize("gz", [False, True], ids=["jsonl", "gz"])
def test_bad_test_set_row_names_file_and_line(ckpt, tmp_path, bad, needle, gz):
    import gzip

    rows = [json.loads(line) for line in (ckpt / "a.jsonl").read_text().splitlines()]
    rows[2] = bad(rows[2])
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    path = tmp_path / ("t.jsonl.gz" if gz else "t.jsonl")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    res = runner.invoke(app, ["eval", str(ckpt / "model"), "--testset", str(path), "--out", str(tmp_path / "o")])
    one_line_error(res, f"error: test set {path}, line 3: ")
    assert needle in res.stderr
    assert not (tmp_path / "o").exists()
