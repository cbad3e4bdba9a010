"""JSONL records: content ids, atomic reproducible writes, round trips, and official-schema rows."""

from __future__ import annotations

import gzip
import json

import pytest

from interplay.data.generator import GenConfig, generate, generate_many
from interplay.data.records import content_id, load_problems, problem_from_record, read_jsonl, write_jsonl

FIELDS = {"problem", "question", "solution", "op", "id", "template", "mode", "answer", "render", "graph"}


def _problems():
    out = []
    for mode in ("forward", "reverse"):
        for render in ("paper", "compact"):
            out += list(generate_many(GenConfig(op=7, mode=mode, context="teachers", render=render), 0, 5))
    return out


@pytest.mark.parametrize("name", ["p.jsonl", "p.jsonl.gz"])
def test_round_trip(tmp_path, name):
    probs = _problems()
    path = tmp_path / name
    assert write_jsonl(path, probs) == len(probs)
    rows = read_jsonl(path)
    assert [set(r) for r in rows] == [FIELDS] * len(probs)
    assert rows == [json.loads(json.dumps(p.to_record())) for p in probs]
    back = load_problems(path)
    assert back == probs  # dataclass equality: every field incl. the gold graph
    assert [p.graph.query for p in back] == [p.graph.query for p in probs]
    if name.endswith(".gz"):
        with gzip.open(path, "rt") as f:
            assert f.readline().startswith("{")
    # only the final file, no temp leftovers
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_reproducible_bytes_and_dicts(tmp_path):
    probs = _problems()
    write_jsonl(tmp_path / "a.jsonl.gz", probs)
    write_jsonl(tmp_path / "b.jsonl.gz", [p.to_record() for p in probs])
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_failed_write_leaves_nothing(tmp_path):
    def rows():
        yield generate(GenConfig(op=3), 0, 0)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(tmp_path / "x.jsonl", rows())
    assert list(tmp_path.iterdir()) == []


def test_content_id_canonical():
    a = content_id("The number of x equals 2. ", "What?", "Answer: 2.")
    assert a == content_id("The number  of x equals 2.", " What?", "Answer: 2.\n")
    assert a != content_id("The number of x equals 3.", "What?", "Answer: 2.")
    assert len(a) == 16 and int(a, 16) >= 0


OFFICIAL_ROW = {  # an official generator output (forward, zoo, op 5) in the official dataset schema
    "problem": "The number of adult racoon in Maple Creek equals 3. The number of adult wolf in Maple Creek equals 3 "
               "times the number of adult racoon in Maple Creek. ",
    "question": "What is the total number of adult animals in Maple Creek?",
    "solution": "Define adult racoon in Maple Creek as w; so w = 3. Define adult wolf in Maple Creek as s; S = w = 3; so "
                "s = 3 * S = 3 * 3 = 9. Define total number of adult animals in Maple Creek as P; so P = w + s = 3 + 9 "
                "= 12. Answer: 12.",
    "op": 5, "id": "7_p3", "template": "crazy_zootopia", "mode": "normalforward", "length": "zero_context", "d": 2,
}


def test_load_official_schema_row(tmp_path):
    path = tmp_path / "official.jsonl"
    write_jsonl(path, [OFFICIAL_ROW])
    (p,) = load_problems(path)
    assert p.mode == "forward" and p.op == 5 and p.answer == 12 and p.template == "crazy_zootopia"
    assert p.id == content_id(OFFICIAL_ROW["problem"], OFFICIAL_ROW["question"], OFFICIAL_ROW["solution"])
    assert p.extra == {"source_id": "7_p3"}
    by = p.graph.by_name()
    assert p.graph.order == ["adult racoon in Maple Creek", "adult wolf in Maple Creek",
                             "total number of adult animals in Maple Creek"]
    assert by["adult wolf in Maple Creek"].parents == ("adult racoon in Maple Creek",)
    assert by["total number of adult animals in Maple Creek"].parents == ("adult racoon in Maple Creek",
                                                                          "adult wolf in Maple Creek")
    assert [n.value for n in p.graph.nodes] == [3, 9, 12]
    assert p.graph.query == "total number of adult animals in Maple Creek" and p.graph.answer == 12


def test_official_row_matches_our_graph():
    """Our own rows, stripped to the official schema, parse back to the same gold graph."""
    for mode in ("forward", "reverse"):
        for i in range(5):
            p = generate(GenConfig(op=9, mode=mode), 2, i)
            rec = {k: v for k, v in p.to_record().items() if k not in ("graph", "answer", "render")}
            rec["mode"] = {"forward": "normalforward", "reverse": "forwardreverse"}[mode]
            q = problem_from_record(rec)
            assert q.answer == p.answer and q.id == p.id
            assert [(n.name, n.parents, n.value) for n in q.graph.nodes] == \
                   [(n.name, n.parents, n.value) for n in p.graph.nodes]
            assert q.graph.query == p.graph.query
