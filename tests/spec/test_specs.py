"""Every shipped spec validates under every profile, and resolution means what the paper says."""

import pytest

from interplay.spec.load import list_profiles, load_specs
from interplay.spec.resolve import _chunks, resolve, resolve_all, resolve_mix
from tests.spec.conftest import ROOT

PROFILES = ["ci", "cpu", "gpu", "paper"]


@pytest.fixture(scope="module")
def resolved():
    return resolve_all(ROOT)


def test_every_profile_resolves_the_same_runs(resolved):
    assert sorted(resolved) == PROFILES == list_profiles(ROOT)
    names = {p: list(r.runs) for p, r in resolved.items()}
    assert all(n == names["cpu"] for n in names.values())
    specs = load_specs(ROOT)
    assert list(specs.findings) == ["extrapolation", "context", "midtraining", "reward"]
    for f, spec in specs.findings.items():
        assert spec.claims and spec.decisions, f
    # shared runs exist once: the base model and the edge RL arm serve findings 1, 3 and 4
    res = resolved["cpu"]
    users = {f: set(res.finding_runs(f)) for f in specs.findings}
    assert "base" in users["extrapolation"] & users["midtraining"] & users["reward"]
    assert "rl_edge" in users["extrapolation"] & users["reward"]
    assert "base" not in users["context"]


def test_run_configs_load_into_the_training_schemas(resolved):
    from interplay.train.config import load_config
    from interplay.train.rl_config import load_rl_config

    for res in resolved.values():
        for run in res.runs.values():
            if run.kind in ("pretrain", "midtrain"):
                load_config(run.config["lm"])
            elif run.kind == "rl":
                load_rl_config(run.config["rl"])


def test_paper_profile_reproduces_table3(resolved):
    runs = resolved["paper"].runs
    # T = 2.10B token-equivalents: (mid steps, RL steps) per beta, Table 3 row 2
    assert runs["mid_full"].config["budget"]["mid_steps"] == 4000
    for mid, rl, (m, r) in [("mid_b02", "rl_light", (3200, 20)), ("mid_b05", "rl_medium", (2000, 50)),
                            ("mid_b08", "rl_heavy", (800, 80))]:
        assert runs[mid].config["budget"]["mid_steps"] == m
        assert runs[mid].config["lm"]["token_budget"] == m * 524_288
        assert runs[rl].config["rl"]["steps"] == r
    assert runs["rl_full"].config["rl"]["steps"] == 100
    assert runs["rl_edge"].config["rl"]["steps"] == 200
    assert resolved["paper"].profile.departures == []


def test_bands_bind_to_ops_per_profile(resolved):
    paper, ci = resolved["paper"].runs, resolved["ci"].runs
    comps = paper["base"].config["corpus"]["components"]
    by_ops = {}
    for c in comps:
        by_ops[tuple(c["ops"])] = by_ops.get(tuple(c["ops"]), 0) + c["weight"]
    assert by_ops == pytest.approx({(2, 3, 4): 0.2, (5, 6, 7): 0.3, (8, 9, 10): 0.5})
    assert {c["context"] for c in comps} == {"zoo", "teachers", "festival"}
    groups = paper["test_main"].config["groups"]
    assert {g["band"]: g["ops"] for g in groups} == {"id": list(range(2, 11)), "edge": [11, 12, 13, 14],
                                                     "hard": list(range(15, 21))}
    rl = {c["context"]: c["weight"] for c in paper["prompts_ctx"].config["mix"]}
    assert rl == {"zoo": 0.5, "teachers": 0.5}
    seed = {tuple(c["ops"]): (c["context"], c["weight"]) for c in paper["base_ctx1"].config["corpus"]["components"]}
    assert seed[(2,)] == ("teachers", pytest.approx(0.01))
    # claims: band -> ops, `at: top` -> the highest op, k capped at the profile's n
    claim = next(c for c in ci["claims_context"].config["claims"] if c["id"] == "seed1_beats_seed01_top")
    assert claim["lhs"]["ops"] == [8] and claim["lhs"]["k"] == 4 and claim["lhs"]["k_spec"] == 128
    claim = next(c for c in paper["claims_context"].config["claims"] if c["id"] == "seed1_beats_seed01_top")
    assert claim["lhs"]["ops"] == [20] and claim["lhs"]["k"] == 128
    assert claim["lhs"]["eval_dir"] == "artifacts/paper/eval/eval_rl_ctx1__test_context"


def test_resolution_is_deterministic():
    a, b = resolve("cpu", ROOT), resolve("cpu", ROOT)
    assert {n: r.config for n, r in a.runs.items()} == {n: r.config for n, r in b.runs.items()}
    hashes = [r.config["hash"] for r in a.runs.values()]
    assert len(set(hashes)) == len(hashes)


def test_datasets_use_disjoint_seeds_and_exclude_test_sets(resolved):
    runs = resolved["cpu"].runs
    data = [r for r in runs.values() if r.kind == "generate"]
    assert len({r.config["seed"] for r in data}) == len(data)
    for r in data:
        if r.config["purpose"] == "rl":
            assert r.config["exclude"], r.name
    assert runs["base"].config["corpus"]["exclude"] == ["artifacts/cpu/data/test_main", "artifacts/cpu/data/heldout"]


def test_mix_helpers():
    assert _chunks(list(range(2, 11)), 3) == [[2, 3, 4], [5, 6, 7], [8, 9, 10]]
    assert _chunks([2, 3, 4, 5], 3) == [[2, 3], [4], [5]]
    prof = resolve("ci", ROOT).profile
    from interplay.spec.schema import Mix

    comps = resolve_mix(prof, [Mix(bands=["id"], weight=0.2, contexts={"zoo": 1}),
                               Mix(bands=["edge"], weight=0.8, contexts={"zoo": 1})])
    assert [(c["ops"], c["weight"]) for c in comps] == [([2, 3, 4], 0.2), ([5, 6], 0.8)]


def test_edge_share_adds_only_missing_edge_ops():
    from interplay.spec.resolve import add_edge_share
    from interplay.spec.schema import Mix

    prof = resolve("ci", ROOT).profile  # edge = 5-6
    comps = resolve_mix(prof, [Mix(bands=["id"], split=[0.2, 0.8], contexts={"zoo": 3, "teachers": 1})])
    assert add_edge_share(prof, comps, 0.0) == comps
    out = add_edge_share(prof, comps, 0.1)
    assert abs(sum(c["weight"] for c in out) - 1.0) < 1e-9
    added = out[len(comps):]
    assert [c["ops"] for c in added] == [[5, 6], [5, 6]]
    assert {c["context"]: c["weight"] for c in added} == pytest.approx({"zoo": 0.075, "teachers": 0.025})
    assert [c["weight"] for c in out[:len(comps)]] == pytest.approx([0.9 * c["weight"] for c in comps])
    # a mix that already covers the edge band (the context bases) is left alone
    full = resolve_mix(prof, [Mix(bands=["id", "edge", "hard"], contexts={"zoo": 1})])
    assert add_edge_share(prof, full, 0.1) == full
    # through the resolver: the §3 base gets the share, a mid-training run does not
    from interplay.spec.load import load_params

    params = load_params(ROOT)
    params.overrides.profile = {"pretrain": {"edge_share": 0.05}}
    runs = resolve("ci", ROOT, params=params).runs
    base_ops = {op for c in runs["base"].config["corpus"]["components"] for op in c["ops"]}
    assert {5, 6} <= base_ops
    edge_w = sum(c["weight"] for c in runs["base"].config["corpus"]["components"] if c["ops"] == [5, 6])
    assert edge_w == pytest.approx(0.05)
    plain = resolve("ci", ROOT).runs
    assert plain["mid_full"].config["corpus"] == runs["mid_full"].config["corpus"]


def test_pretrain_data_knobs_change_only_pretraining_corpora():
    """`pretrain.mode_weights` / `pretrain.max_distractors` set the forward/reverse mix and the distractor cap of
    every pre-training corpus; test sets, RL pools and mid-training corpora keep the `data` section's."""
    from interplay.spec.load import load_params

    plain = resolve("ci", ROOT).runs
    params = load_params(ROOT)
    params.overrides.profile = {"pretrain": {"mode_weights": {"forward": 0.75, "reverse": 0.25}}}
    runs = resolve("ci", ROOT, params=params).runs
    pre = [n for n, r in runs.items() if r.kind == "pretrain"]
    assert pre and all(c["mode_weights"] == {"forward": 0.75, "reverse": 0.25}
                       for n in pre for c in runs[n].config["corpus"]["components"])
    assert all(c["mode_weights"] == {"forward": 0.5, "reverse": 0.5}
               for n in pre for c in plain[n].config["corpus"]["components"])
    params.overrides.profile["pretrain"]["max_distractors"] = 4
    runs = resolve("ci", ROOT, params=params).runs
    assert all(runs[n].config["corpus"]["max_distractors"] == 4 for n in pre)
    kinds = {r.kind for r in runs.values()}
    assert {"generate", "midtrain"} <= kinds
    for n, r in runs.items():  # test sets, RL pools and mid-training corpora are as without the knob
        if r.kind == "generate":
            assert r.config == plain[n].config, n
        elif r.kind == "midtrain":
            assert r.config["corpus"] == plain[n].config["corpus"], n
