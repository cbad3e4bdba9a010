"""Resolve specs + profile (+ params.yaml overrides) into concrete, typed, content-hashed runs.

A run is one artifact-producing job. Its resolved config holds every value the stage needs (bands turned into
ops, sizes from the profile, input paths and their hashes), so the config file is exactly what its DVC stage
depends on: editing one arm changes that arm's config and, through the input hashes, its dependents' configs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from interplay.compute import rl_token_equivalents, split_budget
from interplay.eval.ladder import ladder_contexts
from interplay.spec.load import Specs, load_params, load_profile, load_specs
from interplay.eval.config import EvalConfig
from interplay.knobs import CONTEXTS, RL_METRICS, plain, section
from interplay.spec.schema import Claim, Mix, Operand, Params, Profile, SpecError
from interplay.train.config import LMCfg
from interplay.train.rewards import resolve_verify_mode
from interplay.train.rl_config import RewardConfig, RLCfg

CONFIG_DIR = Path("configs")
ARTIFACT_DIR = Path("artifacts")
REPORT_DIR = Path("reports")

# Run kind = the stage module that runs it (`python -m stages.<kind> CONFIG`).
SECTION_KIND = {"datasets": "generate", "tokenizers": "tokenizer", "pretrain": "pretrain", "midtrain": "midtrain",
                "rl": "rl"}


@dataclass
class Run:
    name: str
    kind: str
    config: dict[str, Any]
    inputs: list[str] = field(default_factory=list)  # names of the runs whose artifacts it reads

    @property
    def out(self) -> str:
        return self.config["out"]


@dataclass
class Resolved:
    profile: Profile
    params: Params
    specs: Specs
    runs: dict[str, Run]  # topological order

    def config_path(self, name: str) -> Path:
        return config_path(self.profile.name, name)

    def closure(self, *names: str) -> list[str]:
        """`names` and every run they depend on, in resolved (topological) order."""
        need, todo = set(), list(names)
        while todo:
            n = todo.pop()
            if n not in need:
                need.add(n)
                todo.extend(self.runs[n].inputs)
        return [n for n in self.runs if n in need]

    def finding_runs(self, finding: str) -> list[str]:
        """The run names a finding needs (its claims/report stages and everything upstream)."""
        return self.closure(f"report_{finding}")


def config_path(profile: str, run: str) -> Path:
    """configs/<profile>/<run>.yaml: the resolved config a run's stage reads."""
    return CONFIG_DIR / profile / f"{run}.yaml"


def stable_seed(*parts: Any) -> int:
    """A seed derived from names: distinct runs get disjoint generator streams, stable across machines."""
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def content_hash(cfg: dict) -> str:
    body = {k: v for k, v in cfg.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def band_ops(profile: Profile, band: str) -> list[int]:
    lo, hi = profile.bands[band]
    return list(range(lo, hi + 1))


def resolve_mix(profile: Profile, mixes: list[Mix]) -> list[dict]:
    """Spec mix -> MixComponent dicts (`ops, weight, context, mode_weights`), weights summing to 1."""
    comps = []
    total = sum(m.weight for m in mixes)
    for m in mixes:
        ops = sorted({op for b in m.bands for op in band_ops(profile, b)})
        split = m.split or [1.0]
        chunks = _chunks(ops, len(split))
        ctx = m.contexts or {c: 1.0 for c in CONTEXTS}
        ctx_total = sum(ctx.values())
        for share, chunk in zip(split, chunks):
            for c, w in ctx.items():
                weight = m.weight / total * share / sum(split) * w / ctx_total
                if weight > 0 and chunk:
                    comps.append({"ops": chunk, "weight": round(weight, 12), "context": c,
                                  "mode_weights": dict(profile.data.mode_weights)})
    return comps


def add_edge_share(profile: Profile, comps: list[dict], share: float) -> list[dict]:
    """Give `share` of the mixture to the edge band's ops that `comps` lack, spread over the contexts (and mode
    weights) in proportion to the context weights of `comps`; the other components keep their relative weights."""
    covered = {op for c in comps for op in c["ops"]}
    missing = [op for op in band_ops(profile, "edge") if op not in covered]
    if share <= 0 or not missing:
        return comps
    ctx: dict[str, float] = {}
    for c in comps:
        ctx[c["context"]] = ctx.get(c["context"], 0.0) + c["weight"]
    total = sum(ctx.values())
    out = [dict(c, weight=round(c["weight"] * (1 - share), 12)) for c in comps]
    out += [{"ops": missing, "weight": round(share * w / total, 12), "context": c,
             "mode_weights": dict(profile.data.mode_weights)} for c, w in ctx.items()]
    return out


def _chunks(ops: list[int], n: int) -> list[list[int]]:
    """Consecutive near-equal chunks (2..10 in 3 -> 2-4, 5-7, 8-10, as the paper's easy/medium/hard)."""
    q, r = divmod(len(ops), n)
    out, i = [], 0
    for j in range(n):
        size = q + (1 if j < r else 0)
        out.append(ops[i:i + size])
        i += size
    return out


class _Resolver:
    def __init__(self, specs: Specs, profile: Profile, params: Params):
        self.specs, self.p, self.params = specs, profile, params
        self.runs: dict[str, Run] = {}
        self.gen = {"render": plain(profile.data.render), "max_distractors": profile.data.max_distractors,
                    "modulus": profile.data.modulus, "number_range": profile.data.number_range}

    # -- helpers
    def config_path(self, name: str) -> Path:
        return config_path(self.p.name, name)

    def art(self, *parts: str) -> str:
        return str(Path(ARTIFACT_DIR, self.p.name, *parts))

    def where(self, name: str) -> str:
        section, stem, _ = self.specs.runs[name]
        return f"{self.specs.paths[stem]}: {section}.{name}"

    def datasets_of(self, purpose: str) -> list[str]:
        """Dataset runs of one purpose (test | rl | heldout), in spec order."""
        return [n for n, (sec, _, r) in self.specs.runs.items() if sec == "datasets" and r.purpose == purpose]

    def base_of(self, name: str) -> str:
        """The pre-trained base a run rests on: an RL or mid-training run's init, followed to its pretrain run."""
        section, _, spec = self.specs.runs[name]
        return name if section == "pretrain" else self.base_of(spec.init)

    def model_dir(self, name: str) -> str:
        return str(Path(self.runs[name].out, "model"))

    def add(self, name: str, kind: str, body: dict, inputs: dict[str, str]) -> Run:
        """Finish a config: common keys, input hashes, params.yaml overrides, content hash."""
        for dep in inputs.values():
            self.ensure(dep)
        cfg = plain({"name": name, "kind": kind, "profile": self.p.name, "hash": "", **body,
                     "inputs": {role: {"run": dep, "hash": self.runs[dep].config["hash"]}
                                for role, dep in inputs.items()}})
        over = self.params.overrides.runs.get(name)
        if over:
            try:
                cfg = OmegaConf.to_container(OmegaConf.merge(OmegaConf.create(cfg), OmegaConf.create(over)))
            except Exception as e:  # noqa: BLE001 - OmegaConf raises several types; report one line
                raise SpecError(f"params.yaml: overrides.runs.{name}: {str(e).splitlines()[0]}") from None
        cfg["hash"] = content_hash(cfg)
        run = Run(name, kind, cfg, sorted(set(inputs.values())))
        self.runs[name] = run
        return run

    def ensure(self, name: str) -> Run:
        if name in self.runs:
            return self.runs[name]
        if name not in self.specs.runs:
            raise SpecError(f"specs: unknown run {name!r}")
        section, _, spec = self.specs.runs[name]
        return getattr(self, f"_{section}")(name, spec)

    # -- run kinds
    def _datasets(self, name: str, d) -> Run:
        seed = stable_seed(self.params.seed, "dataset", name, d.seed_offset)
        exclude = list(d.exclude)
        if d.purpose == "heldout":  # every test set stays out of the held-out ladder set
            exclude += [t for t in self.datasets_of("test") if t not in exclude]
        elif d.purpose == "rl":  # and the held-out set out of every RL pool
            exclude += [h for h in self.datasets_of("heldout") if h not in exclude]
        excl = {f"exclude_{x}": x for x in exclude}
        body: dict[str, Any] = {"out": self.art("data", name), "seed": seed, "purpose": d.purpose, "gen": self.gen,
                                "exclude": [self.art("data", x) for x in exclude]}
        if d.purpose in ("test", "heldout"):
            per_op = self.p.eval.problems_per_op if d.purpose == "test" else self.p.pretrain.ladder_problems_per_op
            seen: dict[int, str] = {}
            for b in d.bands:
                for op in band_ops(self.p, b):
                    if op in seen:
                        raise SpecError(f"{self.where(name)}.bands: bands {seen[op]!r} and {b!r} overlap at op {op} "
                                        f"under profile {self.p.name!r}; test-set bands must be disjoint")
                    seen[op] = b
            body["groups"] = [{"band": b, "context": c, "ops": band_ops(self.p, b),
                               "mode_weights": dict(self.p.data.mode_weights),
                               "count_per_op": per_op} for b in d.bands for c in d.contexts]
        else:
            body["mix"] = resolve_mix(self.p, d.mix)
            body["count"] = self.p.rl.pool
        return self.add(name, "generate", body, excl)

    def _tokenizers(self, name: str, t) -> Run:
        mix = resolve_mix(self.p, [Mix(bands=list(t.bands))])
        n_ops = len({op for c in mix for op in c["ops"]})
        body = {"out": self.art("tokenizer", name), "seed": stable_seed(self.params.seed, "tokenizer", name),
                "tokenizer_kind": self.p.tokenizer.kind, "vocab_size": self.p.tokenizer.vocab_size,
                "sample": {"mix": mix, "count": self.p.tokenizer.sample_per_op * n_ops * len(CONTEXTS),
                           "gen": self.gen}}
        return self.add(name, "tokenizer", body, {})

    def _lm_body(self, name: str, kind: str, spec, tokens: int, lm_cfg, tokenizer: str, init: str | None) -> dict:
        out = self.art(kind, name)
        seed = stable_seed(self.params.seed, kind, name)
        components = resolve_mix(self.p, spec.mix)
        distractors = self.p.data.max_distractors
        if kind == "pretrain":  # the pre-training corpus's own data knobs (None: the data section's)
            components = add_edge_share(self.p, components, self.p.pretrain.edge_share)
            if self.p.pretrain.mode_weights is not None:
                components = [dict(c, mode_weights=dict(self.p.pretrain.mode_weights)) for c in components]
            if self.p.pretrain.max_distractors is not None:
                distractors = self.p.pretrain.max_distractors
        corpus = {"components": components, "token_budget": int(tokens), "seed": seed,
                  "render": self.p.data.render, "max_distractors": distractors,
                  "exclude": [self.art("data", x) for x in self.corpus_exclude(spec)]}
        # `lm` is interplay.train.config.LMRunConfig (run_lm's typed config): the profile's LM section as is,
        # bound to this run; the stage adds `threads`.
        lm = {**section(lm_cfg, LMCfg), "token_budget": int(tokens), "kind": kind, "name": name,
              "model": self.p.model, "tokenizer": self.ensure(tokenizer).out,
              "init": self.model_dir(init) if init else None, "shards": str(Path(out, "corpus")), "seed": seed}
        heldout = self.datasets_of("heldout")
        if kind == "pretrain" and heldout:  # the ladder curve (interplay.train.ladder)
            ho = self.ensure(heldout[0]).config
            bands = {g["band"]: g["ops"] for g in ho["groups"]}
            have = {g["context"] for g in ho["groups"]}
            contexts = [c for c in ladder_contexts(components, band_ops(self.p, "id")) if c in have]
            lm["ladder"] = {"heldout": ho["out"], "every": self.p.pretrain.ladder_every,
                            "bands": bands, "contexts": contexts,
                            "max_new_tokens": self.p.eval.max_new_tokens, "mode": self.p.eval.mode}
        return {"out": out, "seed": seed, "corpus": corpus, "lm": lm}

    def corpus_exclude(self, spec) -> list[str]:
        """Datasets kept out of a training corpus: the spec's `exclude` and the held-out ladder set."""
        return list(spec.exclude) + [h for h in self.datasets_of("heldout") if h not in spec.exclude]

    def _pretrain(self, name: str, s) -> Run:
        self.ensure(s.tokenizer)
        body = self._lm_body(name, "pretrain", s, self.p.pretrain.token_budget, self.p.pretrain, s.tokenizer, None)
        return self.add(name, "pretrain", body,
                        {"tokenizer": s.tokenizer, **{f"exclude_{x}": x for x in self.corpus_exclude(s)}})

    def _tokenizer_of(self, name: str) -> str:
        section, _, spec = self.specs.runs[name]
        return spec.tokenizer if section == "pretrain" else self._tokenizer_of(spec.init)

    def _midtrain(self, name: str, s) -> Run:
        self.ensure(s.init)
        split = self.split(s.budget.beta)
        tokens = split.mid_steps * self.p.midtrain.tokens_per_step
        tok = self._tokenizer_of(s.init)
        body = self._lm_body(name, "midtrain", s, tokens, self.p.midtrain, tok, s.init)
        body["budget"] = {"beta": s.budget.beta, "total_tokens": self.p.budget.total_tokens,
                          "mid_steps": split.mid_steps, "rl_steps": split.rl_steps}
        return self.add(name, "midtrain", body,
                        {"init": s.init, "tokenizer": tok, **{f"exclude_{x}": x for x in self.corpus_exclude(s)}})

    def split(self, beta: float):
        r = self.p.rl
        return split_budget(self.p.budget.total_tokens, beta, mid_tokens_per_step=self.p.midtrain.tokens_per_step,
                            rl_prompts_per_step=r.prompts_per_step, rollouts=r.group_size,
                            l_total=r.max_prompt_tokens + r.max_new_tokens)

    def _rl(self, name: str, s) -> Run:
        self.ensure(s.init)
        self.ensure(s.prompts)
        r = self.p.rl
        out = self.art("rl", name)
        seed = stable_seed(self.params.seed, "rl", name)
        budget = None
        steps = r.steps
        if s.budget is not None:
            split = self.split(s.budget.beta)
            steps = max(1, split.rl_steps)
            budget = {"beta": s.budget.beta, "total_tokens": self.p.budget.total_tokens,
                      "mid_steps": split.mid_steps, "rl_steps": steps}
        l_total = r.max_prompt_tokens + r.max_new_tokens
        # `rl` is interplay.train.rl_config.RLConfig (run_rl's typed config): the profile's RL section as is, bound
        # to this run; the stage adds `threads`.
        reward = section(s.reward, RewardConfig)
        rl = {**section(r, RLCfg), "steps": steps, "init": self.model_dir(s.init),
              "prompts": str(Path(self.runs[s.prompts].out, "prompts.jsonl")),
              "reward": {**reward, "verify_mode": resolve_verify_mode(reward["name"], reward["verify_mode"])},
              "seed": seed, "budget": budget,
              "token_equivalents": rl_token_equivalents(steps * r.prompts_per_step, r.group_size, l_total)}
        return self.add(name, "rl", {"out": out, "seed": seed, "rl": rl}, {"init": s.init, "prompts": s.prompts})

    def evaluation(self, arm: str, testset: str, contexts: list[str] | None = None) -> Run:
        """`arm` on `testset`; restricted to `contexts` (named `..__<contexts>`) when they are not all of its own."""
        ts = self.ensure(testset)
        groups = ts.config["groups"]
        if contexts is not None and set(contexts) >= {g["context"] for g in groups}:
            contexts = None
        name = f"eval_{arm}__{testset}" + (f"__{'_'.join(contexts)}" if contexts else "")
        if name in self.runs:
            return self.runs[name]
        self.ensure(arm)
        groups = [g for g in groups if contexts is None or g["context"] in contexts]
        bands = {g["band"]: g["ops"] for g in groups}
        body = {"out": self.art("eval", name), "seed": stable_seed(self.params.seed, "eval", testset),
                "checkpoint": self.model_dir(arm),
                "testsets": {f"{g['band']}/{g['context']}": str(Path(ts.out, f"{g['band']}.{g['context']}.jsonl"))
                             for g in groups},
                "bands": bands, "eval": section(self.p.eval, EvalConfig), "ladder": asdict(self.p.ladder)}
        return self.add(name, "evaluate", body, {"model": arm, "testset": testset})

    # -- findings
    def finding(self, spec) -> None:
        f = spec.finding
        evals = {}
        for arm in spec.arms:
            for ts in [spec.evaluate.testset, *spec.evaluate.extra]:
                evals[(arm, ts)] = self.evaluation(arm, ts).name
        # The base each arm rests on, evaluated on the finding's test set: its ladder decides whether the claims
        # on it are testable (a context base that is no arm gets this evaluation only for its ladder).
        ts_main = spec.evaluate.testset
        bases = {}
        for b in sorted({self.base_of(a) for a in spec.arms}):
            self.ensure(b)
            lad = self.runs[b].config["lm"].get("ladder") or {}
            have = {g["context"] for g in self.runs[ts_main].config["groups"]}
            contexts = lad.get("contexts") or ladder_contexts(self.runs[b].config["corpus"]["components"],
                                                              band_ops(self.p, "id"))
            contexts = [c for c in contexts if c in have]
            # an arm's own evaluation serves; a base that is no arm is evaluated in its ladder contexts only
            ev = self.evaluation(b, ts_main) if b in spec.arms else self.evaluation(b, ts_main, contexts)
            evals.setdefault((b, ts_main), ev.name)
            bases[b] = {"eval_dir": ev.out, "testset": ts_main, "contexts": contexts,
                        "curve": str(Path(self.runs[b].out, "ladder.csv"))}
        arms = {}
        for arm in spec.arms:
            section = self.specs.runs[arm][0]
            arms[arm] = {"run": arm, "kind": SECTION_KIND[section], "model": self.model_dir(arm),
                         "rl_dir": self.runs[arm].out if section == "rl" else None,
                         "eval_dirs": {ts: self.runs[evals[(arm, ts)]].out for (a, ts) in evals if a == arm}}
        claims = [self.claim(spec, c, arms) for c in spec.claims]
        body = {"out": self.art("claims", f), "report": str(REPORT_DIR / self.p.name / f), "finding": f,
                "seed": stable_seed(self.params.seed, "claims", f),
                "title": spec.title, "paper_ref": spec.paper_ref,
                "decisions": [asdict(d) for d in spec.decisions],
                "departures": [asdict(d) for d in self.p.departures],
                "bands": {b: band_ops(self.p, b) for b in self.p.bands},
                "ladder": {"bands": {b: band_ops(self.p, b) for b in ("id", "edge", "hard")},
                           "thresholds": asdict(self.p.ladder)},
                "bases": bases, "arms": arms, "claims": claims}
        inputs = {f"eval_{i}": n for i, n in enumerate(sorted(set(evals.values())))}
        inputs.update({f"rl_{a}": a for a, v in arms.items() if v["rl_dir"]})
        claims_run = self.add(f"claims_{f}", "claims", body, inputs)
        report = {"out": body["report"], "claims_config": str(self.config_path(claims_run.name)),
                  "verdicts": str(Path(claims_run.out, "verdicts.json"))}
        self.add(f"report_{f}", "report", report,
                 {"claims": claims_run.name, **inputs, **{f"ladder_{b}": b for b in bases}})

    def claim(self, spec, c: Claim, arms: dict) -> dict:
        def operand(op: Operand | None, side: str) -> dict | None:
            if op is None:
                return None
            ts = op.testset or spec.evaluate.testset
            arm = arms[op.arm]
            d: dict[str, Any] = {"arm": op.arm, "metric": op.metric, "k": op.k, "k_spec": op.k, "band": op.band,
                                 "at": op.at, "context": op.context, "testset": ts, "last": op.last,
                                 "eval_dir": arm["eval_dirs"][ts], "rl_dir": arm["rl_dir"], "ops": None}
            if op.metric in RL_METRICS:
                return d
            d["k"] = min(op.k, self.p.eval.n)  # a profile with n < k reports pass@n (recorded as k_spec)
            ts_ops = {o for g in self.runs[ts].config["groups"] for o in g["ops"]}
            ops = band_ops(self.p, op.band) if op.band else sorted(ts_ops)
            if op.at == "top":
                ops = ops[-1:]
            if not set(ops) <= ts_ops:
                raise SpecError(f"{self.specs.paths[self._stem(spec)]}: claims.{c.id}.{side}.band: band {op.band!r}"
                                f" (ops {ops}) is not covered by test set {ts!r} under profile {self.p.name!r}")
            d["ops"] = ops
            return d

        on = sorted({self.base_of(op.arm) for op in (c.lhs, c.rhs) if op is not None})
        return {"id": c.id, "text": c.text, "kind": c.kind, "bases": on, "lhs": operand(c.lhs, "lhs"),
                "rhs": operand(c.rhs, "rhs"), "value": c.value, "margin": c.margin, "paper": asdict(c.paper)}

    def _stem(self, spec) -> str:
        return next(s for s, f in self.specs.files.items() if f is spec)

    def resolve(self) -> dict[str, Run]:
        for name in self.specs.runs:
            self.ensure(name)
        findings = self.specs.findings
        for spec in findings.values():
            self.finding(spec)
        self.add("summary", "summary", {"out": str(REPORT_DIR / self.p.name),
                                        "findings": {f: str(self.runs[f"claims_{f}"].config["out"])
                                                     for f in findings},
                                        "configs": {f: str(self.config_path(f"claims_{f}")) for f in findings}},
                 {**{f"report_{f}": f"report_{f}" for f in findings},
                  **{f"claims_{f}": f"claims_{f}" for f in findings}})
        unknown = sorted(set(self.params.overrides.runs) - set(self.runs))
        if unknown:
            raise SpecError(f"params.yaml: overrides.runs.{unknown[0]}: unknown run under profile {self.p.name!r}")
        return self.runs


def resolve(profile: str | None = None, root: Path = Path("."), params: Params | None = None,
            specs: Specs | None = None) -> Resolved:
    """specs/ + profile (+ params.yaml overrides) -> every run of every finding, typed and hashed."""
    params = params or load_params(root)
    name = profile or params.profile
    prof = load_profile(name, root, params.overrides.profile or None)
    specs = specs or load_specs(root)
    runs = _Resolver(specs, prof, params).resolve()
    return Resolved(prof, params, specs, runs)


def dump_config(cfg: dict) -> str:
    return "# Generated by `interplay pipeline` from specs/ and the profile; do not edit.\n" + yaml.safe_dump(
        plain(cfg), sort_keys=False, default_flow_style=None, width=120)


def write_configs(res: Resolved, root: Path = Path(".")) -> list[Path]:
    """Write configs/<profile>/<run>.yaml; only files whose content changed are touched; stale ones removed."""
    from interplay.io import write_text

    out_dir = root / CONFIG_DIR / res.profile.name
    changed = []
    for name, run in res.runs.items():
        path = root / res.config_path(name)
        text = dump_config(run.config)
        if not path.exists() or path.read_text() != text:
            write_text(path, text)
            changed.append(path)
    for path in out_dir.glob("*.yaml"):
        if path.stem not in res.runs:
            path.unlink()
            changed.append(path)
    return changed


def load_config(path: str | Path) -> dict:
    """Read a resolved run config (what a stage gets)."""
    return yaml.safe_load(Path(path).read_text())


def resolve_all(root: Path = Path(".")) -> dict[str, Resolved]:
    """Every profile: used by `spec validate` and `interplay pipeline` (configs for every profile are committed)."""
    from interplay.spec.load import list_profiles

    params = load_params(root)
    specs = load_specs(root)
    out = {}
    for prof in list_profiles(root):
        # params.yaml overrides apply to the selected profile only
        p = params if prof == params.profile else Params(profile=prof, seed=params.seed, threads=params.threads)
        out[prof] = resolve(prof, root, p, specs)
    return out
