"""Stage glue: config loading, count splitting, checkpoint hygiene, test/RL sets generated disjoint."""

import copy
import json

import pytest

from interplay.spec.resolve import resolve
from stages import load, resumable_ckpt
from stages.generate import split_count
from tests.spec.conftest import ROOT


def test_split_count():
    assert split_count(10, {"a": 0.2, "b": 0.8}) == {"a": 2, "b": 8}
    got = split_count(7, {"x": 1.0, "y": 1.0, "z": 1.0})
    assert sum(got.values()) == 7 and max(got.values()) - min(got.values()) <= 1
    assert split_count(0, {"a": 1.0}) == {"a": 0}


def test_load_rejects_bad_configs(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        load([str(tmp_path / "missing.yaml")], "rl")
    assert e.value.code == 2 and "config not found" in capsys.readouterr().err
    (tmp_path / "c.yaml").write_text("kind: evaluate\nname: x\n")
    with pytest.raises(SystemExit) as e:
        load([str(tmp_path / "c.yaml")], "rl")
    assert e.value.code == 2 and "is not rl" in capsys.readouterr().err
    assert load([str(tmp_path / "c.yaml")], ("evaluate",))["name"] == "x"


def test_persisted_checkpoint_is_kept_only_for_the_same_config(tmp_path):
    cfg = {"out": str(tmp_path / "run"), "hash": "aaaa"}
    resumable_ckpt(cfg)
    (tmp_path / "run/ckpt/last.ckpt").write_text("state")
    resumable_ckpt(cfg)  # interrupted and rerun with the same config: resume
    assert (tmp_path / "run/ckpt/last.ckpt").exists()
    resumable_ckpt({**cfg, "hash": "bbbb"})  # config edited: start over
    assert not (tmp_path / "run/ckpt/last.ckpt").exists()
    assert (tmp_path / "run/ckpt/config_hash").read_text().strip() == "bbbb"


def test_test_set_and_rl_pool_are_disjoint(tmp_path):
    from stages import generate

    res = resolve("ci", ROOT)
    test = copy.deepcopy(res.runs["test_main"].config)
    test["out"] = str(tmp_path / "test")
    test["groups"] = [dict(g, count_per_op=3) for g in test["groups"] if g["context"] == "zoo" and g["band"] == "id"]
    generate.run(test)
    index = json.loads((tmp_path / "test/index.json").read_text())
    assert index["files"][0]["path"] == "id.zoo.jsonl" and index["problems"] == 9
    test_ids = [json.loads(line)["id"] for line in (tmp_path / "test/id.zoo.jsonl").read_text().splitlines()]
    assert len(set(test_ids)) == 9

    pool = copy.deepcopy(res.runs["prompts_id_top"].config)
    pool["out"], pool["exclude"], pool["count"] = str(tmp_path / "pool"), [str(tmp_path / "test")], 12
    generate.run(pool)
    rows = [json.loads(line) for line in (tmp_path / "pool/prompts.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and not {r["id"] for r in rows} & set(test_ids)
    assert {r["op"] for r in rows} == set(range(3, 5)) and len({r["id"] for r in rows}) == 12
    assert json.loads((tmp_path / "pool/index.json").read_text())["excluded_ids"] == 9
