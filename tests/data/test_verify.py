"""Process verification (paper §A.4): gold solutions verify, mutations give the right category and the exact
ProcessAcc, letter renames are harmless in `paper` mode and hit the official reverse-mode artifact in
`official_compat`. The property tests use interplay's generator."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import interplay.data
from interplay.data.parser import parse_solution
from interplay.data.verify import CATEGORIES, VerifyResult, verify

from .test_parser import GOLD, OP5, REV8, C

ALL = sorted(GOLD)


def record(text: str, graph=None) -> dict:
    """A row in the official schema (no graph) or ours (with graph)."""
    rec = {"problem": "...", "question": "...", "solution": text, "op": 0, "id": "x", "template": "t", "mode": "m"}
    if graph is not None:
        rec.update(graph=graph.to_dict(), answer=graph.answer)
    return rec


@pytest.mark.parametrize("key", ALL)
@pytest.mark.parametrize("mode", ["paper", "official_compat"])
def test_official_examples_verify_correct(key, mode):
    text, gold = GOLD[key]
    golds = (gold, record(text, gold), record(text))
    if mode == "official_compat" and key == "rev8":
        # official reverse-mode values are literal fallbacks, so compat must take gold from the gold solution
        assert not verify(text, gold, mode).verified
        golds = golds[1:]
    for g in golds:
        r = verify(text, g, mode)
        assert r == VerifyResult(1.0, True, True, "correct", len(gold.nodes), len(gold.nodes), 0, 0, 0, 0)


def test_public_api_is_callable_as_documented():
    text, gold = GOLD["op5"]
    import interplay.data.verify  # noqa: F401  (importing the submodule must not break the function API)

    assert interplay.data.verify(text, gold).verified
    from interplay.data import verify as v

    assert v(text, gold).category == "correct"


# --- mutations on the op-5 example (3 gold nodes) ---------------------------------------------------------
def _check(text, gold, category, acc, **counts):
    r = verify(text, gold)
    assert r.category == category, r
    assert r.process_acc == pytest.approx(acc, abs=0)
    for k, v in counts.items():
        assert getattr(r, k) == v, (k, r)
    assert r.verified == (category == "correct")
    return r


def test_mutation_value():
    gold = GOLD["op5"][1]
    _check(OP5.replace("3 * 3 = 9", "3 * 3 = 10"), gold, "value_mismatch", 2 / 3, n_value_mismatch=1,
           n_dep_mismatch=0, n_missing=0)


def test_mutation_parent_letter_swap():
    gold = GOLD["op5"][1]
    # P = w + s -> P = w + w: parents {racoon} instead of {racoon, wolf}; the value text still says 12
    _check(OP5.replace("so P = w + s", "so P = w + w"), gold, "dependency_mismatch", 2 / 3, n_dep_mismatch=1,
           n_value_mismatch=0)


def test_mutation_drop_step():
    gold = GOLD["op5"][1]
    dropped = OP5.replace("Define adult wolf in Maple Creek as s; S = w = 3; so s = 3 * S = 3 * 3 = 9. ", "")
    # the wolf node is missing and the total's "s" no longer names a step: 1/3 right
    _check(dropped, gold, "missing_nodes", 1 / 3, n_missing=1, n_dep_mismatch=1)


def test_mutation_answer():
    gold = GOLD["op5"][1]
    r = _check(OP5.replace("Answer: 12.", "Answer: 13."), gold, "wrong_answer_only", 1.0)
    assert not r.answer_correct


def test_mutation_reverse_value_and_solve():
    gold = GOLD["rev8"][1]
    _check(REV8.replace("so w = z = 4*x", "so w = z = 5*x"), gold, "value_mismatch", 4 / 5)
    # a wrong solve makes every value wrong, and the answer too
    r = _check(REV8.replace("Solution: x = 4. Answer: 4.", "Solution: x = 5. Answer: 5."), gold, "value_mismatch", 0.0)
    assert not r.answer_correct


def test_extra_nodes_are_allowed_and_precedence():
    text, gold = GOLD["op2"]
    extra = text.replace("Answer:", "Define adult eagle in Hamilton Farm as k; so k = 3. Answer:")
    r = verify(extra, gold)
    assert r.verified and r.n_extra == 1
    # one node with a wrong value, the other with wrong parents -> dependency_mismatch (precedence)
    both = text.replace("so O = g = 2", "so O = 2")
    r = verify(both.replace("so g = 2", "so g = 3"), gold)
    assert r.category == "dependency_mismatch" and r.process_acc == 0.0
    assert verify("garbage", gold).category == "unparseable"
    assert set(CATEGORIES) == {"correct", "wrong_answer_only", "value_mismatch", "dependency_mismatch",
                               "missing_nodes", "unparseable"}


def test_both_values_undefined_is_wrong_in_paper_but_equal_in_official_compat():
    text = REV8.replace("Solution: x = 4.", "Solution: x is four.").replace("Divide both sides by 12: x = 48 / 12.", "")
    text = text.replace("Isolate the term with x: 12*x = 48.", "")
    gold_rec = record(text)  # gold parsed from the same (unsolvable) text
    assert verify(text, gold_rec, "paper").category == "value_mismatch"
    assert verify(text, gold_rec, "official_compat").verified


# --- letter renames ------------------------------------------------------------------------------------
_LETTER = re.compile(r"(?<![\w'])[A-Za-z](?![\w'])")
_POOL = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWYZabcdefghijklmnopqrstuvwyz"]  # official pool: no X/x


def rename_letters(text: str, rng: random.Random) -> str:
    """Consistently rename every variable letter (x stays the unknown), as another correct solution would."""
    body, sep, tail = text.rpartition("Answer:")
    used = sorted({m.group(0) for m in _LETTER.finditer(body)} - {"x"})
    new = rng.sample(_POOL, len(used))
    mapping = dict(zip(used, new))
    return _LETTER.sub(lambda m: mapping.get(m.group(0), m.group(0)), body) + sep + tail


@pytest.mark.parametrize("key", ALL)
def test_rename_keeps_correct_in_paper_mode(key):
    text, gold = GOLD[key]
    rng = random.Random(key)
    for _ in range(20):
        renamed = rename_letters(text, rng)
        assert verify(renamed, gold).verified, renamed


REV_ART = ("The question is difficult, so we use equations to solve it. Define elementary school in Oakbridge City "
           "as x; we don't know its value yet but will find it out later. Define public highschool in Clearwater "
           "Bay as z; m = x = x; so z = 4 * m = (4) * (x) = 4*x. Define elementary school in Clearwater Bay as w; "
           "so w = 2 + z = 2 + 4*x = 4*x + 2. Define total number of schools in Clearwater Bay as L; so L = w = "
           "4*x + 2. We know L = 18, so we have 4*x + 2 = 18 and we solve it through the following steps: "
           "Simplifying the equation: 4*x + 2 = 18. Move all terms to one side: 4*x - 16 = 0. Isolate the term "
           "with x: 4*x = 16. Divide both sides by 4: x = 16 / 4. Solution: x = 4. Answer: 4.")


def test_official_compat_reproduces_the_reverse_mode_letter_artifact():
    """Renaming z -> S: "Simplifying"/"Solution" now contain the letter of a non-parent of L, so the official
    parser (utils/solution_dependency_graph.py) adds it to L's dependencies and judges a correct solution not
    perfect."""
    gold = record(REV_ART)
    renamed = REV_ART.replace("as z;", "as S;").replace("so z =", "so S =").replace("2 + z", "2 + S")
    assert verify(REV_ART, gold, "official_compat").verified
    r = verify(renamed, gold, "official_compat")
    assert r.category == "dependency_mismatch" and r.n_dep_mismatch == 1 and not r.verified
    pred = parse_solution(renamed, "official_compat").graph.by_name()
    assert f"public highschool in {C}" in pred[f"total number of schools in {C}"].parents
    # the paper definition is immune: the renamed solution is correct against the gold graph
    paper_gold = parse_solution(REV_ART).graph
    assert paper_gold.by_name()[f"total number of schools in {C}"].parents == (f"elementary school in {C}",)
    assert verify(renamed, paper_gold).verified and verify(renamed, gold).verified


# --- properties over generated problems (needs interplay.data.generator from data-gen) -------------------
import interplay.data.generator as gen  # noqa: E402

problems = st.builds(
    lambda op, mode, context, render, seed, index: gen.generate(
        gen.GenConfig(op=op, mode=mode, context=context, render=render), seed, index),
    op=st.integers(2, 20), mode=st.sampled_from(["forward", "reverse"]),
    context=st.sampled_from(["zoo", "teachers", "festival"]), render=st.sampled_from(["paper", "compact"]),
    seed=st.integers(0, 2**31 - 1), index=st.integers(0, 10_000))

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(problems)
def test_gold_solution_parses_to_gold_graph_and_verifies(p):
    r = parse_solution(p.solution)
    assert r.ok and r.error is None
    assert r.graph == p.graph
    assert p.answer == p.graph.answer == p.graph.by_name()[p.graph.query].value
    assert verify(p.solution, p.graph).verified
    assert verify(p.solution, p.to_record()).verified
    # the official parser agrees with itself on gold (its artifacts cancel), as in the official pipeline
    assert verify(p.solution, p.to_record(), "official_compat").verified
    if p.mode == "forward":  # forward has no artifact: the official parse is the gold graph
        assert parse_solution(p.solution, "official_compat").graph == p.graph


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 20), st.sampled_from(["forward", "reverse"]), st.sampled_from(["zoo", "teachers", "festival"]),
       st.sampled_from(["paper", "compact"]), st.integers(0, 1000))
def test_requested_op_and_completion_form(op, mode, context, render, seed):
    p = gen.generate(gen.GenConfig(op=op, mode=mode, context=context, render=render), seed, 0)
    assert p.op == op and p.mode == mode
    body = p.solution.rsplit("Answer:", 1)[0].strip()
    completion = f" {body} </solution> <answer> {p.answer} </answer>"
    assert verify(completion, p.graph).verified


@settings(max_examples=60, deadline=None)
@given(problems, st.randoms(use_true_random=False))
def test_mutations_on_generated_problems(p, rng):
    n = len(p.graph.nodes)
    # drop one step (not the unknown x): its node is missing
    steps = [m.start() for m in re.finditer(r"Define ", p.solution)]
    i = rng.randrange(len(steps))
    end = steps[i + 1] if i + 1 < len(steps) else p.solution.rfind("Answer:")
    dropped_step = p.solution[steps[i]:end]
    if " as x;" not in dropped_step and "We know" not in dropped_step:
        r = verify(p.solution[:steps[i]] + p.solution[end:], p.graph)
        assert r.category == "missing_nodes" and r.n_missing == 1 and r.process_acc <= (n - 1) / n
    # wrong answer only
    wrong = p.solution.rsplit("Answer:", 1)[0] + f"Answer: {p.answer + 1}."
    r = verify(wrong, p.graph)
    assert r.category == "wrong_answer_only" and r.process_acc == 1.0 and not r.answer_correct
    # renamed letters stay correct (paper mode)
    assert verify(rename_letters(p.solution, rng), p.graph).verified
    # one forward value changed: exactly that node is wrong
    if p.mode == "forward":
        ends = list(re.finditer(r"= (\d+)\. (?=Define|Answer)", p.solution))
        m = ends[rng.randrange(len(ends))]
        bad = p.solution[:m.start(1)] + str(int(m.group(1)) + 1) + p.solution[m.end(1):]
        r = verify(bad, p.graph)
        assert r.category == "value_mismatch" and r.n_value_mismatch == 1 and r.process_acc == (n - 1) / n


# --- issue 9 item 4: paper-mode gaps (official_compat stays the authors' parser) ----------------------------


def rename_all_letters(text: str, rng: random.Random) -> str:
    """Consistently rename every variable letter, the unknown x included (another correct solution)."""
    body, sep, tail = text.rpartition("Answer:")
    used = sorted({m.group(0) for m in _LETTER.finditer(body)})
    mapping = dict(zip(used, rng.sample(_POOL, len(used))))
    return _LETTER.sub(lambda m: mapping.get(m.group(0), m.group(0)), body) + sep + tail


def test_reverse_unknown_with_another_letter_is_solved():
    rng = random.Random(9)
    q = REV8.replace("x", "q")
    assert " x" not in q and "as q;" in q
    g = parse_solution(q).graph.by_name()
    assert g[f"total number of schools in {C}"].value == 48 and g["elementary school in Oakbridge City"].value == 4
    assert verify(q, record(REV8)).verified
    for _ in range(30):
        renamed = rename_all_letters(REV8, rng)
        assert verify(renamed, record(REV8)).verified, renamed
    # the authors' parser takes any letter too (it reads the unknown's value from its later assignment)
    assert verify(q, record(REV8), "official_compat").answer_correct


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 20), st.sampled_from(["zoo", "teachers", "festival"]), st.integers(0, 10_000),
       st.randoms(use_true_random=False))
def test_generated_reverse_solutions_verify_under_any_letters(op, context, index, rng):
    p = gen.generate(gen.GenConfig(op=op, mode="reverse", context=context), 4, index)
    assert verify(rename_all_letters(p.solution, rng), p.graph).verified


def test_juxtaposed_numbers_are_not_a_product():
    r = parse_solution("Define a b as A; so A = 3 4. Answer: 4.")
    assert r.graph.nodes[0].value == 4  # unevaluable: the last literal, as the authors' parser falls back
    assert parse_solution("Define a b as A; so A = 3 4. Answer: 4.", "official_compat").graph.nodes[0].value == 4
    # products that are written as such still evaluate
    assert parse_solution("Define a b as A; so A = 3 * 4. Answer: 12.").graph.nodes[0].value == 12
    assert parse_solution("Define a b as A; so A = (3)(4). Answer: 12.").graph.nodes[0].value == 12
    r = parse_solution("Define a b as A; so A = 2. Define c d as B; so B = 3 A = 6. Answer: 6.")
    assert r.graph.nodes[1].value == 6 and r.graph.nodes[1].parents == ("a b",)
