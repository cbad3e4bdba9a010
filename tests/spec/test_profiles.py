"""Every shipped profile loads and resolves, every run config loads through its run type, and every field of every
profile reaches the run configs that use it, with its value (one schema per knob: interplay.knobs, spec.schema)."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from interplay.eval.config import EvalConfig
from interplay.knobs import CONTEXTS, plain
from interplay.spec.load import list_profiles, load_specs
from interplay.spec.resolve import band_ops, resolve, resolve_mix
from interplay.spec.schema import Params, Profile
from interplay.train.config import LMCfg, load_config
from interplay.train.rl_config import RLCfg, load_rl_config

ROOT = Path(__file__).resolve().parents[2]
PROFILES = list_profiles(ROOT)
# profile fields that are no run's input, with the reason
NOT_A_RUN_KNOB = {"description": "one line for people (`interplay spec profiles`)",
                  "midtrain.token_budget": "mid-training tokens come from budget.total_tokens and each run's beta"}


@pytest.fixture(scope="module")
def resolved():
    specs = load_specs(ROOT)
    return {p: resolve(p, ROOT, Params(profile=p), specs) for p in PROFILES}


def profile_fields() -> list[str]:
    """Dotted names of every leaf field of a profile (one level into the section dataclasses)."""
    out = []
    for f in dataclasses.fields(Profile):
        sub = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(sub):
            out += [f"{f.name}.{g.name}" for g in dataclasses.fields(sub)]
        else:
            out.append(f.name)
    return out


def reached(prof: Profile, res) -> dict[str, list[tuple]]:
    """Field -> [(value in a run config, the profile's value)] over every run config that uses the field."""
    def cfgs(kind: str, purpose: str | None = None) -> list[dict]:
        return [r.config for r in res.runs.values()
                if r.kind == kind and (purpose is None or r.config.get("purpose") == purpose)]

    def lm_runs(kind):
        return [c["lm"] for c in cfgs(kind)]

    pre, mid, rl, ev = prof.pretrain, prof.midtrain, prof.rl, prof.eval
    out: dict[str, list[tuple]] = {}
    for f in dataclasses.fields(LMCfg):
        out[f"pretrain.{f.name}"] = [(lm[f.name], plain(getattr(pre, f.name))) for lm in lm_runs("pretrain")]
        if f.name != "token_budget":
            out[f"midtrain.{f.name}"] = [(lm[f.name], plain(getattr(mid, f.name))) for lm in lm_runs("midtrain")]
    out["pretrain.ladder_every"] = [(lm["ladder"]["every"], pre.ladder_every) for lm in lm_runs("pretrain")]
    out["pretrain.ladder_problems_per_op"] = [(g["count_per_op"], pre.ladder_problems_per_op)
                                              for c in cfgs("generate", "heldout") for g in c["groups"]]
    edge = set(band_ops(prof, "edge"))
    out["pretrain.edge_share"] = [  # the share on edge ops, in every base whose spec mix lacks some edge op
        (pytest.approx(sum(m["weight"] for m in c["corpus"]["components"] if set(m["ops"]) <= edge)), pre.edge_share)
        for c in cfgs("pretrain")
        if edge - {o for m in resolve_mix(prof, res.specs.runs[c["name"]][2].mix) for o in m["ops"]}]
    pre_modes = plain(pre.mode_weights if pre.mode_weights is not None else prof.data.mode_weights)
    out["pretrain.mode_weights"] = [(m["mode_weights"], pre_modes)
                                    for c in cfgs("pretrain") for m in c["corpus"]["components"]]
    pre_distractors = pre.max_distractors if pre.max_distractors is not None else prof.data.max_distractors
    out["pretrain.max_distractors"] = [(c["corpus"]["max_distractors"], pre_distractors) for c in cfgs("pretrain")]
    for f in dataclasses.fields(RLCfg):
        if f.name != "steps":
            out[f"rl.{f.name}"] = [(c["rl"][f.name], plain(getattr(rl, f.name))) for c in cfgs("rl")]
    out["rl.steps"] = [(c["rl"]["steps"], rl.steps) for c in cfgs("rl") if c["rl"]["budget"] is None]
    out["rl.pool"] = [(c["count"], rl.pool) for c in cfgs("generate", "rl")]
    for f in dataclasses.fields(EvalConfig):
        out[f"eval.{f.name}"] = [(c["eval"][f.name], plain(getattr(ev, f.name))) for c in cfgs("evaluate")]
    out["eval.problems_per_op"] = [(g["count_per_op"], ev.problems_per_op)
                                   for c in cfgs("generate", "test") for g in c["groups"]]
    gens = cfgs("generate") + [c["sample"] for c in cfgs("tokenizer")]
    for f in ("render", "max_distractors", "modulus", "number_range"):
        out[f"data.{f}"] = [(c["gen"][f], plain(getattr(prof.data, f))) for c in gens]
    out["data.mode_weights"] = [(g["mode_weights"], plain(prof.data.mode_weights))
                                for c in cfgs("generate") for g in c.get("groups", []) + c.get("mix", [])]
    toks = cfgs("tokenizer")
    out["tokenizer.kind"] = [(c["tokenizer_kind"], plain(prof.tokenizer.kind)) for c in toks]
    out["tokenizer.vocab_size"] = [(c["vocab_size"], prof.tokenizer.vocab_size) for c in toks]
    out["tokenizer.sample_per_op"] = [
        (c["sample"]["count"], prof.tokenizer.sample_per_op * len({o for m in c["sample"]["mix"] for o in m["ops"]})
         * len(CONTEXTS)) for c in toks]
    out["budget.total_tokens"] = [(c["budget"]["total_tokens"], prof.budget.total_tokens) for c in cfgs("midtrain")]
    for f in dataclasses.fields(prof.ladder):
        want = getattr(prof.ladder, f.name)
        out[f"ladder.{f.name}"] = ([(c["ladder"][f.name], want) for c in cfgs("evaluate")]
                                   + [(c["ladder"]["thresholds"][f.name], want) for c in cfgs("claims")])
    out["model"] = [(lm["model"], prof.model) for lm in lm_runs("pretrain") + lm_runs("midtrain")]
    out["bands"] = [(c["bands"], {b: band_ops(prof, b) for b in prof.bands}) for c in cfgs("claims")]
    out["departures"] = [(c["departures"], [asdict(d) for d in prof.departures]) for c in cfgs("claims")]
    out["name"] = [(r.config["profile"], prof.name) for r in res.runs.values()]
    return out


def test_every_profile_field_has_a_destination():
    """A new profile field fails here until the resolver passes it on (and `reached` says where)."""
    have = set(reached(Profile(name="x", bands={"edge": [2, 2]}), _Empty()))
    assert set(profile_fields()) - set(NOT_A_RUN_KNOB) == have


class _Empty:
    runs: dict = {}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_field_reaches_its_runs(resolved, profile):
    res = resolved[profile]
    for key, pairs in reached(res.profile, res).items():
        assert pairs, f"{profile}: {key}: no run config uses it"
        for got, want in pairs:
            assert got == want, f"{profile}: {key}: run config has {got!r}, profile {want!r}"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_run_loads_through_its_type(resolved, profile):
    """Every shipped profile resolves every run of every finding, and each run config is a valid run type."""
    res = resolved[profile]
    kinds = {r.kind for r in res.runs.values()}
    assert {"generate", "tokenizer", "pretrain", "midtrain", "rl", "evaluate", "claims", "report"} <= kinds
    for run in res.runs.values():
        c = run.config
        if run.kind in ("pretrain", "midtrain"):
            lm = load_config({**c["lm"], "devices": c["lm"]["devices"] or 1})
            assert lm.token_budget == c["lm"]["token_budget"] and isinstance(lm.packing, str)
        elif run.kind == "rl":
            rl = load_rl_config(c["rl"])
            assert OmegaConf.to_container(rl)["lr"] == res.profile.rl.lr
        elif run.kind == "evaluate":
            assert EvalConfig(**c["eval"]).n == res.profile.eval.n


def test_midtrain_token_budget_is_refused(tmp_path):
    import shutil

    from interplay.spec.load import load_profile
    from interplay.spec.schema import SpecError

    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    p = tmp_path / "specs/profiles/ci.yaml"
    p.write_text(p.read_text().replace("midtrain:\n", "midtrain:\n  token_budget: 4096\n"))
    with pytest.raises(SpecError, match=r"ci.yaml: midtrain.token_budget: .*budget.total_tokens"):
        load_profile("ci", tmp_path)
