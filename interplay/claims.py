"""Machine-checkable claims over evaluation and RL outputs, with bootstrap verdicts.

A claim (a spec's `claims`, `interplay.spec.schema.Claim`) compares a statistic of one arm with another arm's
statistic or with a constant:

    {"id": "edge_gain", "text": "RL on edge raises pass@128 on edge",
     "kind": "greater",   # greater | less | greater_equal | less_equal | at_least | at_most
     "lhs": {"arm": "rl_edge", "metric": "strict", "k": 128, "band": "edge"},
     "rhs": {"arm": "base", "metric": "strict", "k": 128, "band": "edge"},   # or rhs None / {"value": x} + "value"
     "margin": 0.05,
     "paper": {"lhs": 86.0, "rhs": 43.5, "source": "Fig. 1 left [F1]"}}      # percent, as printed

With d = lhs - rhs: `greater` claims d > margin, `less` d < -margin (margin = the required gap);
`greater_equal`/`at_least` claim d >= -margin, `less_equal`/`at_most` d <= margin (margin = a tolerance).
Statistics are in [0, 1] for pass rates and shares (so are margins and constants):

* `strict` / `answer`: unbiased pass@k per problem (1 - C(n-c,k)/C(n,k)), averaged over the selected
  problems of `per_problem.csv`. Selectors (combined with AND): `ops` (resolved), `band` (ops bound by the
  profile) with `at: top` for the band's highest op only, `op`, `context`, `mode`.
* `false_positive`: share of samples with the right answer but an unverified process ("reward hacking").
* `category:<name>[+<name>...]`: share of samples in those error categories (`cat_<name>` columns).
* `process_acc`, `nll`: per-problem means of `process_acc_mean` / `nll`.
* `reward` (or `rl:<column>`): mean of a logged RL metric (interplay.train.curves) over the last `last` steps, or over
  `window` = [start, end] as fractions of the run; neither given: the last 20 % of steps.

Verdicts come from a 95 % percentile bootstrap of d: over test problems (paired, with the same resampled
problems on both sides, when both arms were evaluated on the same problem ids), over blocks of consecutive
steps for RL statistics (steps are autocorrelated), and over seeds first when an arm has several
replicates. `holds` when the whole interval is on the claimed side, `fails` when it is wholly on the other
side, `inconclusive` otherwise or when an artifact is missing (with the reason). A point estimate alone
never decides. A claim resting on a base model (an arm's `init`, followed to its pre-training run) that fails
its ladder (`interplay.eval.ladder`) is `untestable`, whatever its numbers, with the failed rungs as reason.

An arm source (`arm_dirs[arm]`) is a directory, a list of directories (seed replicates), or a mapping
`{"eval": dir(s), "rl": dir(s)}`; an operand's own `eval_dir` / `rl_dir` (resolved claims) takes precedence.
A directory without the file itself is searched one level down, and every `*/per_problem.csv`
(`*/dvclive/metrics.json`) found there counts as one seed replicate.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from interplay.eval import passk as _passk
from interplay.io import read_json, write_json
from interplay.train.curves import SUMMARY, read_rows

KINDS = ("greater", "less", "greater_equal", "less_equal", "at_least", "at_most")
# The side of the claimed region: +1 lower bound (d > / >= threshold), -1 upper bound.
_DIRECTION = {"greater": 1, "greater_equal": 1, "at_least": 1, "less": -1, "less_equal": -1, "at_most": -1}
_STRICT = {"greater", "less"}
CATEGORIES = ("correct", "wrong_answer_only", "value_mismatch", "dependency_mismatch", "missing_nodes", "unparseable")
PASS_METRICS = ("strict", "answer")
PROBLEM_METRICS = PASS_METRICS + ("false_positive", "process_acc", "nll")
SELECTORS = ("band", "at", "op", "ops", "context", "mode")
CI_LEVEL = 0.95
# untestable: the claim rests on a base model that fails its ladder (interplay.eval.ladder), so its arms say
# nothing about the paper's question whatever their numbers
VERDICTS = ("holds", "fails", "inconclusive", "untestable")
DEFAULT_WINDOW = (0.8, 1.0)


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


def _ops_for(spec: dict, bands: Mapping[str, Sequence[int]]) -> set[int] | None:
    """The ops an operand selects; resolved operands carry `ops`, spec operands a `band` (+ `at`)."""
    if spec.get("ops") is not None:
        ops = {int(o) for o in spec["ops"]}
    elif spec.get("band") is not None:
        if spec["band"] not in bands:
            raise _Missing(f"band {spec['band']!r} is not bound by the profile (bands: {sorted(bands)})")
        ops = {int(o) for o in bands[spec["band"]]}
        if spec.get("at") == "top" and ops:
            ops = {max(ops)}
    else:
        ops = None
    if spec.get("op") is not None:
        ops = {int(spec["op"])} if ops is None else ops & {int(spec["op"])}
    return ops


def _problem_rows(path: Path, spec: dict, bands) -> dict[str, dict[str, str]]:
    ops = _ops_for(spec, bands)
    rows = {}
    for r in read_csv_rows(path):
        if ops is not None and int(r["op"]) not in ops:
            continue
        if spec.get("context") is not None and r.get("context") != spec["context"]:
            continue
        if spec.get("mode") is not None and r.get("mode") != spec["mode"]:
            continue
        rows[r["id"]] = r
    return rows


def _where(spec: dict) -> str:
    parts = []
    for k in SELECTORS:
        v = spec.get(k)
        if v is None or (k == "at" and v == "all") or (k == "ops" and spec.get("band") is not None):
            continue
        parts.append(f"{k}={v}" if k != "ops" else f"ops={min(v)}-{max(v)}" if v else "ops=none")
    return ", ".join(parts) or "all problems"


def _problem_sample(spec: dict, source: Any, bands, k_eff: int | None) -> _Sample:
    paths = arm_paths(source, "eval", "per_problem.csv")
    if not paths:
        raise _Missing(f"arm {spec['arm']!r}: no per_problem.csv found{_in(source, 'eval')}")
    per_seed = [_problem_rows(p, spec, bands) for p in paths]
    ids = sorted(set.intersection(*(set(r) for r in per_seed)))
    if not ids:
        raise _Missing(f"arm {spec['arm']!r}: no evaluated problems for {_where(spec)}")
    notes = []
    if any(len(r) != len(ids) for r in per_seed):
        notes.append(f"arm {spec['arm']}: only the {len(ids)} problems shared by all seeds are used")
    col = lambda name: np.array([[float(r[i][name]) for i in ids] for r in per_seed])  # noqa: E731
    n = col("n")
    metric = spec["metric"]
    den = None
    if metric in PASS_METRICS:
        c = col(f"c_{metric}")
        num = np.stack([pass_at_k_array(n[s], c[s], k_eff) for s in range(len(per_seed))])
    elif metric == "false_positive":
        num, den = col("c_answer") - col("c_strict"), n
    elif metric in ("process_acc", "nll"):
        num = col("process_acc_mean" if metric == "process_acc" else "nll")
        if np.isnan(num).any():
            raise _Missing(f"arm {spec['arm']!r}: {metric} is missing for some problems")
    else:  # category:<a>+<b>
        names = metric.split(":", 1)[1].split("+")
        num, den = sum(col(f"cat_{c}") for c in names), n
    return _Sample(num, den, ids, {"problems": len(ids), "seeds": len(per_seed), "notes": notes})


def _reward_sample(spec: dict, source: Any) -> _Sample:
    paths = arm_paths(source, "rl", SUMMARY)
    if not paths:
        raise _Missing(f"arm {spec['arm']!r}: no RL run ({SUMMARY}) found{_in(source, 'rl')}")
    column = "reward" if spec["metric"] == "reward" else spec["metric"].split(":", 1)[1]
    last = spec.get("last") if spec.get("window") is None else None
    lo, hi = spec.get("window") or DEFAULT_WINDOW
    series = []
    for p in paths:
        rows = read_rows(p.parent.parent)  # by step
        if not rows:
            raise _Missing(f"arm {spec['arm']!r}: {p} has no steps")
        if column not in rows[0]:
            raise _Missing(f"arm {spec['arm']!r}: {p.parent.parent} logged no {column!r}")
        v = np.array([float(r.get(column, np.nan)) for r in rows])
        if last is not None:
            w = v[-int(last):]
        else:
            a = int(math.floor(lo * len(v)))
            w = v[a:max(int(math.ceil(hi * len(v))), a + 1)]
        series.append(w[~np.isnan(w)])
    t = min(len(s) for s in series)
    if t == 0:
        raise _Missing(f"arm {spec['arm']!r}: no {column} values in the selected steps")
    num = np.stack([s[-t:] for s in series])  # align replicates on their last t steps of the window
    where = {"last": int(last)} if last is not None else {"window": [lo, hi]}
    # Rewards of consecutive steps are correlated: resample blocks of ~t^(1/3) steps (Künsch's moving blocks).
    block = max(1, round(t ** (1 / 3)))
    return _Sample(num, None, None, {"steps": t, "seeds": len(series), **where, "notes": []}, block=block)


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
        raise ClaimError(f"unknown claim kind {kind!r} (expected one of {', '.join(KINDS)})")
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


def _check_side(claim_id: str, side: str, spec: Any) -> None:
    if not isinstance(spec, Mapping):
        raise ClaimError(f"claim {claim_id}: {side} must be a mapping")
    if side == "rhs" and "value" in spec:
        if isinstance(spec["value"], bool) or not isinstance(spec["value"], (int, float)):
            raise ClaimError(f"claim {claim_id}: rhs value must be a number, got {spec['value']!r}")
        return
    if not spec.get("arm") or not spec.get("metric"):
        raise ClaimError(f"claim {claim_id}: {side} needs 'arm' and 'metric' (or a 'value' on the rhs)")
    m = spec["metric"]
    if m.startswith("category:"):
        bad = [c for c in m.split(":", 1)[1].split("+") if c not in CATEGORIES]
        if bad:
            raise ClaimError(f"claim {claim_id}: {side} unknown error category {bad[0]!r} "
                             f"(known: {', '.join(CATEGORIES)})")
    elif m in PASS_METRICS:
        if not isinstance(spec.get("k"), int) or isinstance(spec.get("k"), bool) or spec["k"] < 1:
            raise ClaimError(f"claim {claim_id}: {side} metric {m!r} needs an integer k >= 1")
    elif m == "reward" or m.startswith("rl:"):
        w, last = spec.get("window"), spec.get("last")
        if w is not None and not (len(w) == 2 and 0 <= w[0] < w[1] <= 1):
            raise ClaimError(f"claim {claim_id}: {side} window must be [start, end] with 0 <= start < end <= 1")
        if last is not None and (not isinstance(last, int) or last < 1):
            raise ClaimError(f"claim {claim_id}: {side} last must be an integer >= 1")
    elif m not in PROBLEM_METRICS:
        raise ClaimError(f"claim {claim_id}: {side} unknown metric {m!r}")
    if spec.get("at") not in (None, "all", "top"):
        raise ClaimError(f"claim {claim_id}: {side} at must be 'all' or 'top', got {spec['at']!r}")


def normalize_claim(claim: Mapping) -> dict:
    """The claim with a constant comparison always as rhs = {"value": x} (specs may give a top-level `value`)."""
    c = dict(claim)
    if c.get("rhs") is None and c.get("value") is not None:
        c["rhs"] = {"value": c["value"]}
    return c


def validate_claim(claim: Mapping) -> None:
    """Raise ClaimError (one line, naming the claim) when a claim is malformed."""
    claim = normalize_claim(claim)
    cid = claim.get("id", "<no id>")
    for key in ("id", "kind", "lhs", "rhs"):
        if claim.get(key) is None:
            raise ClaimError(f"claim {cid}: missing key {key!r}" + (" (or 'value')" if key == "rhs" else ""))
    if claim["kind"] not in KINDS:
        raise ClaimError(f"claim {cid}: unknown kind {claim['kind']!r} (expected one of {', '.join(KINDS)})")
    _check_side(cid, "lhs", claim["lhs"])
    _check_side(cid, "rhs", claim["rhs"])
    if "value" in claim["lhs"]:
        raise ClaimError(f"claim {cid}: lhs must name an arm")


def _is_problem_metric(spec: Mapping) -> bool:
    return "arm" in spec and not (spec["metric"] == "reward" or spec["metric"].startswith("rl:"))


def _source(spec: Mapping, arm_dirs: Mapping[str, Any]) -> Any:
    """Where an operand's artifacts live: its own resolved eval_dir/rl_dir, else the arm's source."""
    key = "eval_dir" if _is_problem_metric(spec) else "rl_dir"
    if spec.get(key):
        return spec[key]
    src = arm_dirs.get(spec["arm"])
    if src is None:
        raise _Missing(f"arm {spec['arm']!r} has no output directory")
    return src


def _min_n(spec: dict, source: Any, bands) -> int | None:
    paths = arm_paths(source, "eval", "per_problem.csv")
    ns = [int(r["n"]) for p in paths for r in _problem_rows(p, spec, bands).values()]
    return min(ns) if ns else None


def describe(spec: Mapping) -> str:
    """Short human label of one side: `rl_edge strict@128 band=edge`."""
    if "value" in spec:
        return f"{spec['value']:g}"
    m = spec["metric"]
    label = m
    if m in PASS_METRICS:
        k_spec = spec.get("k_spec")
        label = f"{m}@{spec['k']}" + (f" (paper k={k_spec})" if k_spec and k_spec != spec["k"] else "")
    elif m == "reward" or m.startswith("rl:"):
        if spec.get("window") is None and spec.get("last") is not None:
            return f"{spec['arm']} {m} last {spec['last']} steps"
        lo, hi = spec.get("window") or DEFAULT_WINDOW
        return f"{spec['arm']} {m} steps[{lo:g},{hi:g}]"
    where = _where(spec)
    return f"{spec['arm']} {label}" + ("" if where == "all problems" else f" {where}")


_RESOLVED_KEYS = ("eval_dir", "rl_dir", "testset")  # paths, not part of a claim's meaning in the verdicts


def check_claim(claim: dict, arm_dirs: dict[str, Path], bands: dict[str, list[int]], seed: int = 0,
                n_boot: int = 2000) -> dict:
    """Evaluate one claim; a missing artifact gives `inconclusive` with a reason, never an exception.

    Raises ClaimError only for a malformed claim (a spec bug)."""
    claim = normalize_claim(claim)
    validate_claim(claim)
    kind, margin = claim["kind"], float(claim.get("margin") or 0.0)
    lhs_spec, rhs_spec = dict(claim["lhs"]), dict(claim["rhs"])
    shown = lambda sp: {k: v for k, v in sp.items() if v is not None}  # noqa: E731
    result: dict[str, Any] = {
        "id": claim["id"], "text": claim.get("text", ""), "kind": kind, "margin": margin,
        "relation": relation(kind, margin),
        "lhs": {**shown(lhs_spec), "label": describe(lhs_spec)},
        "rhs": {**shown(rhs_spec), "label": describe(rhs_spec)},
        "paper": {k: v for k, v in (claim.get("paper") or {}).items() if v not in (None, "")},
        "ours": {"lhs": None, "rhs": None, "diff": None}, "ci": None, "ci_level": CI_LEVEL,
        "paired": False, "n_boot": n_boot, "verdict": "inconclusive", "reason": None, "notes": [],
    }
    sides = [("lhs", lhs_spec)] + ([] if "value" in rhs_spec else [("rhs", rhs_spec)])
    try:
        sources = {name: _source(spec, arm_dirs) for name, spec in sides}
        # pass@k at k > n cannot be estimated: both sides use the largest k every problem allows.
        pass_sides = [(name, s) for name, s in sides if s["metric"] in PASS_METRICS]
        for name, s in pass_sides:
            min_n = _min_n(s, sources[name], bands)
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
            if _is_problem_metric(spec):
                samples[name] = _problem_sample(spec, sources[name], bands, spec.get("k_used", spec.get("k")))
            else:
                samples[name] = _reward_sample(spec, sources[name])
            result[name].update({k: v for k, v in samples[name].info.items() if k != "notes"})
            if "k_used" in spec:
                result[name]["k_used"] = spec["k_used"]
            result["notes"] += samples[name].info["notes"]
        lhs = samples["lhs"]
        rhs = samples.get("rhs", float(rhs_spec.get("value", 0.0)))
        draws, paired = bootstrap_diff(lhs, rhs, seed=seed, n_boot=n_boot)
        a = (1 - CI_LEVEL) / 2
        ci = [float(x) for x in np.quantile(draws, [a, 1 - a])]
        lv = lhs.point()
        rv = rhs.point() if isinstance(rhs, _Sample) else float(rhs)
        result.update(ours={"lhs": lv, "rhs": rv, "diff": lv - rv}, ci=ci, paired=paired,
                      verdict=verdict(kind, ci, margin))
        if isinstance(rhs, _Sample) and not paired and _is_problem_metric(lhs_spec) and _is_problem_metric(rhs_spec):
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


def profile_bands(profile: Mapping) -> dict[str, list[int]]:
    """Bands of a profile as op lists; accepts [lo, hi] ranges, explicit op lists, or {lo, hi} mappings."""
    out = {}
    for name, b in (profile.get("bands") or {}).items():
        if isinstance(b, Mapping):
            if "ops" in b:
                out[name] = [int(o) for o in b["ops"]]
            else:
                out[name] = list(range(int(b["lo"]), int(b["hi"]) + 1))
        elif isinstance(b, (list, tuple)) and len(b) == 2 and not isinstance(b, str):
            lo, hi = int(b[0]), int(b[1])
            out[name] = list(range(lo, hi + 1))
        else:
            out[name] = [int(o) for o in b]
    return out


def departure_items(profile: Mapping) -> list[dict]:
    """Normalize a profile's departures to [{"field", "reason", "applies_to"}].

    Accepts the schema's list of {key, paper, ours, reason}, a {field: reason} mapping, or plain strings."""
    deps = profile.get("departures") or []
    if isinstance(deps, Mapping):
        deps = [{"key": k, **(v if isinstance(v, Mapping) else {"reason": str(v)})} for k, v in deps.items()]
    items = []
    for d in deps:
        if not isinstance(d, Mapping):
            items.append({"field": "", "reason": str(d), "applies_to": None})
            continue
        reason = str(d.get("reason") or "")
        if d.get("ours") or d.get("paper"):
            what = f"{d.get('ours') or '?'} instead of {d.get('paper') or '?'}"
            reason = f"{what} ({reason})" if reason else what
        items.append({"field": str(d.get("field") or d.get("key") or ""), "reason": reason,
                      "applies_to": d.get("applies_to")})
    return items


def departure_text(d: Mapping) -> str:
    return f"{d['field']}: {d['reason']}" if d["field"] else d["reason"]


def departures_for(profile: Mapping, claim: Mapping, finding: str | None = None) -> list[str]:
    """The profile departures that bear on a claim: those without `applies_to`, or naming its id, finding,
    arms, bands, contexts or metrics."""
    tokens = {str(claim.get("id")), str(finding)}
    for side in ("lhs", "rhs"):
        s = claim.get(side) or {}
        tokens |= {str(s[k]) for k in ("arm", "band", "context", "metric") if s.get(k) is not None}
    out = []
    for d in departure_items(profile):
        applies = d["applies_to"]
        if applies is None or tokens & {str(a) for a in ([applies] if isinstance(applies, str) else applies)}:
            out.append(departure_text(d))
    return out


def finding_name(spec: Mapping) -> str:
    return str(spec.get("finding") or spec.get("name") or spec.get("id") or "finding")


def profile_name(profile: Mapping | str | None) -> str:
    if isinstance(profile, Mapping):
        return str(profile.get("name") or profile.get("profile") or "")
    return str(profile or "")


def is_claims_config(obj: Any) -> bool:
    """True for a resolved `claims` stage config (`interplay.spec.resolve`): arms carry their artifact dirs."""
    return isinstance(obj, Mapping) and isinstance(obj.get("arms"), Mapping) and all(
        isinstance(a, Mapping) and ("eval_dirs" in a or "rl_dir" in a) for a in obj["arms"].values())


def arm_sources(cfg: Mapping) -> dict[str, dict]:
    """Arm sources of a resolved claims config: {arm: {"eval": main test set's eval dir, "rl": rl dir}}."""
    out = {}
    for arm, a in (cfg.get("arms") or {}).items():
        evals = list((a.get("eval_dirs") or {}).values())
        out[arm] = {"eval": evals[0] if evals else a.get("eval_dir"), "rl": a.get("rl_dir")}
    return out


def check_finding(finding_spec: dict, arm_dirs: dict[str, Path] | None = None, bands: dict | None = None,
                  profile: dict | None = None, out_path=None, seed: int | None = None, n_boot: int = 2000) -> dict:
    """Check every claim of a finding; write `verdicts.json` atomically when `out_path` is given.

    Two call forms: `check_finding(spec, arm_dirs, bands, profile, out_path)`, or `check_finding(cfg)` with a
    resolved claims config (contract §6a: arms, bands, departures, profile, seed and resolved claims in one
    dict), which is pure. Returns {"finding", "title", "profile", "bands", "claims", "summary"}."""
    if arm_dirs is None:
        cfg = finding_spec
        arm_dirs = arm_sources(cfg)
        bands = profile_bands(cfg) if bands is None else bands
        if profile is None:
            profile = {"name": profile_name(cfg.get("profile")), "departures": cfg.get("departures") or []}
        seed = cfg.get("seed", 0) if seed is None else seed
    bands = bands or {}
    profile = profile or {}
    seed = 0 if seed is None else int(seed)
    name = finding_name(finding_spec)
    bases = base_ladders(finding_spec, bands)
    claims = []
    for i, claim in enumerate(finding_spec.get("claims") or []):
        # Distinct bootstrap streams per claim, reproducible from (seed, position).
        r = check_claim(claim, arm_dirs, bands, seed=seed + 7919 * i, n_boot=n_boot)
        r["departures"] = departures_for(profile, claim, name)
        gate_on_ladder(r, claim.get("bases") or [], bases)
        claims.append(r)
    summary = {v: sum(c["verdict"] == v for c in claims) for v in VERDICTS}
    out = {"finding": name, "title": finding_spec.get("title", ""), "profile": profile_name(profile),
           "bands": {k: [int(o) for o in v] for k, v in bands.items()}, "bases": bases, "claims": claims,
           "summary": summary}
    if out_path is not None:
        write_json(out_path, out)
    return out


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


def load_verdicts(path) -> dict:
    return read_json(path)
