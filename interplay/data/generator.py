"""Dependency-graph sampling: the official GSM-Infinite "realistic" generator (d = 2), fast, exact op counts.

This follows `forward_generator.py::drawAll` / `reverse_generator.py::drawAllEquan` as vendored by the
authors' repository (`gsm_infinite/gsm-infinite/data/realistic/`, called from
`scripts/data_gen/generate_zero_context_medium.py`), step by step:

  sizes      s from OP_SCHEDULE (s = (op_max + 1) // 2), n, m, t0/t1 ~ softmax, w0/w1, e
  structure  drawStructure: a 2-layer graph places x item types with e edges
  nece1      abstract "total" parameters while op <= n, then loose instance parameters up to m
  nece2      a topological order built back to front, adding <= 1 edge per instance parameter
  nece3      raise instance op counts until sum(cur_op) >= s, then draw parents from {RNG} + earlier nodes
  values     literals 1..4 (2..4 for "times"), + / - / multi-term sums; reject any necessary value
             outside [1, 1000] (0 allowed only for totals)
  unnecessary  every remaining instance parameter becomes a distractor with 1-4 random parents

The official code draws whole samples until `num_op` equals the requested op (5-120 tries each), and so
does `sample_graph`: every failed check starts a fresh sample (stage A = sizes..nece2, B = nece3, C =
values), so accepted graphs follow the official acceptance law exactly. It is fast because the checks that
can be decided early are made early, each one exact (it only rejects draws that a later check would reject
for certain), and because the names are drawn after acceptance (they never influence a check). Official
quirks that shape the distribution are kept and marked "official quirk"; the reverse mode's first
topological pick (always a total when the graph has one) follows `reverse_generator.py::drawNecessary2`.
Two deliberate departures: a 0 value is allowed only for totals (the official test is a substring match on
"total"/"average"/"all", which also lets e.g. "adult owl in Cedar Valley" be 0), and construct_second's
random pairs have no 10e-attempt cap (same law, minus the cap's rare failures). docs/fidelity.md lists
every known difference from the authors' generator with its measured size.

A problem is a pure function of (config, seed, index): its RNG is seeded from a SHA-256 of those, and the
rendering (`interplay.data.render`) continues the same stream. The render surface, the distractor cap and
`official_reverse_defect` are not part of the seed, so e.g. `paper` and `compact` renderings of one
(seed, index) are the same problem.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from interplay.data.contexts import CONTEXTS, Context, get_context
from interplay.knobs import MODES, Render
from interplay.data.records import content_id
from interplay.data.render import render
from interplay.data.types import Problem

__all__ = ["GenConfig", "generate", "generate_many", "CONTEXTS", "OP_SCHEDULE", "structure_size",
           "COMPACT_MAX_DISTRACTORS", "MAX_OP", "SampledGraph"]

GEN_VERSION = 2  # bump when the sampling stream changes (changes every problem)
IP_MAX = 20  # official `ip_max`
MAX_OP = 40  # beyond the official 2..20; ops > 20 extrapolate the schedule (structure_size)
RENDERS = tuple(Render)
# Default distractor cap for the `compact` surface (CLI and corpora at CPU scale): keeps a forward op-12
# compact training text at <= 200 word-level tokens (measured, see benchmarks/ and the report).
COMPACT_MAX_DISTRACTORS = 3

# (op_max, ops) as in generate_zero_context_medium.py; strictline = op_max and s = (op_max + 1) // 2.
OP_SCHEDULE = ((30, (20, 19)), (25, (16, 17, 18)), (20, (12, 13, 14, 15)), (15, (10, 11)), (10, (7, 8, 9)),
               (6, (5, 6)), (4, (4,)), (3, (3,)), (3, (2,)))
_S_OF_OP = {op: (op_max + 1) // 2 for op_max, ops in OP_SCHEDULE for op in ops}

_MAX_ATTEMPTS = 500_000  # whole-sample draws before giving up (op 12 needs ~14 on average)
RNG = -1  # the literal-constant pseudo node


def structure_size(op: int) -> int:
    """Official structural size s for a target op (ops > 20 extrapolate the schedule's ~3/4 ratio)."""
    return _S_OF_OP[op] if op in _S_OF_OP else (3 * op + 3) // 4


@dataclass(frozen=True)
class GenConfig:
    op: int  # exact op count (>= 2): sum of in-degrees of the necessary nodes, constant edges included
    mode: str = "forward"  # forward | reverse
    context: str = "zoo"  # zoo | teachers | festival
    render: str = "paper"  # paper | compact
    max_distractors: int | None = None  # cap on distractor sentences (None = all, as official)
    modulus: int | None = None  # None = no modulus (official mod=-1); forward mode only
    number_range: int = 5  # literals 1..number_range-1 (2.. for "times")
    # Reproduce the authors' reverse-mode sentence defect (docs/fidelity.md): their sentence writer reuses its
    # own variable in a loop, so a node whose 3+ term sum lists the hidden quantity second to last gets a
    # second copy of the hidden quantity's "... exists" sentence instead of its own. Changes the text only
    # (the same (seed, index) is the same graph), and such problems cannot be solved from their text.
    official_reverse_defect: bool = False

    def __post_init__(self):
        if isinstance(self.op, bool) or not isinstance(self.op, int) or not 2 <= self.op <= MAX_OP:
            raise ValueError(f"op must be an integer in [2, {MAX_OP}], got {self.op!r}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (expected forward or reverse)")
        if self.context not in CONTEXTS:
            raise ValueError(f"unknown context {self.context!r} (expected one of {', '.join(CONTEXTS)})")
        if self.render not in RENDERS:
            raise ValueError(f"unknown render {self.render!r} (expected paper or compact)")
        if self.max_distractors is not None and self.max_distractors < 0:
            raise ValueError(f"max_distractors must be >= 0 or None, got {self.max_distractors}")
        if self.modulus is not None and (self.modulus < 2 or self.mode == "reverse"):
            raise ValueError("modulus must be >= 2 and is only supported in forward mode")
        if self.number_range < 3:
            raise ValueError(f"number_range must be >= 3, got {self.number_range}")


@dataclass
class SampledGraph:
    """One accepted sample: the necessary graph in topological order, values, and the distractors.

    Nodes are ints. Totals come first (one per place), then instance parameters. `parents` keeps the
    official edge order (it decides operand order in sentences and solutions); RNG edges are flags.
    """

    ctx: Context
    places: list[str]  # official place names, indexed by place id
    items: list[str]  # official item names, indexed by item id
    is_total: list[bool]
    place_of: list[int]
    item_of: list[int]  # -1 for totals
    parents: list[list[int]]
    has_rng: list[bool]
    topo: list[int]  # necessary nodes; topo[-1] is the forward query
    necessary_instances: list[int]  # instance nodes with a sentence and a step (G order)
    unknown: int | None = None  # reverse mode: the hidden parameter x
    value: dict[int, int] = field(default_factory=dict)  # true values of necessary nodes
    lin: dict[int, tuple[int, int]] = field(default_factory=dict)  # reverse: value = a*x + b as (a, b)
    plus: dict[int, bool] = field(default_factory=dict)  # RNG combined by "plus" (else "times")
    lit: dict[int, int] = field(default_factory=dict)  # literal K of a node
    minus: dict[int, bool] = field(default_factory=dict)  # two-parent node is a difference
    distractors: list[int] = field(default_factory=list)  # in official G order

    def op(self) -> int:
        return sum(len(self.parents[v]) + self.has_rng[v] for v in self.topo)


class _Retry(Exception):
    """A sampling stage failed (the official code would raise and redraw)."""


def _width_cdf(s: int) -> list[float]:
    rel = (s - 1) / (IP_MAX - 1)
    w = [math.exp(-((rel - c) ** 2)) for c in (0.1, 0.3, 0.5, 0.7, 0.9)]
    tot = sum(w)
    cdf, acc = [], 0.0
    for x in w:
        acc += x / tot
        cdf.append(round(acc, 12))  # rounded so libm differences cannot move a draw
    cdf[-1] = 1.0
    return cdf


_CDF_CACHE: dict[int, list[float]] = {}


def _ri(rng: random.Random, n: int) -> int:
    """Uniform index in [0, n): one float draw, ~3x cheaper than randrange (bias < 2**-40 for small n)."""
    return int(rng.random() * n)


def _rint(rng: random.Random, a: int, b: int) -> int:
    """Uniform integer in [a, b] (random.randint semantics)."""
    return a + int(rng.random() * (b - a + 1))


def _categorical(rng: random.Random, cdf: list[float]) -> int:
    u = rng.random()
    for i, c in enumerate(cdf):
        if u < c:
            return i
    return len(cdf) - 1


def _biased(rng: random.Random, cands: list[int], touched: set[int], is_total: list[bool]) -> int:
    # official samplingwithbias: weight exp((abstract + in Next1) * |N(0,1)|) (weight 1 needs no normal draw).
    # The one libm call in the sampler: a 1-ulp exp() difference across platforms could only flip a draw
    # landing on a boundary.
    w = [math.exp(k * abs(rng.gauss(0.0, 1.0))) if (k := is_total[c] + (c in touched)) else 1.0 for c in cands]
    u = rng.random() * sum(w)
    for c, x in zip(cands, w):
        u -= x
        if u < 0:
            return c
    return cands[-1]


@dataclass
class _Core:
    """Output of stage A (sizes, structure, nece1, nece2)."""

    g: SampledGraph
    all_instances: list[int]  # structure instance params, place-major
    totals_left: list[int]  # abstract list after nece1 (official: picked and rejected ones removed)
    base_parents: dict[int, list[int]]  # instance parents after nece2 (<= 1 each)
    m_op: dict[int, int]
    nece1: tuple[int, int]  # (op of the totals, instance parameters) after nece1, for the op bounds


def op_bounds(total_op: int, n_inst: int, s: int) -> tuple[int, int]:
    """Exact range of the final op given the state after nece1 (totals' op T, I instance parameters).

    After nece3 every instance parameter v has 1 <= op(v) <= c(v) + 1, where c is its nece3 op count and
    sum(c) = max(s - T, sum of nece2 edges); nece2 gives each instance <= 1 edge and the official
    addingparameter adds at most one instance and one edge. So T + I <= op <= max(s, T + I + 1) + I + 1.
    """
    return total_op + n_inst, max(s, total_op + n_inst + 1) + n_inst + 1


_CAP_DEFICIT = (2, 2, 1)  # 3 - min(3, max(1, p)) for topo positions p = 0, 1, 2


def cap_bound(total_op: int, n_tot: int, n_inst: int) -> int:
    """Largest nece3 capacity T + sum(min(3, max(1, topo index))) over the instance parameters that a
    nece2 order of these nodes can give: the instances at the last positions (addingparameter can add one
    node when there are two)."""
    add = n_tot + n_inst == 2
    n, k = n_tot + n_inst + add, n_inst + add
    return total_op + 3 * k - sum(_CAP_DEFICIT[p] for p in range(n - k, min(n, 3)))


def _may_succeed(total_op: int, n_tot: int, n_inst: int, s: int, target: int) -> bool:
    """Exact early exit after nece1: False only for draws that op_bounds or the capacity check reject."""
    return (total_op + n_inst <= target <= max(s, total_op + n_inst + 1) + n_inst + 1  # = op_bounds
            and cap_bound(total_op, n_tot, n_inst) >= s)


def _stage_a(rng: random.Random, s: int, reverse: bool, ctx: Context, target: int,
             shortcut: bool = True) -> _Core:
    """Sizes, structure, nece1 and nece2. `shortcut=False` skips the exact early exit (tests use it)."""
    rnd = rng.random
    n = max(1 + int(rnd() * s), 1 + int(rnd() * s))
    m = n + int(rnd() * (s - n + 1))
    cdf = _CDF_CACHE.get(s) or _CDF_CACHE.setdefault(s, _width_cdf(s))
    t0, t1 = _categorical(rng, cdf) + 1, _categorical(rng, cdf) + 1
    if s <= 5:  # official clamps: forward (d == 2) up to 2, reverse down to 3
        t0, t1 = (min(t0, 3), min(t1, 3)) if reverse else (max(t0, 2), max(t1, 2))
    w0, w1 = min(t0, t1), max(t0, t1)
    span = IP_MAX - w0 + 1
    e = min(w0 + int(rnd() * span), w0 + int(rnd() * span), w1 * w1)

    # drawStructure: grow the layer sizes from (w0, w0) towards (w1, w1)
    l0 = l1 = w0
    p = rnd()
    while not (l0 == w1 and l1 == w1):
        if l0 * l1 < e or (l1 != e and rnd() < p):
            if l0 < w1 and (l1 == w1 or rnd() < 0.5):
                l0 += 1
            else:
                l1 += 1
        else:
            break
    adj: list[list[int]] = [[] for _ in range(l0)]
    for j in range(l1):  # construct_first: each item type gets one random place
        adj[int(rnd() * l0)].append(j)
    edges = l1
    free = [i for i in range(l0) if not adj[i]]
    while edges < e and free:  # construct_second: random place-item edges, unconnected places first
        adj[free.pop(int(rnd() * len(free)))].append(int(rnd() * l1))
        edges += 1
    if free:  # official asserts every place is connected
        raise _Retry
    if edges < e:  # official: uniform new pairs one by one = a uniform subset of the missing pairs
        non = [(i, j) for i in range(l0) for j in range(l1) if j not in adj[i]]
        nn = len(non)
        for k in range(e - edges):  # partial Fisher-Yates
            r = k + int(rnd() * (nn - k))
            non[k], non[r] = non[r], non[k]
            adj[non[k][0]].append(non[k][1])

    # drawNecessary1, counts first: add totals (places) while op <= n, stopping at the first one that does
    # not fit, then loose instance parameters up to m. The early exit needs only these counts, so the
    # parameters themselves (and the names, drawn after acceptance) are built only for draws that pass it;
    # those draws are independent of the counts, so the law is the same.
    totals_left = list(range(l0))
    g_tot: list[int] = []
    op = 0
    while totals_left:
        t = totals_left.pop(int(rnd() * len(totals_left)))
        if op + len(adj[t]) > n:
            break
        g_tot.append(t)
        op += len(adj[t])
    n_loose = min(max(m - op - 1, 0), e - op)
    if not g_tot and not n_loose:
        raise _Retry
    if shortcut and not _may_succeed(op, len(g_tot), op + n_loose, s, target):  # before the costly nece2
        raise _Retry

    # parameters: totals 0..l0-1, then one instance parameter per structure edge, place-major
    is_total = [True] * l0 + [False] * e
    place_of, item_of = list(range(l0)), [-1] * l0
    parents: list[list[int]] = []
    v = l0
    for pi in range(l0):
        kids = adj[pi]
        k = len(kids)
        for i in range(k - 1, 0, -1):  # shuffle: official iterates a Python set of nodes (arbitrary order)
            j = int(rnd() * (i + 1))
            kids[i], kids[j] = kids[j], kids[i]
        parents.append(list(range(v, v + k)))
        v += k
        place_of += [pi] * k
        item_of += kids
    all_inst = list(range(l0, l0 + e))
    parents += [[] for _ in all_inst]
    has_rng = [False] * (l0 + e)
    g_inst = [c for t in g_tot for c in parents[t]]
    in_g = set(g_inst)
    if n_loose:
        left = [v for v in all_inst if v not in in_g]
        for _ in range(n_loose):
            v = left.pop(int(rnd() * len(left)))
            g_inst.append(v)
            in_g.add(v)

    # drawNecessary2: topological order, back to front
    nodes = g_tot + g_inst
    cons = dict.fromkeys(nodes, 0)  # consumers still outside topo
    for t in g_tot:
        for c in parents[t]:
            cons[c] += 1
    remaining = set(nodes)
    free = [v for v in nodes if not cons[v]]  # not in topo, every consumer in topo ("Next2")
    touched: set[int] = set()  # nodes with a consumer in topo ("Next1")
    rtopo: list[int] = []
    if reverse and g_tot:  # reverse_generator.py: the first total of nexttwo (the first one drawn)
        p0 = g_tot[0]
    else:
        p0 = free[_ri(rng, len(free))]
    while True:
        rtopo.append(p0)
        remaining.discard(p0)
        free.remove(p0)
        for q in parents[p0]:
            cons[q] -= 1
            touched.add(q)
            if not cons[q]:
                free.append(q)
        if not remaining:
            break
        cands = [v for v in free if v in touched]  # Next1 ∩ Next2
        if not cands:
            if is_total[p0]:
                raise _Retry  # official: "param0 is abstract"
            p1 = _biased(rng, free, touched, is_total)
            parents[p0].append(p1)
            touched.add(p1)
            cands = [p1]
        elif not is_total[p0]:
            thr = rng.random()
            if rng.random() < thr:
                p1 = _biased(rng, [v for v in nodes if v in remaining], touched, is_total)
                parents[p0].append(p1)
                if p1 not in touched:
                    touched.add(p1)
                    if not cons[p1]:
                        cands.append(p1)
        p0 = cands[_ri(rng, len(cands))]
    topo = rtopo[::-1]
    if len(topo) == 2 and rng.random() < 0.5:  # official addingparameter
        newit = next((v for v in all_inst if v not in in_g), None)
        if newit is not None:
            if rng.random() < 0.5:
                parents[topo[0]].append(newit)
                topo.insert(0, newit)
            else:
                parents[newit].append(topo[1])
                topo.append(newit)
            g_inst.append(newit)

    m_op = {v: min(3, max(1, i)) for i, v in enumerate(topo) if not is_total[v]}
    base = {v: list(parents[v]) for v in g_inst}
    # nece3 can only reach s if the capacity allows it (official: "Cannot find any instance parameter")
    if op + sum(max(len(base[v]), m_op[v]) for v in g_inst) < s:
        raise _Retry
    g = SampledGraph(ctx=ctx, places=[], items=[], is_total=is_total, place_of=place_of,
                     item_of=item_of, parents=parents, has_rng=has_rng, topo=topo,
                     necessary_instances=list(g_inst))
    return _Core(g, all_inst, totals_left, base, m_op, (op, len(in_g)))


def _draw_names(g: SampledGraph, rng: random.Random) -> None:
    """The place and item names (one sub-category per layer, sampled without replacement)."""
    l0 = sum(g.is_total)
    l1 = max(g.item_of) + 1
    g.places = rng.sample(rng.choice(g.ctx.place_groups), l0)
    g.items = rng.sample(rng.choice(g.ctx.item_groups), l1)


def _stage_b(core: _Core, rng: random.Random, s: int, target: int | None = None) -> bool:
    """drawNecessary3: draw the instance parameters' parents (incl. RNG) from earlier topo nodes.

    Returns whether the op is `target`; stops drawing as soon as it cannot be (exact: a rejected sample is
    never used). target=None draws everything.
    """
    g = core.g
    topo = g.topo
    parents, m_op = g.parents, core.m_op
    inst = g.necessary_instances
    base = core.base_parents
    c_op = {v: len(base[v]) for v in inst}
    op = core.nece1[0]  # the totals' edges
    total = sum(c_op.values()) + op
    if total < s:
        cands = [v for v in inst if c_op[v] < m_op[v]]
        while total < s:
            i = _ri(rng, len(cands))
            v = cands[i]
            c_op[v] += 1
            total += 1
            if c_op[v] >= m_op[v]:
                cands.pop(i)
    left = len(inst)  # every instance parameter adds >= 1
    for idx, v in enumerate(topo):
        if g.is_total[v]:
            continue
        plist = list(base[v])
        c = c_op[v]
        dep = (1 if rng.random() < 0.5 else 2) if c == 1 else c + 1
        dep = min(idx + 1, dep)  # |pool| = RNG + idx earlier nodes
        pool = topo[:idx]
        if plist:
            # official quirk: the loop variable left over from the membership scan is removed, i.e. the
            # node just before v, not the existing parent (which can then be re-drawn and deduplicated)
            pool = pool[:-1]
            dep -= 1
        rng_edge = False
        if dep == len(pool) + 1:
            rng_edge = True
            picks = pool
        else:
            if rng.random() < 0.5:
                rng_edge = True
                dep -= 1
            picks = []
            for k in range(dep):  # partial Fisher-Yates: dep distinct nodes
                r = k + int(rng.random() * (len(pool) - k))
                pool[k], pool[r] = pool[r], pool[k]
                picks.append(pool[k])
        for b in picks:
            if b not in plist:
                plist.append(b)
        parents[v] = plist
        g.has_rng[v] = rng_edge
        op += len(plist) + rng_edge
        left -= 1
        if target is not None and op + left > target:
            return False
    return target is None or op == target


def _letters_needed(g: SampledGraph) -> int:
    need = 0
    for v in g.topo:
        k = len(g.parents[v])
        if v == g.unknown:
            continue
        if g.is_total[v]:
            need += max(1, k - 1)
        else:
            need += 1 + max(0, k - 2) + (1 if g.has_rng[v] and k else 0)
    return need


def _pick_unknown(g: SampledGraph) -> int | None:
    # official oneparameterquery: the last instance parameter whose only parent is RNG (or none)
    for v in reversed(g.topo):
        if not g.is_total[v] and not g.parents[v]:
            return v
    return None


def _stage_c(g: SampledGraph, rng: random.Random, cfg: GenConfig) -> bool:
    """Draw literals and operators, evaluate, and apply the official value rules."""
    nr, mod = cfg.number_range, cfg.modulus
    rev = g.unknown is not None
    val: dict[int, int] = {}
    lin: dict[int, tuple[int, int]] = {}
    plus, lit, minus = {}, {}, {}
    for v in g.topo:
        ps = g.parents[v]
        if g.is_total[v]:
            x = sum(val[c] for c in ps)
            if mod:
                x %= mod
            if rev:
                lin[v] = (sum(lin[c][0] for c in ps), sum(lin[c][1] for c in ps))
            if not 0 <= x <= 1000:
                return False
            val[v] = x
            continue
        if g.has_rng[v]:
            pl = rng.random() < 0.5
            plus[v] = pl
            lit[v] = _rint(rng, 1, nr - 1) if pl else _rint(rng, 2, nr - 1)
        elif not ps:
            lit[v] = _rint(rng, 1, nr - 1)
        if len(ps) == 2:
            minus[v] = rng.random() >= 0.5  # official: "sum" with p = 0.5, else "difference"
        if not ps:
            x = lit[v]
            lv = (1, 0) if v == g.unknown else (0, x)
        else:
            if len(ps) == 2 and minus[v]:
                x = val[ps[0]] - val[ps[1]]
                lv = (lin[ps[0]][0] - lin[ps[1]][0], lin[ps[0]][1] - lin[ps[1]][1]) if rev else None
            else:
                x = sum(val[c] for c in ps)
                lv = (sum(lin[c][0] for c in ps), sum(lin[c][1] for c in ps)) if rev else None
            if mod:
                x %= mod
            if g.has_rng[v]:
                k = lit[v]
                if plus[v]:
                    x = k + x
                    lv = (lv[0], lv[1] + k) if rev else None
                else:
                    x = k * x
                    lv = (k * lv[0], k * lv[1]) if rev else None
                if mod:
                    x %= mod
        if not 1 <= x <= 1000:  # official: < 0, > 1000, or 0 for a non-total name are rejected
            return False
        val[v] = x
        if rev:
            lin[v] = lv
    if rev and lin[g.topo[-1]][0] == 0:  # x cancelled: not a first-order equation
        return False
    g.value, g.lin, g.plus, g.lit, g.minus = val, lin, plus, lit, minus
    return True


def _draw_unnecessary(core: _Core, rng: random.Random) -> None:
    """drawUnnecessary: every remaining instance parameter becomes a distractor."""
    g = core.g
    g_tot = [v for v in g.topo if g.is_total[v]]
    tot_set = set(g_tot)
    g_inst = list(g.necessary_instances)
    in_g = set(g_inst)
    rest = [v for v in core.all_instances if v not in in_g]
    ind: list[int] = []
    order: list[int] = []
    while rest:
        dep_from = [t for t in core.totals_left if any(c in in_g for c in g.parents[t])]
        k_pool = g_tot + g_inst + dep_from  # official K (may list a total twice)
        a = rest.pop(_ri(rng, len(rest)))
        g_inst.append(a)
        in_g.add(a)
        order.append(a)
        if rng.random() < 0.5:
            pool = ind + [RNG]
            ind.append(a)
        else:
            pool = k_pool + [RNG]
        dep, lim = 1, min(4, len(pool))
        while dep < lim and rng.random() < 0.5:
            dep += 1
        if dep == len(pool):
            selected = pool
        else:
            selected = []
            if rng.random() < 0.5:
                selected.append(RNG)
                dep -= 1
            selected += rng.sample(pool[:-1], dep)
        plist: list[int] = []
        for b in selected:
            if b == RNG:
                g.has_rng[a] = True
                continue
            if g.is_total[b] and b not in tot_set:  # pulls the total's instance params in (no parents)
                g_tot.append(b)
                tot_set.add(b)
                for c in g.parents[b]:
                    if c not in in_g:
                        g_inst.append(c)
                        in_g.add(c)
                        order.append(c)
            if b not in plist:
                plist.append(b)
        g.parents[a] = plist
        rest = [v for v in rest if v not in in_g]
    g.distractors = order


def sample_graph(cfg: GenConfig, rng: random.Random, shortcut: bool = True) -> SampledGraph:
    """Sample one accepted graph (necessary part, values, distractors) for `cfg` from `rng`.

    Whole-sample rejection, as the official generator: any failed check draws a completely new sample.
    shortcut=False drops the exact early exits (same law, slower; the tests compare the two).
    """
    ctx = get_context(cfg.context)
    s = structure_size(cfg.op)
    reverse = cfg.mode == "reverse"
    max_letters = 50 if reverse else 52
    for _ in range(_MAX_ATTEMPTS):
        try:
            core = _stage_a(rng, s, reverse, ctx, cfg.op, shortcut)
        except _Retry:
            continue
        g = core.g
        if not _stage_b(core, rng, s, cfg.op if shortcut else None) or g.op() != cfg.op:
            continue
        g.unknown = _pick_unknown(g) if reverse else None
        if (reverse and g.unknown is None) or _letters_needed(g) > max_letters:
            continue
        if _stage_c(g, rng, cfg):
            _draw_names(g, rng)
            _draw_unnecessary(core, rng)
            return g
    raise RuntimeError(f"could not sample a graph with op={cfg.op} ({cfg.mode}) in {_MAX_ATTEMPTS} attempts")


def _problem_seed(cfg: GenConfig, seed: int, index: int) -> int:
    # render and max_distractors are left out on purpose: both surfaces show the same problem
    key = json.dumps({"v": GEN_VERSION, "op": cfg.op, "mode": cfg.mode, "context": cfg.context,
                      "modulus": cfg.modulus, "number_range": cfg.number_range, "seed": int(seed),
                      "index": int(index)}, sort_keys=True)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:16], "big")


def generate(cfg: GenConfig, seed: int, index: int) -> Problem:
    """The problem number `index` of stream `seed` for `cfg`: a pure function of its arguments."""
    rng = random.Random(_problem_seed(cfg, seed, index))
    g = sample_graph(cfg, rng)
    problem, question, solution, graph = render(g, cfg, rng)
    return Problem(problem=problem, question=question, solution=solution, op=cfg.op,
                   id=content_id(problem, question, solution), template=g.ctx.template, mode=cfg.mode,
                   answer=int(graph.answer), graph=graph, render=cfg.render)


def generate_many(cfg: GenConfig, seed: int, count: int, start: int = 0,
                  exclude_ids: Iterable[str] = ()) -> Iterator[Problem]:
    """`count` problems with distinct ids, none in `exclude_ids` (e.g. the test sets' ids).

    Indices start at `start` and duplicates are skipped, so the stream stays a pure function of the
    arguments. Raises RuntimeError if the problem space looks exhausted (tiny ops, huge counts).
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    seen = set(exclude_ids)
    made = misses = 0
    index = start
    while made < count:
        p = generate(cfg, seed, index)
        index += 1
        if p.id in seen:
            misses += 1  # consecutive duplicates: a long run means the op's problem space is used up
            if misses > min(max(1000, 10 * count), 100_000):
                raise RuntimeError(f"only {made} distinct problems for op={cfg.op} after {index - start} draws")
            continue
        misses = 0
        seen.add(p.id)
        made += 1
        yield p
