"""Text surfaces of a sampled graph, and the official training/prompt strings.

`paper` reproduces the official generator's text byte for byte (paper App. A.1; the authors' realistic
generator): sentences
from `generate_sentence`, shuffled and joined as "<sentence>. "; questions from `question_in_text`; the
solution from `solution_in_text` (forward) or the reverse variant with its sympy-printed expressions in x
and the `solve_linear_equation_from_string` steps. `compact` is the same grammar with one-word names and
symbolic sentences.

Both surfaces consume the same random draws from the problem's RNG (distractor literals, letters, the
shuffle), so a (seed, index) renders to the same problem in either surface and under any distractor cap.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

from interplay.data.types import Graph, Node

if TYPE_CHECKING:  # pragma: no cover
    from interplay.data.generator import GenConfig, SampledGraph

__all__ = ["render", "training_text", "prompt_text", "fmt_linear", "word_tokens", "WORD_RE", "defect_sentence"]

_LETTERS = [chr(c) for c in range(65, 91)] + [chr(c) for c in range(97, 123)]
_LETTERS_REVERSE = [c for c in _LETTERS if c not in "Xx"]
REVERSE_PREAMBLE = "The question is difficult, so we use equations to solve it. "
_UNKNOWN_PAPER = "we don't know its value yet but will find it out later. "
_UNKNOWN_COMPACT = "so x = x. "

# contract word-level tokenization (compact tokenizer pre-tokenizer and every length estimate)
WORD_RE = re.compile(r"</?[a-z]+>|\[[A-Z]+\]|\w+|[^\w\s]")


def word_tokens(text: str) -> list[str]:
    return WORD_RE.findall(text)


def fmt_linear(a: int, b: int) -> str:
    """str(sympify(...)) of a*x + b with integer a, b, as the official reverse solutions print it."""
    if a == 0:
        return str(b)
    ax = "x" if a == 1 else "-x" if a == -1 else f"{a}*x"
    if b == 0:
        return ax
    if a > 0:
        return f"{ax} + {b}" if b > 0 else f"{ax} - {-b}"
    return f"{b} - {ax[1:]}" if b > 0 else f"{ax} - {-b}"  # sympy leads with the positive term


def _standard_name(name: str, begin: bool = False) -> str:
    pre = "The " if begin else "the "
    first = name.split(" ", 1)[0]
    return pre + name if first in ("average", "total") else pre + "number of " + name


def _names(g: SampledGraph, compact: bool) -> dict[int, str]:
    ctx = g.ctx
    out = {}
    for v in range(len(g.is_total)):
        place = g.places[g.place_of[v]]
        out[v] = ctx.total_name(place, compact) if g.is_total[v] else ctx.instance_name(
            g.items[g.item_of[v]], place, compact)
    return out


def _paper_sentence(g: SampledGraph, v: int, nm: dict[int, str], lit: int | None, plus: bool | None,
                    minus: bool | None) -> str:
    if v == g.unknown:
        return f"{_standard_name(nm[v], True)} exists, and its number is greater than 0"
    ps = g.parents[v]
    text = f"{_standard_name(nm[v], True)} equals"
    if g.has_rng[v]:
        text += f" {lit}"
        if ps:
            text += " plus" if plus else " times"
    if len(ps) == 1:
        text += f" {_standard_name(nm[ps[0]])}"
    elif len(ps) == 2:
        word = "the difference between" if minus else "the sum of"
        text += f" {word} {_standard_name(nm[ps[0]])} and {_standard_name(nm[ps[1]])}"
    elif len(ps) > 2:
        text += " the sum of " + "".join(f"{_standard_name(nm[p])}, " for p in ps[:-1])
        text += f"and {_standard_name(nm[ps[-1]])}"
    elif not g.has_rng[v]:
        text += f" {lit}"
    return text


def _compact_sentence(g: SampledGraph, v: int, nm: dict[int, str], lit: int | None, plus: bool | None,
                      minus: bool | None) -> str:
    if v == g.unknown:
        return f"{nm[v]} > 0"
    ps = g.parents[v]
    if not ps:
        return f"{nm[v]} = {lit}"
    inner = f" {'-' if minus else '+'} ".join(nm[p] for p in ps)
    if g.has_rng[v]:
        op = "+" if plus else "*"
        return f"{nm[v]} = {lit} {op} {inner}" if len(ps) == 1 else f"{nm[v]} = {lit} {op} ( {inner} )"
    return f"{nm[v]} = {inner}"


def _solution(g: SampledGraph, nm: dict[int, str], rng: random.Random, compact: bool,
              mod: int | None) -> tuple[str, dict[int, str]]:
    rev = g.unknown is not None
    letters = list(_LETTERS_REVERSE if rev else _LETTERS)

    def new() -> str:
        return letters.pop(rng.randrange(len(letters)))

    def rt(v: int) -> str:  # the text a value prints as (sympy expression in reverse mode)
        return fmt_linear(*g.lin[v]) if rev else str(g.value[v])

    def add(x, y):
        if rev:
            return (x[0] + y[0], x[1] + y[1])
        return (x + y) % mod if mod else x + y

    def show(x) -> str:
        return fmt_linear(*x) if rev else str(x)

    def q(v: int):  # the quantity a node carries: (a, b) in reverse mode, its value otherwise
        return g.lin[v] if rev else g.value[v]

    var: dict[int, str] = {}
    steps = []
    for v in g.topo:
        ps = g.parents[v]
        if v == g.unknown:
            var[v] = "x"
            steps.append(f"Define {nm[v]} as x; {_UNKNOWN_COMPACT if compact else _UNKNOWN_PAPER}")
            continue
        if g.is_total[v]:  # implicit sum of the place's instance parameters
            if len(ps) == 1:
                cur_var = new()
                text = f"so {cur_var} = {var[ps[0]]} = {rt(ps[0])}; "
            else:
                text, cur_var, cur = "", var[ps[0]], q(ps[0])
                for i, c in enumerate(ps[1:], 1):
                    nv, nxt = new(), add(cur, q(c))
                    text += ("so " if i == len(ps) - 1 else "") + \
                        f"{nv} = {cur_var} + {var[c]} = {show(cur)} + {rt(c)} = {show(nxt)}; "
                    cur_var, cur = nv, nxt
            var[v] = cur_var
            steps.append(f"Define {nm[v]} as {cur_var}; {text[:-2]}. ")
            continue
        rngin = g.has_rng[v]
        so = "" if rngin else "so "
        if not ps:
            cur_var = new()
            text = f"so {cur_var} = {rt(v)}"
        elif len(ps) == 1:
            cur_var, cur = new(), q(ps[0])
            text = f"{so}{cur_var} = {var[ps[0]]} = {rt(ps[0])}"
        elif len(ps) == 2:
            cur_var = new()
            a, b = ps
            if g.minus[v]:
                cur = (q(a)[0] - q(b)[0], q(a)[1] - q(b)[1]) if rev else \
                    ((q(a) - q(b)) % mod if mod else q(a) - q(b))
                shown = f"({rt(a)}) - ({rt(b)})" if rev else f"{rt(a)} - {rt(b)}"
                text = f"{so}{cur_var} = {var[a]} - {var[b]} = {shown} = {show(cur)}"
            else:
                cur = add(q(a), q(b))
                text = f"{so}{cur_var} = {var[a]} + {var[b]} = {rt(a)} + {rt(b)} = {show(cur)}"
        else:  # multi-term sums chain through intermediate letters
            cur_var, cur = new(), add(q(ps[0]), q(ps[1]))
            text = f"{cur_var} = {var[ps[0]]} + {var[ps[1]]} = {rt(ps[0])} + {rt(ps[1])} = {show(cur)}; "
            for i, c in enumerate(ps[2:], 2):
                last = i == len(ps) - 1
                nv, nxt = new(), add(cur, q(c))
                text += ("so " if last and not rngin else "") + \
                    f"{nv} = {cur_var} + {var[c]} = {show(cur)} + {rt(c)} = {show(nxt)}" + ("" if last else "; ")
                cur_var, cur = nv, nxt
        if rngin and ps:  # the literal is applied last: "K plus/times <...>"
            k, nv = g.lit[v], new()
            if g.plus[v]:
                text += f"; so {nv} = {k} + {cur_var} = {k} + {show(cur)} = {rt(v)}. "
            else:
                shown = f"({k}) * ({show(cur)})" if rev else f"{k} * {show(cur)}"
                text += f"; so {nv} = {k} * {cur_var} = {shown} = {rt(v)}. "
            cur_var = nv
        else:
            text += ". "
        var[v] = cur_var
        steps.append(f"Define {nm[v]} as {cur_var}; {text}")

    body = "".join(steps)
    if not rev:
        return body + f"Answer: {g.value[g.topo[-1]]}.", var
    final = g.topo[-1]
    (a, b), tv, xv = g.lin[final], g.value[final], g.value[g.unknown]
    expr = fmt_linear(a, b)
    if compact:
        return body + f"We know {var[final]} = {tv}, so {expr} = {tv}; x = {tv - b} / {a} = {xv}. Answer: {xv}.", var
    solve = [f"Simplifying the equation: {expr} = {tv}",
             f"Move all terms to one side: {fmt_linear(a, b - tv)} = 0",
             f"Isolate the term with x: {a}*x = {tv - b}",
             f"Divide both sides by {a}: x = {tv - b} / {a}",
             f"Solution: x = {xv}"]
    return (REVERSE_PREAMBLE + body + f"We know {var[final]} = {tv}, so we have {expr} = {tv} and we solve it "
            f"through the following steps: " + ". ".join(solve) + f". Answer: {xv}."), var


def render(g: SampledGraph, cfg: GenConfig, rng: random.Random) -> tuple[str, str, str, Graph]:
    """(problem, question, solution, gold graph) of `g` in `cfg.render`, continuing `rng`."""
    compact = cfg.render == "compact"
    nm = _names(g, compact)
    nr = cfg.number_range
    # distractor literals/operators (official generate_sentence draws; values are never evaluated)
    choice: dict[int, tuple[int | None, bool | None, bool | None]] = {}
    for v in g.distractors:
        ps, lit, plus, minus = g.parents[v], None, None, None
        if g.has_rng[v]:
            plus = rng.random() < 0.5
            lit = rng.randint(1, nr - 1) if plus else rng.randint(2, nr - 1)
        elif not ps:
            lit = rng.randint(1, nr - 1)
        if len(ps) == 2:
            minus = rng.random() >= 0.5
        choice[v] = (lit, plus, minus)
    for v in g.necessary_instances:
        choice[v] = (g.lit.get(v), g.plus.get(v), g.minus.get(v))

    sentence = _compact_sentence if compact else _paper_sentence
    keep = g.distractors if cfg.max_distractors is None else g.distractors[:cfg.max_distractors]
    order = g.necessary_instances + g.distractors
    sents = {v: sentence(g, v, nm, *choice[v]) for v in g.necessary_instances + keep}
    if cfg.official_reverse_defect and g.unknown is not None:
        for v in sents:  # reverse_generator.py::generate_sentence reuses `item` as its loop variable
            if defect_sentence(g, v):
                sents[v] = sents[g.unknown]
    final = g.topo[-1]
    rev = g.unknown is not None
    if rev:  # the final node's value is given
        order = order + [RNG_FINAL]
        fv = g.value[final]
        sents[RNG_FINAL] = f"{nm[final]} = {fv}" if compact else f"{_standard_name(nm[final], True)} equals {fv}"
    target = g.unknown if rev else final
    if compact:
        question = f"{nm[target]} = ?"
    elif g.is_total[target]:
        question = f"What is the {nm[target]}?"
    else:
        question = f"How many {nm[target].split(' in ')[0]} does {nm[target].split(' in ')[-1]} have?"

    solution, var = _solution(g, nm, rng, compact, cfg.modulus)
    rng.shuffle(order)  # shuffle everything, then drop capped distractors: same order under any cap
    shown = [sents[v] for v in order if v in sents]
    problem = " ".join(s + " ." for s in shown) if compact else "".join(s + ". " for s in shown)

    nodes = tuple(Node(nm[v], var[v], tuple(sorted(nm[p] for p in g.parents[v])), int(g.value[v])) for v in g.topo)
    answer = int(g.value[target])
    return problem, question, solution, Graph(nodes=nodes, query=nm[target], answer=answer)


RNG_FINAL = -2  # key of the reverse-mode "final value" sentence


def defect_sentence(g: SampledGraph, v: int) -> bool:
    """Whether the authors' reverse-mode writer replaces v's sentence by the hidden quantity's: a 3+ term
    sum whose second-to-last term is the hidden quantity (docs/fidelity.md)."""
    ps = g.parents[v]
    return g.unknown is not None and v != g.unknown and len(ps) > 2 and ps[-2] == g.unknown


def _split_answer(solution: str) -> tuple[str, str | None]:
    body, sep, tail = solution.rpartition("Answer:")
    if not sep:
        return solution, None
    lines = tail.strip().splitlines()
    return body, (lines[0].strip().rstrip(".") if lines else "")


def training_text(problem: str, question: str, solution: str) -> str:
    """Official compose_text: `<question> {pq} </question> <solution> {body} </solution> <answer> {n} </answer>`.

    No EOS (the corpus builder appends it). The answer is the text after the last "Answer:".
    """
    problem, question, solution = (problem or "").strip(), (question or "").strip(), (solution or "").strip()
    body, ans = _split_answer(solution)
    parts = ["<question>", f"{problem} {question}".strip(), "</question>", "<solution>", body.strip(), "</solution>"]
    if ans is not None:
        parts += ["<answer>", ans, "</answer>"]
    return " ".join(p for p in parts if p)


def prompt_text(problem: str, question: str) -> str:
    """RL/eval prompt: the composed text cut just after `<solution>` (no trailing space)."""
    pq = f"{(problem or '').strip()} {(question or '').strip()}".strip()
    return " ".join(p for p in ("<question>", pq, "</question>", "<solution>") if p)
