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


def _retarget(obj, old: str, new: str):
    """A config with every path under `old` moved under `new`."""
    if isinstance(obj, dict):
        return {k: _retarget(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_retarget(v, old, new) for v in obj]
    return new + obj[len(old):] if isinstance(obj, str) and obj.startswith(old) else obj


def test_heldout_set_shares_no_problem_with_any_test_set_or_rl_pool(tmp_path):
    """The ci profile's resolved datasets, generated for real: the held-out ladder set is disjoint from every
    test set and every RL pool, and every training corpus excludes it."""
    from stages import excluded_ids, generate

    res = resolve("ci", ROOT)
    data = {n: r for n, r in res.runs.items() if r.kind == "generate"}
    purposes = {n: r.config["purpose"] for n, r in data.items()}
    assert purposes["heldout"] == "heldout" and {"test", "rl"} <= set(purposes.values())
    ids = {}
    for name, run in data.items():  # resolved order is topological: excluded sets are generated first
        generate.run(_retarget(copy.deepcopy(run.config), "artifacts/ci", str(tmp_path)))
        ids[name] = excluded_ids([str(tmp_path / "data" / name)])
        assert ids[name], name
    held = ids["heldout"]
    assert len(held) == 2 * 7 * 3  # ladder_problems_per_op x ops 2-8 x three contexts
    for name, got in ids.items():
        if name != "heldout" and purposes[name] in ("test", "rl"):
            assert not held & got, f"held-out set shares {len(held & got)} problems with {name}"
    for name, run in res.runs.items():
        if run.kind in ("pretrain", "midtrain"):
            assert "artifacts/ci/data/heldout" in run.config["corpus"]["exclude"], name
        if run.kind == "pretrain":
            assert run.config["lm"]["ladder"]["heldout"] == "artifacts/ci/data/heldout", name


def test_every_profile_keeps_the_heldout_set_apart():
    from interplay.spec.resolve import resolve_all

    for prof, res in resolve_all(ROOT).items():
        tests = {n for n, r in res.runs.items() if r.kind == "generate" and r.config["purpose"] == "test"}
        held = res.runs["heldout"]
        assert {f"artifacts/{prof}/data/{t}" for t in tests} <= set(held.config["exclude"]), prof
        for n, r in res.runs.items():
            if r.kind == "generate" and r.config["purpose"] == "rl":
                assert held.out in r.config["exclude"] and "heldout" in r.inputs, (prof, n)
            if r.kind in ("pretrain", "midtrain"):
                assert held.out in r.config["corpus"]["exclude"] and "heldout" in r.inputs, (prof, n)


def test_corpus_workers_follow_the_run():
    """The pretrain stage builds its corpus on every core, except for one-process runs and small corpora."""
    import os

    from stages.pretrain import _PARALLEL_FROM, corpus_workers

    cores = len(os.sched_getaffinity(0))
    assert corpus_workers(_PARALLEL_FROM, 0) == cores and corpus_workers(10 * _PARALLEL_FROM, 2) == cores
    assert corpus_workers(10 * _PARALLEL_FROM, 1) == 1  # `interplay calibrate --jobs`: one core per candidate
    assert corpus_workers(_PARALLEL_FROM - 1, 0) == 1   # the ci profile's 16K tokens: start-up would dominate
