"""Machine-checkable claims over evaluation and RL outputs, with bootstrap verdicts.

A claim is a spec's `claims` entry (`interplay.spec.schema.Claim`) as the resolver writes it into a finding's
`claims` config (`interplay.spec.resolve`): it compares a statistic of one arm with another arm's statistic
(`rhs`) or with a constant (`value`):

    {"id": "edge_gain", "text": "RL on edge raises pass@128 on edge", "kind": "greater", "margin": 0.05,
     "lhs": {"arm": "rl_edge", "metric": "strict", "k": 128, "k_spec": 128, "band": "edge", "at": "all",
             "context": None, "last": 5, "ops": [11, 12, 13, 14], "eval_dir": ..., "rl_dir": ..., "testset": ...},
     "rhs": {...} or None, "value": None or a share, "bases": ["base"],
     "paper": {"lhs": 86.0, "rhs": 43.5, "delta": None, "source": "Fig. 1 left"}}

With d = lhs - rhs: `greater` claims d > margin, `less` d < -margin (margin = the required gap);
`greater_equal`/`at_least` claim d >= -margin, `less_equal`/`at_most` d <= margin (margin = a tolerance).
Statistics are in [0, 1]:

* `strict` / `answer`: unbiased pass@k per problem (1 - C(n-c,k)/C(n,k)), averaged over the operand's problems
  of `per_problem.csv` in its `eval_dir`: its `ops` (the resolved band, or its top op), and its `context` if set.
* `false_positive`: share of samples with the right answer but an unverified process ("reward hacking").
* `reward`: mean of the logged RL reward (interplay.train.curves) over the last `last` steps of the operand's `rl_dir`.
* `rollout_strict`: the same over the logged `acc_strict`, the share of each step's rollouts whose whole derivation
  verifies (the reward a process-verified scorer would pay, whatever reward the run trains on).

Verdicts come from a 95 % percentile bootstrap of d: over test problems (paired, with the same resampled
problems on both sides, when both arms were evaluated on the same problem ids) and over blocks of consecutive
steps for rewards (steps are autocorrelated). `holds` when the whole interval is on the claimed side, `fails`
when it is wholly on the other side, `inconclusive` otherwise or when an artifact is missing (with the reason).
A point estimate alone never decides. A claim resting on a base model (an arm's `init`, followed to its
pre-training run) that fails its ladder (`interplay.eval.ladder`) is `untestable`, whatever its numbers, with the
failed rungs as reason. `check_finding(cfg)` checks a finding; its `Verdicts` are written and read through
`write_verdicts` / `read_verdicts` (verdicts.json).
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from interplay.eval import passk as _passk
from interplay.io import read_json, write_json
from interplay.knobs import CLAIM_KINDS, RL_METRICS, VERDICTS, Verdict, plain
from interplay.train.curves import SUMMARY, read_rows

# The side of the claimed region: +1 lower bound (d > / >= threshold), -1 upper bound.
_DIRECTION = {"greater": 1, "greater_equal": 1, "at_least": 1, "less": -1, "less_equal": -1, "at_most": -1}
_STRICT = {"greater", "less"}
PASS_METRICS = ("strict", "answer")
CI_LEVEL = 0.95


class ClaimError(ValueError):
    """A malformed claim (a spec bug, not a missing artifact)."""


class _Missing(Exception):
    """An artifact or a selection is missing: the claim is inconclusive, with this reason."""


# --------------------------------------------------------------------------------------------- artifacts


pass_at_k_array = _passk.pass_at_k_array  # one definition of pass@k in the package


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def arm_paths(source: Any, kind: str, filename: str) -> list[Path]:
    """The replicate files (one per seed) of `filename` for an arm source; [] when none exist."""
    if source is None:
        return []
    if isinstance(source, Mapping):
        return arm_paths(source.get(kind), kind, filename)
    if isinstance(source, (list, tuple)):
        return [p for s in source for p in arm_paths(s, kind, filename)]
    d = Path(source)
    if d.is_file():
        return [d] if d.name == filename else []
    if (d / filename).is_file():
        return [d / filename]
    return sorted(d.glob(f"*/{filename}"))


def _in(source: Any, kind: str) -> str:
    """` in <dir>` for a missing-artifact message (where the file was looked for)."""
    if isinstance(source, Mapping):
        source = source.get(kind)
    if source is None:
        return f" (the arm has no {kind} output)"
    if isinstance(source, (list, tuple)):
        return f" in {', '.join(map(str, source))}"
    return f" in {source}"


@dataclass
class _Sample:
    """One side of a claim as bootstrap input: num[s, p] / den[s, p] over seeds s and units p."""

    num: np.ndarray
    den: np.ndarray | None  # None: plain mean of num; else ratio of sums (shares)
    ids: list[str] | None  # unit ids (problem ids) when units are problems, for pairing
    info: dict = field(default_factory=dict)
    block: int = 1  # bootstrap block length over units (> 1 for consecutive RL steps)

    def point(self) -> float:
        if self.den is None:
            return float(self.num.mean())
        return float(self.num.sum() / self.den.sum())


def _problem_rows(path: Path, spec: Mapping) -> dict[str, dict[str, str]]:
    """The operand's problems of one per_problem.csv (its resolved `ops`, and its `context` if set), by id."""
    ops = {int(o) for o in spec["ops"]}
    return {r["id"]: r for r in read_csv_rows(path)
            if int(r["op"]) in ops and (spec.get("context") is None or r.get("context") == spec["context"])}


def _where(spec: Mapping) -> str:
    parts = [f"band={spec['band']}"] if spec.get("band") is not None else []
    if spec.get("at") == "top":
        parts.append("at=top")
    if spec.get("context") is not None:
        parts.append(f"context={spec['context']}")
    return ", ".join(parts) or "all problems"


def _problem_sample(spec: Mapping, k_eff: int) -> _Sample:
    paths = arm_paths(spec.get("eval_dir"), "eval", "per_problem.csv")
    if not paths:
        raise _Missing(f"arm {spec['arm']!r}: no per_problem.csv found{_in(spec.get('eval_dir'), 'eval')}")
    per_seed = [_problem_rows(p, spec) for p in paths]
    ids = sorted(set.intersection(*(set(r) for r in per_seed)))
    if not ids:
        raise _Missing(f"arm {spec['arm']!r}: no evaluated problems for {_where(spec)}")
    notes = []
    if any(len(r) != len(ids) for r in per_seed):
        notes.append(f"arm {spec['arm']}: only the {len(ids)} problems shared by all seeds are used")
    col = lambda name: np.array([[float(r[i][name]) for i in ids] for r in per_seed])  # noqa: E731
    n = col("n")
    den = None
    if spec["metric"] in PASS_METRICS:
        c = col(f"c_{spec['metric']}")
        num = np.stack([pass_at_k_array(n[s], c[s], k_eff) for s in range(len(per_seed))])
    else:  # false_positive
        num, den = col("c_answer") - col("c_strict"), n
    return _Sample(num, den, ids, {"problems": len(ids), "seeds": len(per_seed), "notes": notes})


def _reward_sample(spec: Mapping) -> _Sample:
    column = RL_METRICS[spec["metric"]]
    paths = arm_paths(spec.get("rl_dir"), "rl", SUMMARY)
    if not paths:
        raise _Missing(f"arm {spec['arm']!r}: no RL run ({SUMMARY}) found{_in(spec.get('rl_dir'), 'rl')}")
    last = int(spec["last"])
    series = []
    for p in paths:
        rows = read_rows(p.parent.parent)  # the run's logged curve, by step (interplay.train.curves)
        if not rows:
            raise _Missing(f"arm {spec['arm']!r}: {p} has no steps")
        if column not in rows[0]:
            raise _Missing(f"arm {spec['arm']!r}: {p.parent.parent} logged no {column!r}")
        v = np.array([float(r.get(column, np.nan)) for r in rows])[-last:]
        series.append(v[~np.isnan(v)])
    t = min(len(s) for s in series)
    if t == 0:
        raise _Missing(f"arm {spec['arm']!r}: no {column} values in the selected steps")
    num = np.stack([s[-t:] for s in series])  # align replicates on their last t steps
    # Rewards of consecutive steps are correlated: resample blocks of ~t^(1/3) steps (Künsch's moving blocks).
    block = max(1, round(t ** (1 / 3)))
    return _Sample(num, None, None, {"steps": t, "seeds": len(series), "last": last, "notes": []}, block=block)


# --------------------------------------------------------------------------------------------- bootstrap


def _weights(rng: np.random.Generator, n_boot: int, size: int, block: int = 1) -> np.ndarray:
    """Multiplicities of a with-replacement resample of `size` units, [n_boot, size].

    block > 1: moving-block bootstrap (consecutive runs of `block` units), for autocorrelated RL steps.
    One bincount serves all resamples (index b*size + unit); ~3x faster than rng.multinomial."""
    block = max(1, min(block, size))
    n_blocks = -(-size // block)
    starts = rng.integers(0, size - block + 1, (n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)).reshape(n_boot, -1)[:, :size]
    idx = idx + (np.arange(n_boot) * size)[:, None]
    return np.bincount(idx.ravel(), minlength=n_boot * size).reshape(n_boot, size).astype(np.float64)


def _boot(sample: _Sample, w_seed: np.ndarray, w_unit: np.ndarray) -> np.ndarray:
    """Statistic under each resample: sum_{s,p} ws[b,s] wp[b,p] x[s,p], normalized (two-level bootstrap)."""
    num = ((w_seed @ sample.num) * w_unit).sum(axis=1)
    if sample.den is None:
        return num / (sample.num.shape[0] * sample.num.shape[1])
    den = ((w_seed @ sample.den) * w_unit).sum(axis=1)
    return num / np.maximum(den, 1e-12)


def bootstrap_diff(lhs: _Sample, rhs: _Sample | float, *, seed: int = 0, n_boot: int = 2000):
    """Bootstrap draws of lhs - rhs; paired over units when both sides share unit ids. Returns (draws, paired)."""
    rng = np.random.default_rng(seed)
    ws_l = _weights(rng, n_boot, lhs.num.shape[0])
    wp_l = _weights(rng, n_boot, lhs.num.shape[1], lhs.block)
    a = _boot(lhs, ws_l, wp_l)
    if not isinstance(rhs, _Sample):
        return a - float(rhs), False
    paired = lhs.ids is not None and lhs.ids == rhs.ids
    ws_r = _weights(rng, n_boot, rhs.num.shape[0])  # seeds of different arms are independent runs
    wp_r = wp_l if paired else _weights(rng, n_boot, rhs.num.shape[1], rhs.block)
    return a - _boot(rhs, ws_r, wp_r), paired


def verdict(kind: str, ci: Sequence[float], margin: float = 0.0) -> str:
    """Decide from the CI [lo, hi] of d = lhs - rhs: holds / fails / inconclusive (see the module doc)."""
    if kind not in _DIRECTION:
        raise ClaimError(f"unknown claim kind {kind!r} (expected one of {', '.join(CLAIM_KINDS)})")
    # Flip `less`-type claims so every claim reads "x > t" (strict) or "x >= t" on x = ±d.
    sign = _DIRECTION[kind]
    lo, hi = sorted((sign * ci[0], sign * ci[1]))
    t = margin if kind in _STRICT else -margin
    if kind in _STRICT:
        return "holds" if lo > t else "fails" if hi <= t else "inconclusive"
    return "holds" if lo >= t else "fails" if hi < t else "inconclusive"


def relation(kind: str, margin: float = 0.0) -> str:
    """The claimed relation of d = lhs - rhs in words, e.g. `Δ > 0.05`."""
    op = {"greater": ">", "greater_equal": "≥", "at_least": "≥",
          "less": "<", "less_equal": "≤", "at_most": "≤"}[kind]
    t = (margin if kind in ("greater", "less_equal", "at_most") else -margin) + 0.0  # + 0.0: no "-0"
    return f"Δ {op} {t:g}"


# ------------------------------------------------------------------------------------------------ claims


def describe(spec: Mapping | None, value: float | None = None) -> str:
    """Short human label of one side: `rl_edge strict@128 band=edge`, or the constant."""
    if spec is None:
        return f"{value:g}"
    m = spec["metric"]
    if m in RL_METRICS:
        return f"{spec['arm']} {'rollouts verified' if m == 'rollout_strict' else m} last {spec['last']} steps"
    label = m
    if m in PASS_METRICS:
        k_spec = spec.get("k_spec")
        label = f"{m}@{spec['k']}" + (f" (paper k={k_spec})" if k_spec and k_spec != spec["k"] else "")
    where = _where(spec)
    return f"{spec['arm']} {label}" + ("" if where == "all problems" else f" {where}")


def _min_n(spec: Mapping) -> int | None:
    paths = arm_paths(spec.get("eval_dir"), "eval", "per_problem.csv")
    ns = [int(r["n"]) for p in paths for r in _problem_rows(p, spec).values()]
    return min(ns) if ns else None


_RESOLVED_KEYS = ("eval_dir", "rl_dir", "testset")  # paths, not part of a claim's meaning in the verdicts


def check_claim(claim: Mapping, seed: int = 0, n_boot: int = 2000) -> dict:
    """Evaluate one resolved claim (the module doc); a missing artifact gives `inconclusive` with a reason, never
    an exception. Returns one `ClaimVerdict` as a dict (`check_finding` adds `departures` and `bases`)."""
    kind, margin = str(claim["kind"]), float(claim.get("margin") or 0.0)
    lhs_spec = dict(claim["lhs"])
    rhs_spec = dict(claim["rhs"]) if claim.get("rhs") is not None else None
    value = None if rhs_spec is not None else float(claim["value"])
    shown = lambda sp: {k: v for k, v in sp.items() if v is not None}  # noqa: E731
    result: dict[str, Any] = {
        "id": claim["id"], "text": claim.get("text", ""), "kind": kind, "margin": margin,
        "relation": relation(kind, margin),
        "lhs": {**shown(lhs_spec), "label": describe(lhs_spec)},
        "rhs": {**shown(rhs_spec), "label": describe(rhs_spec)} if rhs_spec is not None
        else {"value": value, "label": describe(None, value)},
        "paper": {k: v for k, v in (claim.get("paper") or {}).items() if v not in (None, "")},
        "ours": {"lhs": None, "rhs": None, "diff": None}, "ci": None, "ci_level": CI_LEVEL,
        "paired": False, "n_boot": n_boot, "verdict": "inconclusive", "reason": None, "notes": [],
    }
    sides = [("lhs", lhs_spec)] + ([] if rhs_spec is None else [("rhs", rhs_spec)])
    try:
        # pass@k at k > n cannot be estimated: both sides use the largest k every problem allows.
        pass_sides = [(name, s) for name, s in sides if s["metric"] in PASS_METRICS]
        for name, s in pass_sides:
            min_n = _min_n(s)
            if min_n is not None and min_n < s["k"]:
                s["k_used"] = min_n
                result["notes"].append(f"{describe(s)}: k={s['k']} > n={min_n} samples per problem; "
                                       f"pass@{min_n} used")
        if len(pass_sides) == 2 and pass_sides[0][1]["k"] == pass_sides[1][1]["k"]:
            k_common = min(s.get("k_used", s["k"]) for _, s in pass_sides)
            for _, s in pass_sides:
                if k_common != s["k"]:
                    s["k_used"] = k_common
            if k_common != pass_sides[0][1]["k"]:
                result["notes"].append(f"both sides compared at pass@{k_common}")
        samples = {}
        for name, spec in sides:
            if spec["metric"] in RL_METRICS:
                samples[name] = _reward_sample(spec)
            else:
                samples[name] = _problem_sample(spec, spec.get("k_used", spec.get("k")))
            result[name].update({k: v for k, v in samples[name].info.items() if k != "notes"})
            if "k_used" in spec:
                result[name]["k_used"] = spec["k_used"]
            result["notes"] += samples[name].info["notes"]
        lhs = samples["lhs"]
        rhs = samples.get("rhs", value)
        draws, paired = bootstrap_diff(lhs, rhs, seed=seed, n_boot=n_boot)
        a = (1 - CI_LEVEL) / 2
        ci = [float(x) for x in np.quantile(draws, [a, 1 - a])]
        lv = lhs.point()
        rv = rhs.point() if isinstance(rhs, _Sample) else float(rhs)
        result.update(ours={"lhs": lv, "rhs": rv, "diff": lv - rv}, ci=ci, paired=paired,
                      verdict=verdict(kind, ci, margin))
        if isinstance(rhs, _Sample) and not paired and not {lhs_spec["metric"], rhs_spec["metric"]} & set(RL_METRICS):
            result["notes"].append("arms evaluated on different problems: unpaired bootstrap")
    except _Missing as e:
        result["reason"] = str(e)
    except (OSError, KeyError, ValueError, IndexError) as e:  # unreadable or malformed artifact
        result["reason"] = f"unreadable artifact: {type(e).__name__}: {e}"
    for side in ("lhs", "rhs"):
        for k in _RESOLVED_KEYS:
            result[side].pop(k, None)
    return result


# --------------------------------------------------------------------------------------------- findings


def departure_text(d: Mapping) -> str:
    """One profile departure (`interplay.spec.schema.Departure`) as a line: `key: ours instead of paper (reason)`."""
    what = f"{d.get('ours') or '?'} instead of {d.get('paper') or '?'}" if d.get("ours") or d.get("paper") else ""
    reason = f"{what} ({d['reason']})" if what and d.get("reason") else what or d.get("reason") or ""
    return f"{d['key']}: {reason}"


def arm_sources(cfg: Mapping) -> dict[str, dict]:
    """Arm sources of a resolved claims config: {arm: {"eval": main test set's eval dir, "rl": rl dir}}."""
    out = {}
    for arm, a in (cfg.get("arms") or {}).items():
        evals = list((a.get("eval_dirs") or {}).values())
        out[arm] = {"eval": evals[0] if evals else None, "rl": a.get("rl_dir")}
    return out


@dataclass
class ClaimVerdict:
    """One claim's verdict, as verdicts.json holds it."""

    id: str  # the claim's id in its spec
    text: str  # the claim in words
    kind: str  # greater | less | greater_equal | less_equal | at_least | at_most
    margin: float  # the required gap (greater/less) or tolerance (other kinds)
    relation: str  # the claimed relation of d = lhs - rhs in words, e.g. `Δ > 0.05`
    lhs: Dict[str, Any]  # the operand as resolved (less paths), its `label` and sample sizes
    rhs: Dict[str, Any]  # likewise, or {value, label} for a constant
    paper: Dict[str, Any]  # the paper's numbers, as printed
    ours: Dict[str, Optional[float]]  # {lhs, rhs, diff}: point estimates (None when inconclusive for lack of data)
    ci: Optional[List[float]]  # the bootstrap interval of d
    ci_level: float  # its level (0.95)
    paired: bool  # bootstrap paired over shared problems
    n_boot: int  # bootstrap resamples
    verdict: Verdict  # holds | fails | inconclusive | untestable
    reason: Optional[str]  # why inconclusive (a missing artifact) or untestable (the failed ladder rungs)
    notes: List[str]  # caveats (k capped at n, unpaired, ...)
    departures: List[str] = field(default_factory=list)  # the profile's departures from the paper
    bases: List[str] = field(default_factory=list)  # the base models the claim rests on


@dataclass
class Verdicts:
    """verdicts.json: a finding's claims checked under one profile (`write_verdicts` / `read_verdicts`)."""

    finding: str  # the finding's name
    title: str  # the finding in one line
    profile: str  # the profile the artifacts were made under
    bands: Dict[str, List[int]]  # band -> ops under that profile
    bases: Dict[str, Any]  # base -> its ladder (interplay.eval.ladder.check_ladder) and where it was measured
    claims: List[ClaimVerdict]  # in spec order
    summary: Dict[str, int]  # verdict -> number of claims


def write_verdicts(path, v: Verdicts) -> None:
    write_json(path, plain(asdict(v)))


def read_verdicts(path) -> Verdicts:
    """verdicts.json -> Verdicts; a file that does not fit the schema is a one-line ValueError naming the key."""
    try:
        return plain(OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Verdicts), read_json(path))))
    except OmegaConfBaseException as e:
        raise ValueError(f"{path}: {getattr(e, 'full_key', '?')}: {str(getattr(e, 'msg', e)).splitlines()[0]}") \
            from None


def check_finding(cfg: Mapping, n_boot: int = 2000) -> Verdicts:
    """Check every claim of a finding from its resolved `claims` config (`interplay.spec.resolve`: bands, ladder,
    bases, departures, seed, resolved claims); pure (it only reads the artifacts the claims name)."""
    bands = {b: [int(o) for o in ops] for b, ops in (cfg.get("bands") or {}).items()}
    seed = int(cfg.get("seed") or 0)
    bases = base_ladders(cfg, bands)
    departures = [departure_text(d) for d in cfg.get("departures") or []]
    claims = []
    for i, claim in enumerate(cfg.get("claims") or []):
        # Distinct bootstrap streams per claim, reproducible from (seed, position).
        r = check_claim(claim, seed=seed + 7919 * i, n_boot=n_boot)
        r["departures"] = list(departures)
        gate_on_ladder(r, claim.get("bases") or [], bases)
        claims.append(ClaimVerdict(**r))
    summary = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    return Verdicts(finding=str(cfg["finding"]), title=cfg.get("title", ""), profile=str(cfg.get("profile") or ""),
                    bands=bands, bases=bases, claims=claims, summary=summary)


def base_ladders(cfg: Mapping, bands: Mapping[str, Sequence[int]]) -> dict[str, dict]:
    """The ladder of every base model the claims rest on (`cfg["bases"]`: {base: {eval_dir, testset, contexts}}),
    measured on the base's test-set evaluation with the profile's thresholds (`cfg["ladder"]["thresholds"]`)."""
    from interplay.eval.ladder import RUNG_BANDS, Ladder, check_ladder

    lad = cfg.get("ladder") if isinstance(cfg.get("ladder"), Mapping) else {}
    thresholds = Ladder.from_dict(lad.get("thresholds"))
    lbands = lad.get("bands") or {b: bands[b] for b in RUNG_BANDS if b in bands}
    out = {}
    for base, info in (cfg.get("bases") or {}).items():
        where = {k: info.get(k) for k in ("testset", "contexts", "curve")}
        paths = arm_paths(info.get("eval_dir"), "eval", "per_problem.csv")
        if not paths:
            out[base] = {"holds": None, "rungs": [], **where,
                         "failed": [f"no evaluation of base {base}{_in(info.get('eval_dir'), 'eval')}"]}
            continue
        try:
            rows = [r for p in paths for r in read_csv_rows(p)]
            out[base] = {**check_ladder(rows, lbands, thresholds, contexts=info.get("contexts") or None), **where}
        except (OSError, KeyError, ValueError) as e:
            out[base] = {"holds": None, "rungs": [], **where,
                         "failed": [f"unreadable evaluation of base {base}: {type(e).__name__}: {e}"]}
    return out


def gate_on_ladder(result: dict, on: Sequence[str], bases: Mapping[str, dict]) -> None:
    """A claim resting on a base that fails (or has not measured) its ladder is `untestable`, with the reason:
    its numbers stay in the result, its verdict does not."""
    result["bases"] = list(on)
    bad = [b for b in on if b in bases and bases[b]["holds"] is not True]
    if not bad:
        return
    result["verdict"] = "untestable"
    result["reason"] = "; ".join(
        f"base {b} {'fails' if bases[b]['holds'] is False else 'has not measured'} its ladder"
        f"{' on ' + bases[b]['testset'] if bases[b].get('testset') else ''}"
        f"{' (' + ', '.join(bases[b]['contexts']) + ')' if bases[b].get('contexts') else ''}: "
        + "; ".join(bases[b]["failed"]) for b in bad)
