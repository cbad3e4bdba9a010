"""Solution text -> predicted dependency graph (paper §A.4; official `utils/solution_dependency_graph.py`).

One parser reads both surfaces (`paper`, `compact`) and gold solutions as well as model completions.
Two modes:

* ``paper`` (default): the paper's definition. Steps are ``Define <name> as <V>;`` (official DEFINE_RE
  semantics); a node is its whitespace-normalized name; its parents are the variables used in the *formula*
  (the first ``=`` segment) of each assignment to its letter, where a variable is a previous step's main
  letter or an intermediate of the same step (whose parents are inherited); constants are not nodes.
  Its value is the last computable arithmetic expression of its last assignment (else its last literal),
  carried as ``a*x + b`` so reverse-mode values become numbers once ``x`` is solved (the last
  ``x = ... = <number>`` assignment). The unknown is ``x`` or, in a solution that names it otherwise, the
  first step that no assignment or literal gives a value ("Define ... as q; we don't know its value yet").
  Text after ``We know`` is the solve, not a step. Juxtaposed numbers ("3 4") are not a product.
* ``official_compat``: the official parser exactly, including its artifacts: every single ASCII letter in
  an assignment's right-hand side that names a known variable is a dependency (letters inside English words
  of the reverse-mode solve text too), unevaluable expressions fall back to their last literal.

``parse_solution`` never raises on any string: failures are reported in ``ParseResult.error``.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache
from fractions import Fraction

from interplay.data.types import Graph, Node
from interplay.knobs import VERIFY_MODES as MODES
MAX_CHARS = 200_000  # longer input is truncated (a completion is ~1k tokens); keeps every call bounded

# --- official regexes (utils/solution_dependency_graph.py) -------------------------------------------
# DEFINE_RE itself is cubic on degenerate text ("Define a a a a ..."), so steps are found by
# `_define_matches`, an exact linear-time equivalent (tested against this pattern).
DEFINE_RE = re.compile(r"Define\s+(.*?)\s+(?:as|a)\s+(?:[A-Za-z]+\s+)*([A-Za-z]);", re.I | re.S)
ASSIGNMENT_RE = re.compile(r"([A-Za-z])\s*=\s*([^.;]+)")
NUMBER_RE = re.compile(r"[-+]?\d+(?:\.\d+)?")
TAG_RE = re.compile(r"<[^>]+>")
ALLOWED_EVAL_RE = re.compile(r"^[0-9+\-*/().\s]+$")
LETTER_RE = re.compile(r"[A-Za-z]")
ANSWER_TAG_RE = re.compile(r"<answer>\s*([-+]?\d+(?:\.\d+)?)", re.I)
ANSWER_COLON_RE = re.compile(r"Answer:\s*([-+]?\d+(?:\.\d+)?)")
_INNER_DEFINE_RE = re.compile(r"\bDefine\s+", re.I)

# pieces of the linear DEFINE_RE equivalent (same flags, so the same character classes)
_DEF_HEAD_RE = re.compile(r"Define(\s+)", re.I)
_LW_RUN_RE = re.compile(r"[A-Za-z\s]+", re.I)
_AS_WORD_RE = re.compile(r"(?<=\s)(?:as|a)(?=\s)", re.I)
_LETTER_I_RE = re.compile(r"[A-Za-z]", re.I)
_WS_RE = re.compile(r"\s")

# --- paper-mode regexes ---------------------------------------------------------------------------
# an assignment target is a standalone letter; the right-hand side runs to "." or ";" (decimals kept)
P_ASSIGN_RE = re.compile(r"(?<![A-Za-z0-9_])([A-Za-z])\s*=\s*((?:[^.;]|(?<=\d)\.(?=\d))+)")
P_IDENT_RE = re.compile(r"(?<![A-Za-z_])[A-Za-z](?![A-Za-z0-9_])")
P_INT_RE = re.compile(r"\s*([-+]?[0-9]+)\s*")
P_LITERAL_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
P_TOKEN_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?|[A-Za-z]+|\S")
P_LETTER_RE = re.compile(r"\s*([A-Za-z])\s*")
P_AXB_RE = re.compile(r"\s*(?:([0-9]+)\s*\*\s*)?x\s*(?:([-+])\s*([0-9]+)\s*)?")
P_X_ASSIGN = r"(?<![A-Za-z0-9_]){}\s*=\s*((?:[^.;]|(?<=\d)\.(?=\d))+)"  # `<unknown> = ...`
P_NUMBER_FULL_RE = re.compile(r"\s*([-+]?[0-9]+(?:\.[0-9]+)?)\s*")
P_ANSWER_NUM_RE = re.compile(r"([-+]?[0-9]+(?:\.[0-9]+)?)(?:\s*/\s*([0-9]+))?")
P_ANSWER_COLON_RE = re.compile(r"Answer:\s*([-+]?[0-9]+(?:\.[0-9]+)?(?:\s*/\s*[0-9]+)?)")
P_LAST_ANSWER_COLON_RE = re.compile(r".*(" + P_ANSWER_COLON_RE.pattern + ")", re.DOTALL)  # greedy: the last one
P_DIGIT_RE = re.compile(r"[0-9]")  # a one-character class: scanned in C, unlike a pattern with an optional sign
_OPS = frozenset("+-*/()")
_MAX_EXPR = 400  # longer "expressions" are not arithmetic (bounds Fraction work and recursion)


@dataclass
class ParseResult:
    graph: Graph | None  # predicted graph (nodes by name, parents by name, values)
    answer: int | float | None  # from "<answer> n </answer>", else "Answer: n"
    ok: bool  # False when no step could be parsed
    error: str | None  # what failed, for garbage input


# ==================================================================================================
# Shared text handling
# ==================================================================================================


def _strip_tags(text: str) -> str:
    """TAG_RE.sub("", text) in linear time: no tag can start after the last '>'."""
    k = text.rfind(">")
    if k < 0:
        return text
    return TAG_RE.sub("", text[: k + 1]) + text[k + 1:]


def _define_matches(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, group1, group2) of every DEFINE_RE match, as `DEFINE_RE.finditer(text)` gives them.

    A match's tail ``\\s+(as|a)\\s+(word\\s+)*X;`` lies inside one run of letters/whitespace that ends in
    ``<ws>X;``; the lazy name is the shortest one, i.e. the tail starts at the first as-word (after the name
    start) whose run is such a valid run. Each run is scanned once, so the whole scan is O(n log n).
    """
    first = _DEF_HEAD_RE.search(text)
    if first is None:  # no step at all: skip the as-word scan (the slow part on long text)
        return []
    n = len(text)
    valid_words: list[int] = []  # start of as-words whose run ends in "<ws>X;" beyond the word
    word_end: dict[int, int] = {}  # as-word start -> ';' index of its run
    e, run_ok = -1, False
    for m in _AS_WORD_RE.finditer(text, first.end()):  # only as-words after a head can end a match
        w = m.start()
        if w >= e:  # first as-word of a new letters/whitespace run: find where the run ends, once
            e = _LW_RUN_RE.match(text, w).end()
            run_ok = (e < n and text[e] == ";" and _LETTER_I_RE.match(text, e - 1) is not None
                      and _WS_RE.match(text, e - 2) is not None)
        if run_ok and m.end() <= e - 2:
            valid_words.append(w)
            word_end[w] = e
    out = []
    pos = 0
    for h in _DEF_HEAD_RE.finditer(text, first.start()):
        s = h.start()
        if s < pos:
            continue
        g = h.end()  # greedy \s+ after "Define"
        j = bisect.bisect_left(valid_words, g + 1)  # the tail's \s+ must start at or after g
        if j < len(valid_words):
            w = valid_words[j]
            p = w - 1
            while p - 1 >= g and _WS_RE.match(text, p - 1):
                p -= 1
            e = word_end[w]
            out.append((s, e + 1, text[g:p], text[e - 1]))
            pos = e + 1
        elif h.end(1) - h.start(1) >= 2 and g in word_end:  # backtracked \s+: "Define  as X;"
            e = word_end[g]
            out.append((s, e + 1, "", text[e - 1]))
            pos = e + 1
    return out


def _normalize_name(name: str) -> str:
    """Official `_normalize_parameter_name`: collapse whitespace, keep the text after an inner 'Define'."""
    cleaned = " ".join(name.split()).replace("\ufffd", "").strip(" .;")
    if not cleaned.isascii() or "define" in cleaned.lower():  # cheap pre-check for the usual clean name
        last = None
        for last in _INNER_DEFINE_RE.finditer(cleaned):
            pass
        if last is not None:
            cleaned = cleaned[last.end():]
    return cleaned.strip(" .;")


def _steps(body: str) -> list[tuple[str, str, str]]:
    """(name, letter, step body up to the next Define, cut at 'Answer:') per Define step."""
    matches = _define_matches(body)
    steps = []
    for i, (_, end, g1, letter) in enumerate(matches):
        stop = matches[i + 1][0] if i + 1 < len(matches) else len(body)
        raw = body[end:stop].strip()
        a = raw.find("Answer:")
        if a != -1:
            raw = raw[:a].strip()
        steps.append((_normalize_name(" ".join(g1.split())), letter.strip(), raw))
    return steps


def _num(v: Fraction | float | int | None) -> int | float | None:
    """Plain number for a Node value: int when integral."""
    if v is None:
        return None
    if isinstance(v, float):
        return int(v) if v.is_integer() else v
    if isinstance(v, int):
        return v
    return v.numerator if v.denominator == 1 else float(v)


def _build_graph(steps: list[tuple[str, str, set[str], object]], query: str | None, answer) -> Graph:
    """Nodes in order of first definition; a redefined name keeps its last definition (official dict)."""
    by_name: dict[str, Node] = {}
    for name, letter, deps, value in steps:
        by_name[name] = Node(name, letter, tuple(sorted(deps)), _num(value))
    nodes = tuple(by_name.values())
    if query is None:
        query = steps[-1][0] if steps else ""
    return Graph(nodes, query, _num(answer))


# ==================================================================================================
# Paper mode: linear expressions a*x + b over exact rationals
# ==================================================================================================


def _div(p, q):
    if isinstance(p, int) and isinstance(q, int) and p % q == 0:
        return p // q
    return Fraction(p) / q


def _lin(a, b) -> tuple:
    """a*x + b with int/Fraction coefficients (a plain tuple: cheap and immutable)."""
    return (a, b)


_X = _lin(1, 0)


class _Eval:
    """Recursive-descent evaluator over numbers, single-letter variables, + - * / and parentheses.

    Returns None for anything that is not a linear expression in x (never uses `eval`).
    """

    __slots__ = ("toks", "i", "env", "depth")

    def __init__(self, toks: list[str], env):
        self.toks, self.i, self.env, self.depth = toks, 0, env, 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def expr(self):
        v = self.term()
        while v is not None and self.peek() in ("+", "-"):
            op = self.toks[self.i]
            self.i += 1
            w = self.term()
            if w is None:
                return None
            v = _lin(v[0] + w[0], v[1] + w[1]) if op == "+" else _lin(v[0] - w[0], v[1] - w[1])
        return v

    def term(self):
        v = self.unary()
        while v is not None:
            t = self.peek()
            if t in ("*", "/"):
                self.i += 1
            elif t is not None and (t == "(" or t[0].isalpha()):
                t = "*"  # implicit product: "2x", "2(x + 1)", "(2)(3)"; never two numbers ("3 4")
            else:
                break
            w = self.unary()
            if w is None:
                return None
            if t == "*":
                if v[0] and w[0]:
                    return None  # x*x is not linear
                v = _lin(v[0] * w[1] + w[0] * v[1], v[1] * w[1])
            else:
                if w[0] or not w[1]:
                    return None  # division by x or by zero
                v = _lin(_div(v[0], w[1]), _div(v[1], w[1]))
        return v

    def unary(self):
        neg = False
        while self.peek() in ("+", "-"):  # iterative: "- - - 3" must not recurse
            neg ^= self.toks[self.i] == "-"
            self.i += 1
        v = self.atom()
        return _lin(-v[0], -v[1]) if neg and v is not None else v

    def atom(self):
        t = self.peek()
        if t is None:
            return None
        self.i += 1
        if t == "(":
            self.depth += 1
            if self.depth > 50:
                return None
            v = self.expr()
            if v is None or self.peek() != ")":
                return None
            self.i += 1
            self.depth -= 1
            return v
        if t[0] in "0123456789":
            return _lin(0, int(t) if "." not in t else Fraction(t))
        if t.isalpha():
            return self.env(t)
        return None


def _eval_linear(seg: str, env) -> tuple | None:
    # fast paths for the usual last segments: "12", "w", "4*x", "8*x + 3"
    m = P_INT_RE.fullmatch(seg)
    if m is not None:
        s = m.group(1)
        return _lin(0, int(s)) if len(s) <= 100 else None
    m = P_LETTER_RE.fullmatch(seg)
    if m is not None:
        return env(m.group(1))
    m = P_AXB_RE.fullmatch(seg)
    if m is not None and len(seg) < 60 and env("x") == _X:  # x is the unknown, not a bound letter
        a = int(m.group(1)) if m.group(1) else 1
        b = 0 if not m.group(3) else (int(m.group(3)) if m.group(2) == "+" else -int(m.group(3)))
        return _lin(a, b)
    if len(seg) > _MAX_EXPR:
        return None
    toks = P_TOKEN_RE.findall(seg)
    for t in toks:
        if len(t) > 100 or not (t in _OPS or P_LITERAL_RE.fullmatch(t)
                                or (len(t) == 1 and t.isascii() and t.isalpha())):
            return None  # words, unicode digits, other symbols: not arithmetic
    ev = _Eval(toks, env)
    v = ev.expr()
    return v if v is not None and ev.i == len(toks) else None


def _assignment_value(segs: list[str], rhs: str, env) -> tuple | None:
    """Last computable segment; else the last numeric literal of the right-hand side."""
    for seg in reversed(segs):
        v = _eval_linear(seg, env)
        if v is not None:
            return v
    lits = P_LITERAL_RE.findall(rhs)
    if lits and len(lits[-1]) <= 100:
        s = lits[-1]
        return _lin(0, int(s) if s.isdigit() else Fraction(s))
    return None


@lru_cache(maxsize=64)
def _x_assign_re(letter: str) -> re.Pattern:
    return re.compile(P_X_ASSIGN.format(re.escape(letter)))


def _solve_x(text: str, letter: str = "x") -> Fraction | int | None:
    """Value of the unknown: the last `x = ... = <number>` / `x = <number>` assignment in the text."""
    x = None
    for m in _x_assign_re(letter).finditer(text):
        k = m.start() - 1
        while k >= 0 and text[k].isspace():
            k -= 1
        if k >= 0 and text[k] in "0123456789)+-*/(=":
            continue  # "12*x = 48", "3 - x = 1", "m = x = x": x is not the assigned variable
        last = P_NUMBER_FULL_RE.fullmatch(m.group(1).rsplit("=", 1)[-1])
        if last is not None and len(last.group(1)) <= 100:
            s = last.group(1)
            x = int(s) if "." not in s else Fraction(s)
    return x


def _paper_answer(text: str):
    """First number inside <answer> ... </answer> (or to the end), else right after the last 'Answer:'.

    Linear: the first number is found from the first digit (P_ANSWER_NUM_RE.search would try every position),
    the last 'Answer:' by one backward scan.
    """
    i = text.find("<answer>")
    if i >= 0:
        j = text.find("</answer>", i)
        end = j if j >= 0 else len(text)
        d = P_DIGIT_RE.search(text, i + 8, end)
        if d is not None:
            k = d.start()
            if k > i + 8 and text[k - 1] in "+-":
                k -= 1  # the leftmost match starts at the sign
            m = P_ANSWER_NUM_RE.match(text, k, end)
            return _answer_number(m.group(0))
    last = P_LAST_ANSWER_COLON_RE.match(text)
    return _answer_number(last.group(2)) if last is not None else None


def _answer_number(s: str):
    if len(s) > 100:
        return None
    if "/" in s:
        p, q = s.split("/")
        q = int(q)
        return Fraction(Fraction(p.strip()), q) if q else None
    return int(s) if "." not in s else Fraction(s)


def _paper_body(text: str) -> str:
    """The solution part: after <solution> (if present), before </solution> / <answer>; tags removed."""
    i = text.find("<solution>")
    if i >= 0:
        text = text[i + 10:]
    cut = [j for j in (text.find("</solution>"), text.find("<answer>")) if j >= 0]
    if cut:
        text = text[: min(cut)]
    return _strip_tags(text)


def _parse_paper(text: str) -> ParseResult:
    answer = _paper_answer(text)
    body = _paper_body(text)
    steps = _steps(body)
    if not steps:
        return ParseResult(None, _num(answer), False, "no 'Define <name> as <V>;' step found")

    main_val: dict[str, tuple | None] = {}  # letter -> value of the latest step defining it
    main_name: dict[str, str] = {}  # letter -> name of that step
    parsed = []
    x_step = None
    unknown = None  # the letter of the unknown
    for name, letter, raw in steps:
        k = raw.find("We know")
        if k >= 0:
            raw = raw[:k]  # the solve: not a dependency (or value) source of this step
        inter_val: dict[str, tuple] = {}
        inter_deps: dict[str, set[str]] = {}

        def env(t, inter_val=inter_val):
            v = inter_val.get(t)
            if v is None:
                v = main_val.get(t)
            if v is None and t == "x":
                v = _X  # the unknown, before (or without) a step that binds it
            return v

        deps: set[str] = set()
        value = None
        assigned = False
        for m in P_ASSIGN_RE.finditer(raw):
            target, rhs = m.group(1), m.group(2)
            segs = rhs.split("=")
            # dependencies come from the formula (first segment); later segments are its evaluation
            d: set[str] = set()
            for t in P_IDENT_RE.findall(segs[0]):
                if t in inter_deps:
                    d |= inter_deps[t]
                elif t in main_name:
                    d.add(main_name[t])
            v = _assignment_value(segs, rhs, env)
            if target == letter:
                deps |= d
                assigned = True
                if v is not None:
                    value = v
            else:
                inter_deps[target] = d
                if v is not None:
                    inter_val[target] = v
                else:
                    inter_val.pop(target, None)
        if not assigned:
            if letter == "x":
                value = _X
            else:
                lits = P_LITERAL_RE.findall(raw)
                if lits and len(lits[-1]) <= 100:
                    s = lits[-1]
                    value = _lin(0, int(s) if s.isdigit() else Fraction(s))
        if unknown is None and (value is None or (letter == "x" and value == _X)):
            unknown, value = letter, _X  # the first step with no value is the unknown, whatever its letter
            x_step = name
        elif letter == "x" and x_step is None:
            x_step = name
        main_val[letter] = value
        main_name[letter] = name
        parsed.append([name, letter, deps, value])

    # reverse mode (some value depends on x): x is solved from the text and its step is the query
    reverse = any(s[3] is not None and s[3][0] for s in parsed)
    x = _solve_x(body, unknown or "x") if reverse else None
    unsolved = 0
    for step in parsed:
        v = step[3]
        if v is None:
            continue
        if v[0]:
            if x is None:
                step[3] = None
                unsolved += 1
            else:
                step[3] = v[0] * x + v[1]
        else:
            step[3] = v[1]
    error = None
    if unsolved:
        error = f"x is never solved: {unsolved} x-dependent value(s) undefined"
    if answer is None:
        error = "no final answer found" + (f"; {error}" if error else "")
    graph = _build_graph(parsed, x_step if reverse else None, answer)
    return ParseResult(graph, graph.answer, True, error)


# ==================================================================================================
# official_compat mode: the official SolutionParser, replicated (its artifacts included)
# ==================================================================================================


class _PyExpr:
    """Python's `eval` on the official ALLOWED_EVAL_RE alphabet (digits, + - * / ( ) . whitespace).

    Same grammar and the same int/float operations in the same order, so the same results; anything `eval`
    would reject (syntax, calls like "(2)(3)", division by zero, complex results) gives None.
    Deviations (never met by real text): a power whose result would be astronomically large gives None instead
    of hanging, and so does nesting deeper than 100 parentheses (Python's limit is 200).
    """

    _TOK = re.compile(r"\s*(?:(\d*\.\d+|\d+\.?)|(\*\*|//|[-+*/()]))")

    def __init__(self, s: str):
        self.toks: list = []
        self.ok = True
        i, n, depth = 0, len(s), 0
        while i < n:
            m = self._TOK.match(s, i)
            if m is None:
                rest = s[i:]
                if rest.strip() == "" and ("\n" not in rest or depth > 0):
                    break
                self.ok = False
                return
            ws = s[i:m.start(1) if m.group(1) else m.start(2)]
            if depth == 0 and any(c in ws for c in "\n\r") and self.toks:
                self.ok = False  # a newline ends the expression outside parentheses
                return
            if any(c in ws for c in "\x0b"):
                self.ok = False
                return
            if m.group(1) is not None:
                lit = m.group(1)
                if self.toks and isinstance(self.toks[-1], (int, float)):
                    self.ok = False  # two adjacent numbers
                    return
                if "." in lit:
                    self.toks.append(float(lit))
                elif len(lit) > 1 and lit[0] == "0" and lit.strip("0"):
                    self.ok = False  # "012": leading zeros are a SyntaxError
                    return
                else:
                    self.toks.append(int(lit) if len(lit) <= 4000 else None)
                    if self.toks[-1] is None:
                        self.ok = False
                        return
            else:
                op = m.group(2)
                depth += op == "("
                depth -= op == ")"
                if depth > 100:  # Python allows 200; deeper than 100 is never real and would hit recursion limits
                    self.ok = False
                    return
                self.toks.append(op)
            i = m.end()
        self.i = 0

    def value(self) -> float | None:
        if not self.ok or not self.toks:
            return None
        try:
            v = self.expr()
        except (ArithmeticError, ValueError, TypeError, RecursionError, _Fail):
            return None
        if v is None or self.i != len(self.toks):
            return None
        try:
            return float(v)
        except (OverflowError, TypeError):
            return None

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def expr(self):
        v = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            w = self.term()
            v = v + w if op == "+" else v - w
        return v

    def term(self):
        v = self.factor()
        while self.peek() in ("*", "/", "//"):
            op = self.take()
            w = self.factor()
            v = v * w if op == "*" else (v / w if op == "/" else v // w)
        return v

    def factor(self):
        ops = []
        while self.peek() in ("+", "-"):  # iterative, applied innermost first as Python does
            ops.append(self.take())
        v = self.power()
        for op in reversed(ops):
            v = +v if op == "+" else -v
        return v

    def power(self):
        v = self.atom()
        if self.peek() == "**":
            self.take()
            e = self.factor()
            if isinstance(e, int) and isinstance(v, int) and abs(v) > 1 and e > 10_000:
                raise _Fail  # Python would compute (or hang on) a huge integer; treat as unevaluable
            v = v ** e
            if isinstance(v, complex):
                raise _Fail
        if self.peek() == "(":
            raise _Fail  # a call: TypeError in eval
        return v

    def atom(self):
        t = self.take()
        if t == "(":
            if self.peek() == ")":
                raise _Fail  # "()" is a tuple: float(()) fails
            v = self.expr()
            if self.take() != ")":
                raise _Fail
            return v
        if isinstance(t, (int, float)) and not isinstance(t, bool):
            if self.peek() == "(":
                raise _Fail
            return t
        raise _Fail


class _Fail(Exception):
    pass


def _compat_last_number(text: str) -> float | None:
    nums = NUMBER_RE.findall(text)
    if not nums:
        return None
    try:
        return float(nums[-1])
    except ValueError:
        return None


def _compat_answer(text: str) -> float | None:
    m = ANSWER_TAG_RE.search(text) or ANSWER_COLON_RE.search(text)
    if m is None:
        return None
    try:
        return float(m.group(1))
    except ValueError:
        return None


class _Compat:
    def __init__(self):
        self.var_to_param: dict[str, str] = {}
        self.values: dict[str, float] = {}

    def evaluate(self, expr: str, local: dict[str, float]) -> float | None:
        lookup = dict(self.values)
        lookup.update(local)
        sub = expr
        for tok in set(LETTER_RE.findall(expr)):
            if tok not in lookup:
                return None
            sub = re.sub(rf"\b{tok}\b", str(lookup[tok]), sub)
        sub = sub.strip()
        if not sub or not ALLOWED_EVAL_RE.match(sub):
            return None
        return _PyExpr(sub).value()

    def step(self, letter: str, raw: str):
        deps: set[str] = set()
        exprs: list[str] = []
        inter_deps: dict[str, set[str]] = {}
        local: dict[str, float] = {}
        last = None
        for m in ASSIGNMENT_RE.finditer(raw):
            target, expr = m.group(1), m.group(2).strip()
            last_seg = expr.split("=")[-1].strip()
            d: set[str] = set()
            for t in LETTER_RE.findall(expr):  # every letter, inside words too: the official artifact
                if t in self.var_to_param:
                    d.add(self.var_to_param[t])
                if t in inter_deps:
                    d.update(inter_deps[t])
            if target == letter:
                deps |= d
                if last_seg:
                    exprs.append(last_seg)
            else:
                inter_deps.setdefault(target, set()).update(d)
            v = self.evaluate(last_seg, local)
            if v is None:
                v = _compat_last_number(m.group(0))
            if v is not None:
                local[target] = v
                self.values[target] = v
                if target == letter:
                    last = v
        if last is None:
            last = _compat_last_number(raw)
            if last is not None:
                self.values[letter] = last
        return deps, exprs, last


def _parse_compat(text: str) -> ParseResult:
    answer = _compat_answer(text)
    steps = _steps(_strip_tags(text).strip())
    if not steps:
        return ParseResult(None, _num(answer), False, "no 'Define <name> as <V>;' step found")
    p = _Compat()
    parsed = []
    for name, letter, raw in steps:
        deps, exprs, value = p.step(letter, raw)
        p.var_to_param[letter] = name
        parsed.append([name, letter, deps, value, exprs])
    # second pass: steps without a value take it from later assignments (reverse-mode x)
    p.values = dict(p.values)
    for step in parsed:
        if step[3] is None and step[4]:
            for expr in reversed(step[4]):
                v = p.evaluate(expr, {})
                if v is not None:
                    step[3] = v
                    break
        if step[3] is None and step[1] in p.values:
            step[3] = p.values[step[1]]
        if step[3] is not None:
            p.values[step[1]] = step[3]
    x_step = next((s[0] for s in parsed if s[1] == "x"), None) if "We know" in text else None
    graph = _build_graph([s[:4] for s in parsed], x_step, answer)
    return ParseResult(graph, graph.answer, True, None if answer is not None else "no final answer found")


# ==================================================================================================


def parse_solution(text: str, compat: str = "paper") -> ParseResult:
    """Parse a gold solution or a model completion into a predicted graph. Never raises on any string."""
    if compat not in MODES:
        raise ValueError(f"unknown parse mode {compat!r}; expected one of {MODES}")
    if not isinstance(text, str):
        return ParseResult(None, None, False, f"solution is {type(text).__name__}, not str")
    if not text.strip():
        return ParseResult(None, None, False, "empty solution")
    note = None
    if len(text) > MAX_CHARS:
        text, note = text[:MAX_CHARS], f"text truncated to {MAX_CHARS} characters"
    try:
        res = _parse_paper(text) if compat == "paper" else _parse_compat(text)
    except (RecursionError, MemoryError, ValueError, ArithmeticError) as e:  # defensive: report, never raise
        return ParseResult(None, None, False, f"parse failed: {type(e).__name__}: {e}")
    if note:
        res.error = f"{note}; {res.error}" if res.error else note
    return res
