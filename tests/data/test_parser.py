"""Parser: outputs of the authors' generator parse to the exact graphs, in both surfaces and modes;
the linear DEFINE_RE equivalent and the compat evaluator agree with the official regex / Python eval."""

from __future__ import annotations

import random
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interplay.data.parser import DEFINE_RE, MODES, _define_matches, _PyExpr, parse_solution
from interplay.data.types import Graph, Node

# --- official generator output (the authors' gsm_infinite/gsm-infinite/data/realistic/) -------------------
OP2 = ("Define adult owl in Jefferson Circus as g; so g = 2. Define total number of adult animals in Jefferson "
       "Circus as O; so O = g = 2. Answer: 2.")
OP5 = ("Define adult racoon in Maple Creek as w; so w = 3. Define adult wolf in Maple Creek as s; S = w = 3; so "
       "s = 3 * S = 3 * 3 = 9. Define total number of adult animals in Maple Creek as P; so P = w + s = 3 + 9 = "
       "12. Answer: 12.")
OP6 = ("Define calm road movie in Northwood Movie Festival as E; so E = 4. Define upbeat metropolis comedy in "
       "Northwood Movie Festival as m; so m = 2. Define futuristic sci-fi movie in Northwood Movie Festival as T; "
       "so T = 4. Define total number of movies in Northwood Movie Festival as R; I = m + E = 2 + 4 = 6; so R = "
       "I + T = 6 + 4 = 10. Answer: 10.")
REV8 = ("The question is difficult, so we use equations to solve it. Define elementary school in Oakbridge City "
        "as x; we don't know its value yet but will find it out later. Define public highschool in Clearwater Bay "
        "as z; m = x = x; so z = 4 * m = (4) * (x) = 4*x. Define elementary school in Clearwater Bay as w; so w = "
        "z = 4*x. Define regional medical school in Clearwater Bay as W; so W = w = 4*x. Define total number of "
        "schools in Clearwater Bay as L; u = W + w = 4*x + 4*x = 8*x; so L = u + z = 8*x + 4*x = 12*x. We know "
        "L = 48, so we have 12*x = 48 and we solve it through the following steps: Simplifying the equation: "
        "12*x = 48. Move all terms to one side: 12*x - 48 = 0. Isolate the term with x: 12*x = 48. Divide both "
        "sides by 12: x = 48 / 12. Solution: x = 4. Answer: 4.")


def G(query: str, answer: int, *nodes: tuple) -> Graph:
    return Graph(tuple(Node(n, l, tuple(sorted(p)), v) for n, l, p, v in nodes), query, answer)


J, M, N, C = "Jefferson Circus", "Maple Creek", "Northwood Movie Festival", "Clearwater Bay"
GOLD = {
    "op2": (OP2, G(f"total number of adult animals in {J}", 2,
                   (f"adult owl in {J}", "g", (), 2),
                   (f"total number of adult animals in {J}", "O", (f"adult owl in {J}",), 2))),
    "op5": (OP5, G(f"total number of adult animals in {M}", 12,
                   (f"adult racoon in {M}", "w", (), 3),
                   (f"adult wolf in {M}", "s", (f"adult racoon in {M}",), 9),
                   (f"total number of adult animals in {M}", "P", (f"adult racoon in {M}", f"adult wolf in {M}"),
                    12))),
    "op6": (OP6, G(f"total number of movies in {N}", 10,
                   (f"calm road movie in {N}", "E", (), 4),
                   (f"upbeat metropolis comedy in {N}", "m", (), 2),
                   (f"futuristic sci-fi movie in {N}", "T", (), 4),
                   (f"total number of movies in {N}", "R", (f"calm road movie in {N}",
                    f"futuristic sci-fi movie in {N}", f"upbeat metropolis comedy in {N}"), 10))),
    "rev8": (REV8, G("elementary school in Oakbridge City", 4,
                     ("elementary school in Oakbridge City", "x", (), 4),
                     (f"public highschool in {C}", "z", ("elementary school in Oakbridge City",), 16),
                     (f"elementary school in {C}", "w", (f"public highschool in {C}",), 16),
                     (f"regional medical school in {C}", "W", (f"elementary school in {C}",), 16),
                     (f"total number of schools in {C}", "L", (f"elementary school in {C}",
                      f"public highschool in {C}", f"regional medical school in {C}"), 48))),
}

# --- the same problems in the compact surface (interplay/data/render.py) --------------------------------
COMPACT = {
    "op2": ("Define owl Jefferson as g; so g = 2. Define total Jefferson as O; so O = g = 2. Answer: 2.",
            {"adult owl in Jefferson Circus": "owl Jefferson",
             "total number of adult animals in Jefferson Circus": "total Jefferson"}),
    "op5": ("Define racoon MapleCreek as w; so w = 3. Define wolf MapleCreek as s; S = w = 3; so s = 3 * S = "
            "3 * 3 = 9. Define total MapleCreek as P; so P = w + s = 3 + 9 = 12. Answer: 12.",
            {"adult racoon in Maple Creek": "racoon MapleCreek", "adult wolf in Maple Creek": "wolf MapleCreek",
             "total number of adult animals in Maple Creek": "total MapleCreek"}),
    "rev8": ("Define elementary Oakbridge as x; so x = x. Define publichigh Clearwater as z; m = x = x; so z = "
             "4 * m = (4) * (x) = 4*x. Define elementary Clearwater as w; so w = z = 4*x. Define medical "
             "Clearwater as W; so W = w = 4*x. Define total Clearwater as L; u = W + w = 4*x + 4*x = 8*x; so "
             "L = u + z = 8*x + 4*x = 12*x. We know L = 48, so 12*x = 48; x = 48 / 12 = 4. Answer: 4.",
             {"elementary school in Oakbridge City": "elementary Oakbridge",
              f"public highschool in {C}": "publichigh Clearwater", f"elementary school in {C}":
              "elementary Clearwater", f"regional medical school in {C}": "medical Clearwater",
              f"total number of schools in {C}": "total Clearwater"}),
}


def renamed(g: Graph, names: dict[str, str]) -> Graph:
    return Graph(tuple(Node(names[n.name], n.letter, tuple(sorted(names[p] for p in n.parents)), n.value)
                       for n in g.nodes), names[g.query], g.answer)


@pytest.mark.parametrize("key", list(GOLD))
def test_official_examples_parse_exactly(key):
    text, gold = GOLD[key]
    r = parse_solution(text)
    assert r.ok and r.error is None
    assert r.graph == gold
    assert r.answer == gold.answer


@pytest.mark.parametrize("key", list(COMPACT))
def test_compact_surface_parses_to_the_same_graph(key):
    text, names = COMPACT[key]
    r = parse_solution(text)
    assert r.ok and r.error is None
    assert r.graph == renamed(GOLD[key][1], names)


@pytest.mark.parametrize("key", list(GOLD))
def test_completion_form_matches_full_solution(key):
    """A model completion after the prompt (tags, <answer>) parses like the gold solution text."""
    text, gold = GOLD[key]
    body, ans = text.rsplit("Answer:", 1)
    completion = f" {body.strip()} </solution> <answer> {ans.strip().rstrip('.')} </answer>"
    assert parse_solution(completion).graph == gold
    prompt = "<question> The number of owls equals 2. What is it? </question> <solution>"
    assert parse_solution(prompt + completion).graph == gold


def test_official_compat_matches_the_official_parser_on_examples():
    """Values and dependencies as the official SolutionParser gives them (utils/solution_dependency_graph.py)."""
    for key in ("op2", "op5", "op6"):  # forward: identical to paper
        assert parse_solution(GOLD[key][0], "official_compat").graph == GOLD[key][1]
    g = parse_solution(REV8, "official_compat").graph.by_name()
    x = "elementary school in Oakbridge City"
    # unevaluable "4*x" falls back to its last literal; x's own value comes from "x = 4" in the solve
    assert g[x].value == 4 and g[f"public highschool in {C}"].value == 4 and g[f"elementary school in {C}"].value == 4
    # "4*x" in the right-hand side makes x a dependency of every symbolic step
    assert set(g[f"elementary school in {C}"].parents) == {x, f"public highschool in {C}"}
    assert set(g[f"total number of schools in {C}"].parents) == {x, f"elementary school in {C}",
                                                                 f"public highschool in {C}",
                                                                 f"regional medical school in {C}"}
    assert g[f"total number of schools in {C}"].value == 48


def test_answer_extraction():
    assert parse_solution("Define a b as g; so g = 2. </solution> <answer> 7 </answer>").answer == 7
    assert parse_solution("Define a b as g; so g = 2. <answer> 7/2 </answer>").answer == 3.5
    assert parse_solution("Define a b as g; so g = 2. <answer> -3").answer == -3  # stop string stripped
    assert parse_solution("Define a b as g; so g = 2. Answer: 5. Answer: 6.").answer == 6  # last Answer:
    assert parse_solution("Define a b as g; so g = 2. Answer: 5. Answer: 6.", "official_compat").answer == 5
    r = parse_solution("Define a b as g; so g = 2.")
    assert r.ok and r.answer is None and "answer" in r.error


def test_values_dependencies_and_fallbacks():
    # the formula (first segment) gives the parents; the last computable segment gives the value
    r = parse_solution("Define p q as a; so a = 3. Define r s as b; so b = 2 * a = 2 * 3 = 7. Answer: 7.")
    assert r.graph.by_name()["r s"] == Node("r s", "b", ("p q",), 7)
    # unevaluable last segment -> the last computable one; nothing computable -> last literal
    r = parse_solution("Define p q as a; so a = 2 + 2 = four. Define r s as b; so b = a + x * x. Answer: 4.")
    assert r.graph.by_name()["p q"].value == 4 and r.graph.by_name()["r s"].value is None
    r = parse_solution("Define p q as a; so a = 5 apples = many apples. Answer: 5.")
    assert r.graph.by_name()["p q"].value == 5
    # a constant is not a node; an unknown letter is not a parent
    r = parse_solution("Define p q as a; so a = 3 + Z = 3 + 1 = 4. Answer: 4.")
    assert r.graph.nodes[0].parents == ()
    # a redefined name keeps its last definition
    r = parse_solution("Define p q as a; so a = 3. Define p q as b; so b = 4. Answer: 4.")
    assert r.graph.nodes == (Node("p q", "b", (), 4),)


def test_x_as_an_ordinary_forward_letter():
    """Forward solutions may use x as a normal variable (the official forward letter pool includes it)."""
    r = parse_solution("Define a b as x; so x = 2. Define c d as y; so y = 4*x. Define e f as z; so z = x + 3. "
                       "Answer: 5.")
    assert r.error is None and r.graph.query == "e f"
    assert [n.value for n in r.graph.nodes] == [2, 8, 5]
    assert r.graph.by_name()["c d"].parents == ("a b",)


def test_reverse_x_unsolved_gives_undefined_values():
    text = REV8.split("We know")[0]
    r = parse_solution(text)
    assert r.ok and "x is never solved" in r.error
    assert all(n.value is None for n in r.graph.nodes)  # every node depends on x here
    r = parse_solution(REV8.replace("Solution: x = 4.", "Solution: x = 5."))
    assert r.graph.by_name()[f"total number of schools in {C}"].value == 60  # 12*x with the solved x


def test_solve_text_is_not_a_dependency_source_in_paper_mode():
    g = parse_solution(REV8).graph.by_name()
    assert "elementary school in Oakbridge City" not in g[f"total number of schools in {C}"].parents


@pytest.mark.parametrize("text", ["", "   ", "Answer: 3.", "no steps here", "Define", "Define x as", "\x00\ud800",
                                  "Define a as b", "<answer> 4 </answer>", "9" * 5000,
                                  "Define a as g; so g = " + "9" * 5000])
@pytest.mark.parametrize("mode", MODES)
def test_garbage_reports_instead_of_raising(text, mode):
    r = parse_solution(text, mode)
    assert isinstance(r.ok, bool)
    if not r.ok:
        assert r.graph is None and r.error


def test_non_string_input():
    r = parse_solution(None)  # type: ignore[arg-type]
    assert not r.ok and "not str" in r.error


def test_unknown_mode_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown parse mode"):
        parse_solution(OP2, "strict")


# --- exact equivalence with the official regex / Python eval ----------------------------------------------
_FRAGS = ["Define", "define ", " as ", " a ", " AS ", "x", "g", ";", " ", "  ", "owl", " in ", ".", "\n", "as",
          "a", "b;", " c;", "Define  as g;", "ſ", "\t"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_FRAGS), max_size=14))
def test_define_scan_equals_official_regex(parts):
    text = "".join(parts)
    ref = [(m.start(), m.end(), m.group(1), m.group(2)) for m in DEFINE_RE.finditer(text)]
    assert _define_matches(text) == ref


def test_compat_evaluator_equals_python_eval():
    rng = random.Random(0)
    alphabet = list("0123456789+-*/(). ") + ["//", "\n", "3.0", "00", " 0"]
    checked = 0
    for _ in range(3000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10))).strip()
        if not s:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = float(eval(s, {"__builtins__": {}}))  # the reference semantics the official code uses
        except Exception:
            ref = None
        assert _PyExpr(s).value() == ref, s
        checked += 1
    assert checked > 2000
    assert _PyExpr("2**3**2").value() == 512.0 and _PyExpr("-2**2").value() == -4.0
    assert _PyExpr("9**9**9").value() is None  # would hang Python; treated as unevaluable
