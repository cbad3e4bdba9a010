"""The base-model ladder: the one definition of what a base must show before RL results mean anything.

Paper §3 rests on a base that has learned the task in-distribution, has headroom at the edge of its competence
and none beyond it (the paper's base: ID pass@128 ≈ 100 %, OOD-edge pass@1 ≈ 17 % and pass@128 ≈ 43.5 %,
OOD-hard ≈ 0). `Ladder` holds the thresholds (the profile's `ladder:` section; defaults below), `check_ladder`
applies them to per-problem sample counts (an evaluation's `per_problem.csv` rows), with k = the largest k
every selected problem allows (the profile's n). Used by evaluation (`metrics.json` `ladder`), by the claims
(a claim whose base fails its ladder is `untestable`), by the reports and by `interplay calibrate`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from interplay.eval.passk import pass_at_k_array

RUNG_BANDS = ("id", "edge", "hard")


@dataclass  # not frozen: it is also the profile schema's `ladder` section (OmegaConf merges into it)
class Ladder:
    """Strict pass-rate thresholds of the base ladder (k = the profile's largest k, i.e. its n)."""

    id_passk_min: float = 0.95  # ID: strict pass@k >= this on every ID op (each op on its own)
    edge_pass1_min: float = 0.05  # OOD-edge: strict pass@1 in [edge_pass1_min, edge_pass1_max]
    edge_pass1_max: float = 0.40
    edge_passk_min: float = 0.20  # OOD-edge: strict pass@k in [edge_passk_min, edge_passk_max]
    edge_passk_max: float = 0.80
    hard_passk_max: float = 0.15  # OOD-hard: strict pass@k <= this

    @staticmethod
    def from_dict(d: Mapping[str, Any] | None) -> "Ladder":
        """A Ladder from a mapping; keys of other (older) layouts are ignored."""
        names = {f.name for f in fields(Ladder)}
        return Ladder(**{k: float(v) for k, v in (d or {}).items() if k in names})

    def rungs(self) -> list[dict]:
        """(band, statistic, per_op, lo, hi) of each rung, in the order they are reported."""
        return [{"band": "id", "stat": "pass@k", "per_op": True, "lo": self.id_passk_min, "hi": None},
                {"band": "edge", "stat": "pass@1", "per_op": False, "lo": self.edge_pass1_min,
                 "hi": self.edge_pass1_max},
                {"band": "edge", "stat": "pass@k", "per_op": False, "lo": self.edge_passk_min,
                 "hi": self.edge_passk_max},
                {"band": "hard", "stat": "pass@k", "per_op": False, "lo": None, "hi": self.hard_passk_max}]


def _required(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"in [{lo:g}, {hi:g}]"
    return f">= {lo:g}" if lo is not None else f"<= {hi:g}"


def check_ladder(rows: Iterable[Mapping[str, Any]], bands: Mapping[str, Sequence[int]], ladder: Ladder = Ladder(),
                 *, k: int | None = None, contexts: Sequence[str] | None = None, metric: str = "strict") -> dict:
    """Apply the ladder to per-problem rows (`op`, `n`, `c_<metric>`, optional `context`).

    `bands` binds id / edge / hard to ops; `contexts` keeps only those contexts (None: all); k defaults to the
    smallest n of the selected rows. Returns {holds (True / False / None when a rung has no problems), k,
    contexts, rungs: [{band, ops, stat, k, value, op (ID: the worst op), required, ok, problems}], failed:
    [one line per failed or unmeasured rung]}."""
    sel = [r for r in rows if contexts is None or r.get("context") in set(contexts)]
    if k is None:
        ns = [int(r["n"]) for r in sel if any(int(r["op"]) in set(map(int, ops)) for ops in bands.values())]
        k = min(ns) if ns else None
    out_rungs, failed = [], []
    for rung in ladder.rungs():
        band = rung["band"]
        ops = sorted(int(o) for o in bands.get(band, ()))
        kk = 1 if rung["stat"] == "pass@1" else k
        groups = [[r for r in sel if int(r["op"]) == op] for op in ops] if rung["per_op"] else \
            [[r for r in sel if int(r["op"]) in set(ops)]]
        value, worst, problems = None, None, sum(len(g) for g in groups)
        if kk is not None and groups and all(groups) and all(int(r["n"]) >= kk for g in groups for r in g):
            vals = [float(pass_at_k_array(np.array([int(r["n"]) for r in g]),
                                          np.array([int(r[f"c_{metric}"]) for r in g]), kk).mean()) for g in groups]
            i = int(np.argmin(vals))
            value, worst = vals[i], (ops[i] if rung["per_op"] else None)
        lo, hi = rung["lo"], rung["hi"]
        ok = None if value is None else bool((lo is None or value >= lo) and (hi is None or value <= hi))
        stat = "pass@k" if rung["stat"] == "pass@k" and kk is None else f"pass@{kk}"
        entry = {"band": band, "ops": ops, "stat": stat, "k": kk, "value": value, "op": worst,
                 "lo": lo, "hi": hi, "required": _required(lo, hi), "ok": ok, "problems": problems}
        out_rungs.append(entry)
        if ok is not True:
            failed.append(rung_text(entry, metric))
    holds = None if any(r["ok"] is None for r in out_rungs) and not any(r["ok"] is False for r in out_rungs) \
        else all(r["ok"] for r in out_rungs)
    return {"holds": holds, "k": k, "metric": metric, "contexts": None if contexts is None else list(contexts),
            "thresholds": asdict(ladder), "rungs": out_rungs, "failed": failed}


def rung_text(r: Mapping[str, Any], metric: str = "strict") -> str:
    """One line: `edge (op 5-6) strict pass@1 = 0.0 %, required in [5, 40] %` (op named for per-op rungs)."""
    ops = r["ops"]
    where = f"op {r['op']}" if r.get("op") is not None else (f"op {ops[0]}-{ops[-1]}" if ops else "no ops")
    if r["value"] is None:
        return f"{r['band']} ({where}) {metric} {r['stat']}: not measured ({r['problems']} problems)"
    pct = lambda x: None if x is None else 100 * x  # noqa: E731
    return (f"{r['band']} ({where}) {metric} {r['stat']} = {100 * r['value']:.1f} %, "
            f"required {_required(pct(r['lo']), pct(r['hi']))} %")


def ladder_contexts(components: Sequence[Mapping[str, Any]], id_ops: Sequence[int]) -> list[str]:
    """Contexts in which a training mix covers every ID op: where the ladder of a base is measured (a base
    trained on context A with a 1 % seed of B at op 2 is held to its ladder on A)."""
    covered: dict[str, set[int]] = {}
    for c in components:
        covered.setdefault(c["context"], set()).update(int(o) for o in c["ops"])
    need = {int(o) for o in id_ops}
    return [ctx for ctx, ops in covered.items() if need <= ops]
