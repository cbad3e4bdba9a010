"""Load specs, profiles and params.yaml into typed objects; every error is one line naming file and key."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from interplay.knobs import BANDS, RL_METRICS, range_text
from interplay.spec.schema import RUN_SECTIONS, Operand, Params, Profile, SpecError, SpecFile

RUN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SPEC_DIR = Path("specs")
PROFILE_DIR = SPEC_DIR / "profiles"
SHARED_SPEC = "runs"  # specs/runs.yaml: runs shared by several findings
FINDINGS = ("extrapolation", "context", "midtraining", "reward")  # report order (paper §3-6)


def _typed(schema: type, data: Any, where: str):
    """Merge raw YAML data onto a structured schema; map OmegaConf's errors to one line."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.create(data))
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        key = _locate(data, e) or getattr(e, "full_key", None) or "?"
        msg = str(getattr(e, "msg", e)).splitlines()[0]
        raise SpecError(f"{where}: {key}: {msg}") from None


def _locate(data: Any, e: OmegaConfBaseException) -> str | None:
    """The full path of the failing key in the raw YAML (OmegaConf drops the prefix inside list elements)."""
    key, full = getattr(e, "key", None), getattr(e, "full_key", None)
    if key is None:
        return None
    value = getattr(e, "value", None)
    hits: list[str] = []

    def walk(node: Any, path: str) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for k, v in items:
            p = f"{path}[{k}]" if isinstance(node, list) else (f"{path}.{k}" if path else str(k))
            if str(k) == str(key) and (value is None or v == value):
                hits.append(p)
            walk(v, p)

    walk(data, "")
    exact = [h for h in hits if full and h.endswith(str(full))]
    return (exact or hits or [None])[0]


def check_ranges(obj: Any, where: str, prefix: str = "", origin: dict[str, tuple[str, str]] | None = None) -> None:
    """Every `knob` field of a typed spec/profile/params object within its range (schema.knob), recursively.

    `origin` maps a dotted key to the file and key it really came from (params.yaml overrides)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            check_ranges(v, where, f"{prefix}.{k}" if prefix else str(k), origin)
        return
    if isinstance(obj, list):
        for i, v in enumerate(obj):
            check_ranges(v, where, f"{prefix}[{i}]", origin)
        return
    if not dataclasses.is_dataclass(obj):
        return
    for f in dataclasses.fields(obj):
        key, value = f"{prefix}.{f.name}" if prefix else f.name, getattr(obj, f.name)
        rng = f.metadata.get("range")
        if rng:
            items = (value.items() if isinstance(value, dict) else
                     ((f"[{i}]", v) for i, v in enumerate(value)) if isinstance(value, list) else [("", value)])
            for sub, v in items:
                if v is None or _within(v, rng):
                    continue
                full = f"{key}{sub}" if not sub or sub.startswith("[") else f"{key}.{sub}"
                file, shown = (origin or {}).get(full, (where, full))
                got = f"{v:g}" if isinstance(v, float) else repr(v)
                raise SpecError(f"{file}: {shown}: must be {range_text(rng)}, got {got}")
        check_ranges(value, where, key, origin)


def _within(v: float, rng: dict) -> bool:
    return (("gt" not in rng or v > rng["gt"]) and ("ge" not in rng or v >= rng["ge"])
            and ("le" not in rng or v <= rng["le"]))  # NaN is within nothing


def _dotted(d: Any, prefix: str = "") -> list[str]:
    """The dotted leaf keys of a nested mapping."""
    if not isinstance(d, dict):
        return [prefix]
    return [k for key, v in d.items() for k in _dotted(v, f"{prefix}.{key}" if prefix else str(key))]


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise SpecError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        raise SpecError(f"{path}: {line}{str(getattr(e, 'problem', e)).strip()}") from None


def load_params(root: Path = Path(".")) -> Params:
    path = root / "params.yaml"
    params = _typed(Params, _read_yaml(path) if path.exists() else {}, str(path))
    check_ranges(params, str(path))
    return params


def list_profiles(root: Path = Path(".")) -> list[str]:
    return sorted(p.stem for p in (root / PROFILE_DIR).glob("*.yaml"))


def load_profile(name: str, root: Path = Path("."), overrides: dict | None = None) -> Profile:
    path = root / PROFILE_DIR / f"{name}.yaml"
    if not path.is_file():
        raise SpecError(f"{path}: unknown profile {name!r} (have: {', '.join(list_profiles(root))})")
    data = _read_yaml(path)
    if overrides:  # params.yaml `overrides.profile` (e.g. `dvc exp run -S +overrides.profile.rl.steps=5`)
        data = OmegaConf.to_container(OmegaConf.merge(OmegaConf.create(data), OmegaConf.create(overrides)))
    prof: Profile = _typed(Profile, data, str(path))
    origin = {k: (str(root / "params.yaml"), f"overrides.profile.{k}") for k in _dotted(overrides or {})}
    if "token_budget" in ((data or {}).get("midtrain") or {}):
        file, shown = origin.get("midtrain.token_budget", (str(path), "midtrain.token_budget"))
        raise SpecError(f"{file}: {shown}: mid-training tokens come from budget.total_tokens and each run's "
                        "budget.beta; remove it")
    check_ranges(prof, str(path), origin=origin)
    for key in ("pretrain", "midtrain"):
        lm = getattr(prof, key)
        if lm.min_lr > lm.lr:
            file, shown = origin.get(f"{key}.min_lr", (str(path), f"{key}.min_lr"))
            raise SpecError(f"{file}: {shown}: must be at most {key}.lr ({lm.lr:g}), got {lm.min_lr:g}")
    if prof.name != name:
        raise SpecError(f"{path}: name: profile file declares name {prof.name!r}, expected {name!r}")
    for band in BANDS:
        if band not in prof.bands:
            raise SpecError(f"{path}: bands.{band}: band not bound to an op range")
    for band, rng in prof.bands.items():
        if band not in BANDS:
            raise SpecError(f"{path}: bands.{band}: unknown band (known: {', '.join(BANDS)})")
        if len(rng) != 2 or not 2 <= rng[0] <= rng[1]:
            raise SpecError(f"{path}: bands.{band}: expected [lo, hi] with 2 <= lo <= hi, got {list(rng)}")
    if prof.rl.prompts_per_step % prof.rl.mini_batches:
        raise SpecError(f"{path}: rl.mini_batches: must divide rl.prompts_per_step ({prof.rl.prompts_per_step})")
    lad = prof.ladder
    for key, v in vars(lad).items():
        if not 0.0 <= v <= 1.0:
            raise SpecError(f"{path}: ladder.{key}: a pass rate in [0, 1], got {v}")
    if lad.edge_pass1_min > lad.edge_pass1_max or lad.edge_passk_min > lad.edge_passk_max:
        raise SpecError(f"{path}: ladder: an edge range has min > max")
    if prof.pretrain.ladder_every < 0 or prof.pretrain.ladder_problems_per_op < 1:
        raise SpecError(f"{path}: pretrain.ladder_every must be >= 0 and pretrain.ladder_problems_per_op >= 1")
    for i, dep in enumerate(prof.departures):
        if not (dep.key and dep.reason):
            raise SpecError(f"{path}: departures[{i}]: every departure needs a key and a one-line reason")
    return prof


@dataclass
class Specs:
    """All spec files, with the file each run name was defined in."""

    files: dict[str, SpecFile] = field(default_factory=dict)  # stem -> spec
    paths: dict[str, Path] = field(default_factory=dict)
    runs: dict[str, tuple[str, str, Any]] = field(default_factory=dict)  # name -> (section, file stem, spec)

    @property
    def findings(self) -> dict[str, SpecFile]:
        order = {f: i for i, f in enumerate(FINDINGS)}
        found = {s.finding: s for s in self.files.values() if s.finding}
        return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def load_specs(root: Path = Path(".")) -> Specs:
    specs = Specs()
    for path in sorted((root / SPEC_DIR).glob("*.yaml")):
        spec: SpecFile = _typed(SpecFile, _read_yaml(path), str(path))
        if spec.finding is None and not any(getattr(spec, section) for section in RUN_SECTIONS):
            raise SpecError(f"{path}: empty spec: a spec file defines a `finding` or runs "
                            f"({', '.join(RUN_SECTIONS)}); delete the file to drop it")
        check_ranges(spec, str(path))
        specs.files[path.stem], specs.paths[path.stem] = spec, path
        for section in RUN_SECTIONS:
            for name, run in getattr(spec, section).items():
                if not RUN_NAME.match(name):
                    raise SpecError(f"{path}: {section}.{name}: run names are identifiers ([A-Za-z_][A-Za-z0-9_]*)")
                if name in specs.runs:
                    first = specs.paths[specs.runs[name][1]]
                    # blame the file edited last: that is where the duplicate was just added
                    new, old = (path, first) if path.stat().st_mtime >= first.stat().st_mtime else (first, path)
                    raise SpecError(f"{new}: {section}.{name}: run {name!r} is already defined in {old}")
                specs.runs[name] = (section, path.stem, run)
    if not specs.files:
        raise SpecError(f"{root / SPEC_DIR}: no spec files found")
    _check(specs)
    _check_k(specs, root)
    return specs


def _check_k(specs: Specs, root: Path) -> None:
    """A claim's pass@k needs k <= n samples; smaller profiles evaluate min(k, n) (reported as `paper k=`), but a k
    beyond the `paper` profile's n could never be evaluated as specified."""
    if not (root / PROFILE_DIR / "paper.yaml").is_file():
        return
    n = load_profile("paper", root).eval.n
    for stem, spec in specs.files.items():
        for i, c in enumerate(spec.claims):
            for side, op in (("lhs", c.lhs), ("rhs", c.rhs)):
                if op is not None and op.metric not in RL_METRICS and op.k > n:
                    raise SpecError(f"{specs.paths[stem]}: claims[{i}].{side}.k: {op.k} exceeds the paper profile's "
                                    f"eval.n = {n} samples per problem (pass@k needs k <= n)")


def _check(specs: Specs) -> None:
    """Semantic checks: references between runs, claims (names of bands, contexts, ... are typed: OmegaConf
    checks them at load time)."""
    kinds = {name: sec for name, (sec, _, _) in specs.runs.items()}

    for stem, spec in specs.files.items():
        path = specs.paths[stem]

        def err(key: str, msg: str) -> SpecError:
            return SpecError(f"{path}: {key}: {msg}")

        def ref(key: str, name: str, allowed: tuple[str, ...]) -> None:
            if name not in kinds:
                raise err(key, f"unknown run {name!r}")
            if kinds[name] not in allowed:
                raise err(key, f"run {name!r} is a {kinds[name]} run, expected one of: {', '.join(allowed)}")

        def mixes(key: str, ms) -> None:
            if not ms:
                raise err(key, "needs at least one component")
            for i, m in enumerate(ms):
                if not m.bands:
                    raise err(f"{key}[{i}].bands", "needs at least one band")
                if m.split is not None and not m.split:
                    raise err(f"{key}[{i}].split", "must be a non-empty list of shares >= 0")

        for name, d in spec.datasets.items():
            k = f"datasets.{name}"
            if d.purpose in ("test", "heldout"):
                if not d.bands or d.mix:
                    raise err(k, "a test set lists `bands` (and `contexts`), not `mix`")
            else:
                if d.bands:
                    raise err(f"{k}.bands", "an RL pool is described by `mix`, not `bands`")
                mixes(f"{k}.mix", d.mix)
            for j, x in enumerate(d.exclude):
                ref(f"{k}.exclude[{j}]", x, ("datasets",))
        heldout = [n for n, (sec, _, r) in specs.runs.items() if sec == "datasets" and r.purpose == "heldout"]
        for name in spec.datasets:
            if name in heldout[1:]:
                raise err(f"datasets.{name}.purpose", f"a second heldout set (the first is {heldout[0]!r}); "
                                                      "the ladder uses one")
        for name, p in spec.pretrain.items():
            ref(f"pretrain.{name}.tokenizer", p.tokenizer, ("tokenizers",))
            mixes(f"pretrain.{name}.mix", p.mix)
            for j, x in enumerate(p.exclude):
                ref(f"pretrain.{name}.exclude[{j}]", x, ("datasets",))
        for name, m in spec.midtrain.items():
            ref(f"midtrain.{name}.init", m.init, ("pretrain", "midtrain"))
            mixes(f"midtrain.{name}.mix", m.mix)
            for j, x in enumerate(m.exclude):
                ref(f"midtrain.{name}.exclude[{j}]", x, ("datasets",))
            if not 0.0 <= m.budget.beta < 1.0:
                raise err(f"midtrain.{name}.budget.beta", "must be in [0, 1) (beta = 1 is RL only: no midtrain run)")
        for name, r in spec.rl.items():
            ref(f"rl.{name}.init", r.init, ("pretrain", "midtrain"))
            ref(f"rl.{name}.prompts", r.prompts, ("datasets",))
            if specs.runs[r.prompts][2].purpose != "rl":
                raise err(f"rl.{name}.prompts", f"dataset {r.prompts!r} is not an RL pool (purpose: rl)")
            if r.budget is not None and not 0.0 < r.budget.beta <= 1.0:
                raise err(f"rl.{name}.budget.beta", "must be in (0, 1] for an RL run")

        if spec.finding is None:
            if spec.arms or spec.claims or spec.evaluate is not None:
                raise err("finding", "arms/evaluate/claims need a `finding` name")
            continue
        if not spec.finding.isidentifier():
            raise err("finding", f"{spec.finding!r} must be an identifier")
        if spec.evaluate is None:
            raise err("evaluate", "a finding needs `evaluate: {testset: ...}`")
        for key, ts in [("evaluate.testset", spec.evaluate.testset)] + [
                (f"evaluate.extra[{j}]", t) for j, t in enumerate(spec.evaluate.extra)]:
            ref(key, ts, ("datasets",))
            if specs.runs[ts][2].purpose != "test":
                raise err(key, f"dataset {ts!r} is not a test set (purpose: test)")
        if not spec.arms:
            raise err("arms", "a finding needs at least one arm")
        for j, a in enumerate(spec.arms):
            ref(f"arms[{j}]", a, ("pretrain", "midtrain", "rl"))
        seen: set[str] = set()
        for i, c in enumerate(spec.claims):
            k = f"claims[{i}]"
            if not c.id or c.id in seen:
                raise err(f"{k}.id", f"claim id {c.id!r} is empty or repeated")
            seen.add(c.id)
            if c.kind in ("at_least", "at_most"):
                if c.value is None or c.rhs is not None:
                    raise err(k, f"kind {c.kind} compares lhs with a `value`, not an `rhs`")
            elif c.rhs is None or c.value is not None:
                raise err(k, f"kind {c.kind} compares lhs with an `rhs` operand, not a `value`")
            for side, op in (("lhs", c.lhs), ("rhs", c.rhs)):
                if op is None:
                    continue
                _check_operand(spec, f"{k}.{side}", op, err, kinds)


def _check_operand(spec: SpecFile, key: str, op: Operand, err, kinds) -> None:
    if op.arm not in spec.arms:
        raise err(f"{key}.arm", f"{op.arm!r} is not one of this finding's arms ({', '.join(spec.arms)})")
    if op.metric in RL_METRICS:
        if kinds[op.arm] != "rl":
            raise err(f"{key}.metric", f"metric {op.metric} needs an rl arm, {op.arm!r} is {kinds[op.arm]}")
        return
    if op.at == "top" and op.band is None:
        raise err(f"{key}.at", "`at: top` needs a band")
    testsets = {spec.evaluate.testset, *spec.evaluate.extra}
    if op.testset is not None and op.testset not in testsets:
        raise err(f"{key}.testset", f"{op.testset!r} is not evaluated by this finding ({', '.join(sorted(testsets))})")
