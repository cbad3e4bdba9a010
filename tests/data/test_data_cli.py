"""`interplay data generate | show | stats` through the root Typer app."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from interplay.cli import app
from interplay.data.generator import COMPACT_MAX_DISTRACTORS
from interplay.data.records import read_jsonl

runner = CliRunner()


def test_generate_show_stats(tmp_path):
    out = tmp_path / "op6.jsonl.gz"
    r = runner.invoke(app, ["data", "generate", "--op", "6", "--mode", "reverse", "--context", "festival",
                            "--count", "7", "--seed", "3", "--render", "compact", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = read_jsonl(out)
    assert len(rows) == 7 and len({x["id"] for x in rows}) == 7
    assert {(x["op"], x["mode"], x["template"], x["render"]) for x in rows} == {
        (6, "reverse", "movie_festival_awards", "compact")}

    r = runner.invoke(app, ["data", "show", str(out), "-n", "2"])
    assert r.exit_code == 0, r.output
    assert r.output.count("question:") == 2 and rows[0]["id"] in r.output

    r = runner.invoke(app, ["data", "stats", str(out)])
    assert r.exit_code == 0, r.output
    assert "reverse" in r.output and "festival" in r.output and "7" in r.output


def test_generate_is_deterministic_and_caps_compact(tmp_path):
    args = ["data", "generate", "--op", "4", "--count", "5", "--seed", "1", "--render", "compact"]
    a, b, full = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "full.jsonl"
    assert runner.invoke(app, args + ["--out", str(a)]).exit_code == 0
    assert runner.invoke(app, args + ["--out", str(b)]).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    assert runner.invoke(app, args + ["--out", str(full), "--max-distractors", "-1"]).exit_code == 0
    capped, every = read_jsonl(a), read_jsonl(full)
    assert all(c["solution"] == e["solution"] for c, e in zip(capped, every))
    assert sum(c["problem"].count(" .") for c in capped) <= sum(e["problem"].count(" .") for e in every)
    assert COMPACT_MAX_DISTRACTORS >= 0


@pytest.mark.parametrize("args", [
    ["--op", "1"],
    ["--op", "5", "--context", "mars"],
    ["--op", "5", "--mode", "sideways"],
    ["--op", "5", "--render", "html"],
    ["--op", "5", "--count", "0"],
    ["--op", "5", "--count", "-3"],
])
def test_generate_bad_input(tmp_path, args):
    out = tmp_path / "x.jsonl"
    r = runner.invoke(app, ["data", "generate", *args, "--out", str(out)] + ([] if "--count" in args else ["--count", "2"]))
    assert r.exit_code == 2
    err = r.stderr.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("cmd", ["show", "stats"])
def test_missing_file(tmp_path, cmd):
    r = runner.invoke(app, ["data", cmd, str(tmp_path / "nope.jsonl")])
    assert r.exit_code == 2 and r.stderr.strip().startswith("error: no such file")


def test_stats_with_tokenizer(tmp_path):
    import interplay.data.tokenizers as tokenizers
    from interplay.data.generator import GenConfig, generate_many
    from interplay.data.records import write_jsonl
    from interplay.data.render import training_text

    probs = list(generate_many(GenConfig(op=3, render="compact"), 0, 10))
    write_jsonl(tmp_path / "p.jsonl", probs)
    tok = tokenizers.train_tokenizer("word", [training_text(p.problem, p.question, p.solution) for p in probs], 400)
    tokenizers.save_tokenizer(tok, tmp_path / "tok")
    r = runner.invoke(app, ["data", "stats", str(tmp_path / "p.jsonl"), "--tokenizer", str(tmp_path / "tok")])
    assert r.exit_code == 0, r.output
    assert "in tokens incl. EOS" in r.output
    r = runner.invoke(app, ["data", "stats", str(tmp_path / "p.jsonl"), "--tokenizer", str(tmp_path / "missing")])
    assert r.exit_code == 2 and r.stderr.startswith("error: cannot load tokenizer")
