"""Generator and renderer: exact op counts, value rules, graph well-formedness, determinism, and the
official text format (checked against real outputs of the authors' generator, gsm_infinite/.../realistic/)."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interplay.data.contexts import CONTEXTS, get_context
from interplay.data.generator import (COMPACT_MAX_DISTRACTORS, RNG, GenConfig, SampledGraph, _problem_seed,
                                      generate, generate_many, sample_graph)
from interplay.data.records import content_id
from interplay.data.render import RNG_FINAL, fmt_linear, prompt_text, render, training_text, word_tokens

configs = st.builds(GenConfig, op=st.integers(2, 20), mode=st.sampled_from(["forward", "reverse"]),
                    context=st.sampled_from(sorted(CONTEXTS)), render=st.sampled_from(["paper", "compact"]))
seeds = st.integers(0, 2**31)
indices = st.integers(0, 10**6)


def _sample(cfg: GenConfig, seed: int, index: int) -> tuple[SampledGraph, random.Random]:
    rng = random.Random(_problem_seed(cfg, seed, index))
    return sample_graph(cfg, rng), rng


def _steps(solution: str) -> list[tuple[str, str, str]]:
    """(name, letter, step text) per `Define` step of a solution."""
    parts = re.split(r"Define (.+?) as ([A-Za-z]); ", solution)[1:]
    return [(parts[i], parts[i + 1], parts[i + 2]) for i in range(0, len(parts), 3)]


@settings(max_examples=80, deadline=None)
@given(cfg=configs, seed=seeds, index=indices)
def test_problem_invariants(cfg, seed, index):
    p = generate(cfg, seed, index)
    g, _ = _sample(cfg, seed, index)
    # exact op: sum of in-degrees of the necessary nodes, constant (RNG) edges included
    assert g.op() == cfg.op == p.op
    nodes = p.graph.nodes
    names = [n.name for n in nodes]
    assert len(set(names)) == len(names)
    # topological order: every parent is an earlier node (so the graph is acyclic)
    seen = set()
    for n in nodes:
        assert set(n.parents) <= seen, (n.name, n.parents)
        seen.add(n.name)
    # value rules: [1, 1000]; 0 only for totals
    for n in nodes:
        low = 0 if n.name.startswith("total") else 1
        assert low <= n.value <= 1000, (n.name, n.value)
    by = p.graph.by_name()
    assert p.answer == p.graph.answer == by[p.graph.query].value
    assert p.solution.endswith(f"Answer: {p.answer}.")
    if cfg.mode == "forward":
        assert p.graph.query == names[-1]
        # every step's final number is the node's value
        for name, letter, text in _steps(p.solution):
            assert int(re.findall(r"-?\d+", text.split("Answer:")[0])[-1]) == by[name].value
    else:
        assert 1 <= p.answer <= 4
        x = by[p.graph.query]
        assert x.letter == "x" and x.parents == ()
        assert f"We know {nodes[-1].letter} = {nodes[-1].value}," in p.solution
    # the gold solution defines every gold node, in order, with its letter
    assert [(s[0], s[1]) for s in _steps(p.solution)] == [(n.name, n.letter) for n in nodes]
    # id is the content hash; the template is the official name
    assert p.id == content_id(p.problem, p.question, p.solution)
    assert p.template == CONTEXTS[cfg.context]


@settings(max_examples=40, deadline=None)
@given(op=st.integers(2, 20), mode=st.sampled_from(["forward", "reverse"]), seed=seeds, index=indices)
def test_op_recounted_from_compact_text(op, mode, seed, index):
    """Independent op count: parents of each gold node plus one per literal in its sentence."""
    p = generate(GenConfig(op=op, mode=mode, render="compact"), seed, index)
    sentences = [s.strip() for s in p.problem.split(" .") if s.strip()]
    count = 0
    for n in p.graph.nodes:
        count += len(n.parents)
        if n.name.startswith("total"):
            continue
        if mode == "reverse" and n.name == p.graph.query:
            assert f"{n.name} > 0" in sentences
            count += 1  # the hidden parameter's literal is its (hidden) constant edge
            continue
        own = [s for s in sentences if s.startswith(f"{n.name} = ")]
        if mode == "reverse" and n is p.graph.nodes[-1]:
            own = [s for s in own if s != f"{n.name} = {n.value}"] or own
        assert len(own) == 1, (n.name, own)
        count += bool(re.search(r"= \d+\b", own[0]))
    assert count == op


@settings(max_examples=30, deadline=None)
@given(cfg=configs, seed=seeds, index=indices)
def test_paper_and_compact_are_the_same_problem(cfg, seed, index):
    a = generate(GenConfig(op=cfg.op, mode=cfg.mode, context=cfg.context, render="paper"), seed, index)
    b = generate(GenConfig(op=cfg.op, mode=cfg.mode, context=cfg.context, render="compact"), seed, index)
    assert a.answer == b.answer
    assert [(n.letter, n.value, len(n.parents)) for n in a.graph.nodes] == \
           [(n.letter, n.value, len(n.parents)) for n in b.graph.nodes]
    assert a.id != b.id


def test_determinism_and_seeds():
    cfg = GenConfig(op=12, mode="reverse", context="teachers")
    a = [json.dumps(p.to_record()) for p in generate_many(cfg, 7, 20)]
    b = [json.dumps(p.to_record()) for p in generate_many(cfg, 7, 20)]
    assert a == b
    c = [json.dumps(p.to_record()) for p in generate_many(cfg, 8, 20)]
    assert not set(a) & set(c)
    assert generate(cfg, 7, 3).id != generate(cfg, 7, 4).id


def test_same_bytes_in_a_fresh_process():
    code = ("import json; from interplay.data.generator import GenConfig, generate; "
            "print(json.dumps(generate(GenConfig(op=14, mode='reverse', context='festival', render='compact'), 5, 11)"
            ".to_record()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    here = json.dumps(generate(GenConfig(op=14, mode="reverse", context="festival", render="compact"), 5, 11).to_record())
    assert out == here


def test_pinned_ids():
    """The stream is part of the contract: a changed id means GEN_VERSION must be bumped."""
    got = {(op, mode): generate(GenConfig(op=op, mode=mode), 0, 0).id for op, mode in [(2, "forward"), (12, "reverse")]}
    assert got == PINNED, got


PINNED = {(2, 'forward'): '8cfa97f700b67055', (12, 'reverse'): '7cace56e846173d2'}  # GEN_VERSION 2


def test_generate_many_unique_and_excludes():
    cfg = GenConfig(op=3, context="zoo", render="compact")
    test_ids = {p.id for p in generate_many(cfg, 1, 60)}
    assert len(test_ids) == 60
    train = list(generate_many(cfg, 1, 120, exclude_ids=test_ids))
    ids = [p.id for p in train]
    assert len(set(ids)) == 120 and not set(ids) & test_ids
    assert list(generate_many(cfg, 1, 0)) == []


def test_distractor_cap_and_sentence_count():
    for op, mode in [(4, "forward"), (10, "reverse"), (6, "forward")]:
        for i in range(10):
            cfg_all = GenConfig(op=op, mode=mode, render="compact")
            g, _ = _sample(cfg_all, 3, i)
            full = generate(cfg_all, 3, i)
            capped = generate(GenConfig(op=op, mode=mode, render="compact", max_distractors=1), 3, i)
            n_nec = len(g.necessary_instances) + (mode == "reverse")
            assert full.problem.count(" .") == n_nec + len(g.distractors)
            assert capped.problem.count(" .") == n_nec + min(1, len(g.distractors))
            assert capped.solution == full.solution and capped.graph == full.graph
            # the kept sentences keep their relative order
            kept = [s for s in full.problem.split(" . ") if s.strip(" .") in capped.problem]
            assert [s.strip(" .") for s in kept] == [s.strip(" .") for s in capped.problem.split(" . ")]


def test_modulus_knob():
    for i in range(20):
        p = generate(GenConfig(op=10, modulus=7), 0, i)
        assert all(0 <= n.value < 7 for n in p.graph.nodes)
        assert all(n.value >= 1 for n in p.graph.nodes if not n.name.startswith("total"))
    with pytest.raises(ValueError):
        GenConfig(op=5, mode="reverse", modulus=7)


@pytest.mark.parametrize("bad", [dict(op=1), dict(op=5, mode="sideways"), dict(op=5, context="mars"),
                                 dict(op=5, render="html"), dict(op=5, max_distractors=-2), dict(op=99)])
def test_config_validation(bad):
    with pytest.raises(ValueError):
        GenConfig(**bad)


@settings(max_examples=200, deadline=None)
@given(a=st.integers(-60, 60), b=st.integers(-300, 300))
def test_fmt_linear_matches_sympy(a, b):
    import sympy  # installed with torch
    assert fmt_linear(a, b) == str(sympy.sympify(f"({a})*x + ({b})"))


def test_compact_surface_words():
    p = generate(GenConfig(op=12, context="festival", render="compact"), 0, 0)
    for s in p.problem.split(" . "):
        assert re.fullmatch(r"\w+ \w+ (=|>) .+", s.strip(" ."))
    assert p.question.endswith(" = ?")
    # every compact name is exactly two words
    assert all(len(n.name.split()) == 2 for n in p.graph.nodes)


def test_training_and_prompt_text():
    p = generate(GenConfig(op=2), 0, 0)
    t = training_text(p.problem, p.question, p.solution)
    assert t.startswith(f"<question> {p.problem.strip()} {p.question} </question> <solution> Define ")
    assert t.endswith(f"</solution> <answer> {p.answer} </answer>")
    assert "Answer:" not in t
    assert t.startswith(prompt_text(p.problem, p.question) + " Define")
    # official compose_text example (the authors' utils/text_preprocess.py)
    ex = training_text(OFFICIAL_OP2["problem"], OFFICIAL_OP2["question"], OFFICIAL_OP2["solution"])
    assert ex == ("<question> The number of adult owl in Jefferson Circus equals 2. The number of adult owl in Hamilton "
                  "Farm equals the number of adult owl in Jefferson Circus. The number of adult eagle in Hamilton Farm "
                  "equals 2 times the total number of adult animals in Jefferson Circus. What is the total number of "
                  "adult animals in Jefferson Circus? </question> <solution> Define adult owl in Jefferson Circus as g;"
                  " so g = 2. Define total number of adult animals in Jefferson Circus as O; so O = g = 2. </solution>"
                  " <answer> 2 </answer>")
    assert training_text("p", "q?", "no answer here") == "<question> p q? </question> <solution> no answer here </solution>"
    assert len(word_tokens("<question> total Evervale = ? [EOS]")) == 6


# ---------------------------------------------------------------------------------------------------
# Exact official format: rebuild the official examples' graphs and render them with scripted draws.

OFFICIAL_OP2 = {
    "problem": "The number of adult owl in Jefferson Circus equals 2. The number of adult owl in Hamilton Farm equals "
               "the number of adult owl in Jefferson Circus. The number of adult eagle in Hamilton Farm equals 2 times "
               "the total number of adult animals in Jefferson Circus. ",
    "question": "What is the total number of adult animals in Jefferson Circus?",
    "solution": "Define adult owl in Jefferson Circus as g; so g = 2. Define total number of adult animals in Jefferson "
                "Circus as O; so O = g = 2. Answer: 2.",
}

OFFICIAL_REVERSE_OP8 = {
    "problem": "The number of public highschool in Clearwater Bay equals 4 times the number of elementary school in "
               "Oakbridge City. The number of public highschool in Oakbridge City equals 4. The number of public "
               "highschool in Shoreline City equals 2. The number of elementary school in Oakbridge City exists, and "
               "its number is greater than 0. The number of regional medical school in Oakbridge City equals 2 plus "
               "the number of public highschool in Oakbridge City. The total number of schools in Clearwater Bay "
               "equals 48. The number of elementary school in Clearwater Bay equals the number of public highschool "
               "in Clearwater Bay. The number of regional medical school in Shoreline City equals 2. The number of "
               "regional medical school in Clearwater Bay equals the number of elementary school in Clearwater Bay. "
               "The number of elementary school in Shoreline City equals the sum of the total number of schools in "
               "Clearwater Bay, the number of elementary school in Clearwater Bay, and the number of elementary "
               "school in Oakbridge City. ",
    "question": "How many elementary school does Oakbridge City have?",
    "solution": "The question is difficult, so we use equations to solve it. Define elementary school in Oakbridge City "
                "as x; we don't know its value yet but will find it out later. Define public highschool in Clearwater "
                "Bay as z; m = x = x; so z = 4 * m = (4) * (x) = 4*x. Define elementary school in Clearwater Bay as w;"
                " so w = z = 4*x. Define regional medical school in Clearwater Bay as W; so W = w = 4*x. Define total "
                "number of schools in Clearwater Bay as L; u = W + w = 4*x + 4*x = 8*x; so L = u + z = 8*x + 4*x = "
                "12*x. We know L = 48, so we have 12*x = 48 and we solve it through the following steps: Simplifying "
                "the equation: 12*x = 48. Move all terms to one side: 12*x - 48 = 0. Isolate the term with x: 12*x = "
                "48. Divide both sides by 12: x = 48 / 12. Solution: x = 4. Answer: 4.",
}


class ScriptedRng(random.Random):
    """Replays chosen letters, literals and a sentence order through the renderer's RNG calls."""

    def __init__(self, letters="", randoms=(), ints=(), order=()):
        super().__init__(0)
        self.letters, self.randoms, self.ints, self.order = list(letters), list(randoms), list(ints), list(order)

    def randrange(self, n):  # the renderer pops letters with letters.pop(rng.randrange(len(letters)))
        if not hasattr(self, "_pool"):  # the first draw sees the full pool: 52 letters, or 50 without X/x
            pool = [chr(c) for c in range(65, 91)] + [chr(c) for c in range(97, 123)]
            self._pool = pool if n == 52 else [c for c in pool if c not in "Xx"]
            self._used = []
        pool, used = self._pool, self._used
        avail = [c for c in pool if c not in used]
        c = self.letters.pop(0)
        used.append(c)
        return avail.index(c)

    def random(self):
        return self.randoms.pop(0)

    def randint(self, a, b):
        return self.ints.pop(0)

    def shuffle(self, x):
        x[:] = sorted(x, key=self.order.index)


def _graph(ctx, places, items, instances, topo_tot, **kw):
    """SampledGraph with totals 0..len(places)-1 and instance ids in the order given."""
    n_tot = len(places)
    is_total = [True] * n_tot + [False] * len(instances)
    place_of = list(range(n_tot)) + [places.index(p) for p, _ in instances]
    item_of = [-1] * n_tot + [items.index(i) for _, i in instances]
    parents = [list(topo_tot.get(t, [])) for t in range(n_tot)] + [[] for _ in instances]
    g = SampledGraph(ctx=get_context(ctx), places=places, items=items, is_total=is_total, place_of=place_of,
                     item_of=item_of, parents=parents, has_rng=[False] * len(is_total), topo=[],
                     necessary_instances=[])
    for k, v in kw.items():
        setattr(g, k, v)
    return g


def test_official_forward_op2_exact():
    # nodes: 0 total JC, 1 total HF, 2 owl JC, 3 owl HF, 4 eagle HF
    g = _graph("zoo", ["Jefferson Circus", "Hamilton Farm"], ["adult owl", "adult eagle"],
               [("Jefferson Circus", "adult owl"), ("Hamilton Farm", "adult owl"), ("Hamilton Farm", "adult eagle")],
               {0: [2], 1: [3, 4]}, topo=[2, 0], necessary_instances=[2], distractors=[3, 4],
               value={2: 2, 0: 2}, lit={2: 2}, plus={2: True}, minus={})
    g.has_rng[2] = g.has_rng[4] = True
    g.parents[3], g.parents[4] = [2], [0]
    assert g.op() == 2
    rng = ScriptedRng(letters="gO", randoms=[0.9], ints=[2], order=[2, 3, 4])
    problem, question, solution, graph = render(g, GenConfig(op=2), rng)
    assert (problem, question, solution) == (OFFICIAL_OP2["problem"], OFFICIAL_OP2["question"], OFFICIAL_OP2["solution"])
    assert [(n.name, n.letter, n.value) for n in graph.nodes] == [
        ("adult owl in Jefferson Circus", "g", 2), ("total number of adult animals in Jefferson Circus", "O", 2)]
    assert graph.nodes[1].parents == ("adult owl in Jefferson Circus",)


def test_official_forward_op5_and_op6_solutions_exact():
    # op 5: racoon (leaf 3), wolf = 3 times racoon, total = racoon + wolf
    g = _graph("zoo", ["Maple Creek"], ["adult racoon", "adult wolf"],
               [("Maple Creek", "adult racoon"), ("Maple Creek", "adult wolf")], {0: [1, 2]},
               topo=[1, 2, 0], necessary_instances=[1, 2], distractors=[],
               value={1: 3, 2: 9, 0: 12}, lit={1: 3, 2: 3}, plus={1: False, 2: False}, minus={})
    g.has_rng[1] = g.has_rng[2] = True
    g.parents[2] = [1]
    assert g.op() == 5
    _, q, sol, _ = render(g, GenConfig(op=5), ScriptedRng(letters="wSsP", order=[1, 2]))
    assert q == "What is the total number of adult animals in Maple Creek?"
    assert sol == ("Define adult racoon in Maple Creek as w; so w = 3. Define adult wolf in Maple Creek as s; S = w = 3;"
                   " so s = 3 * S = 3 * 3 = 9. Define total number of adult animals in Maple Creek as P; so P = w + s = "
                   "3 + 9 = 12. Answer: 12.")
    # op 6: three leaves and a 3-term total chained through an intermediate letter
    g = _graph("festival", ["Northwood Movie Festival"], ["calm road movie", "upbeat metropolis comedy",
                                                          "futuristic sci-fi movie"],
               [("Northwood Movie Festival", "calm road movie"), ("Northwood Movie Festival", "upbeat metropolis comedy"),
                ("Northwood Movie Festival", "futuristic sci-fi movie")], {0: [2, 1, 3]},
               topo=[1, 2, 3, 0], necessary_instances=[1, 2, 3], distractors=[],
               value={1: 4, 2: 2, 3: 4, 0: 10}, lit={1: 4, 2: 2, 3: 4}, plus={1: True, 2: True, 3: True}, minus={})
    for v in (1, 2, 3):
        g.has_rng[v] = True
    assert g.op() == 6
    _, _, sol, _ = render(g, GenConfig(op=6, context="festival"), ScriptedRng(letters="EmTIR", order=[1, 2, 3]))
    assert sol == ("Define calm road movie in Northwood Movie Festival as E; so E = 4. Define upbeat metropolis comedy in "
                   "Northwood Movie Festival as m; so m = 2. Define futuristic sci-fi movie in Northwood Movie Festival "
                   "as T; so T = 4. Define total number of movies in Northwood Movie Festival as R; I = m + E = 2 + 4 = "
                   "6; so R = I + T = 6 + 4 = 10. Answer: 10.")


def _reverse_op8_graph() -> SampledGraph:
    places = ["Clearwater Bay", "Oakbridge City", "Shoreline City"]
    items = ["public highschool", "elementary school", "regional medical school"]
    inst = [("Oakbridge City", "elementary school"),  # 3: x
            ("Clearwater Bay", "public highschool"),  # 4: z
            ("Clearwater Bay", "elementary school"),  # 5: w
            ("Clearwater Bay", "regional medical school"),  # 6: W
            ("Oakbridge City", "public highschool"),  # 7
            ("Shoreline City", "public highschool"),  # 8
            ("Oakbridge City", "regional medical school"),  # 9
            ("Shoreline City", "regional medical school"),  # 10
            ("Shoreline City", "elementary school")]  # 11
    g = _graph("teachers", places, items, inst, {0: [6, 5, 4], 1: [3, 7, 9], 2: [8, 10, 11]},
               topo=[3, 4, 5, 6, 0], necessary_instances=[3, 4, 5, 6], distractors=[7, 8, 9, 10, 11], unknown=3,
               value={3: 4, 4: 16, 5: 16, 6: 16, 0: 48}, lin={3: (1, 0), 4: (4, 0), 5: (4, 0), 6: (4, 0), 0: (12, 0)},
               lit={3: 4, 4: 4}, plus={3: True, 4: False}, minus={})
    for v in (3, 4, 7, 8, 9, 10):
        g.has_rng[v] = True
    g.parents[4], g.parents[5], g.parents[6] = [3], [4], [5]
    g.parents[9], g.parents[11] = [7], [0, 5, 3]
    return g


def test_official_reverse_op8_exact():
    g = _reverse_op8_graph()
    assert g.op() == 8
    # distractor draws: 7 = 4 (plus, 4); 8 = 2 (plus, 2); 9 = 2 plus ...; 10 = 2 (plus, 2); 11 has 3 parents
    rng = ScriptedRng(letters="mzwWuL", randoms=[0.1, 0.1, 0.1, 0.1], ints=[4, 2, 2, 2],
                      order=[4, 7, 8, 3, 9, RNG_FINAL, 5, 10, 6, 11])
    problem, question, solution, graph = render(g, GenConfig(op=8, mode="reverse", context="teachers"), rng)
    assert problem == OFFICIAL_REVERSE_OP8["problem"]
    assert question == OFFICIAL_REVERSE_OP8["question"]
    assert solution == OFFICIAL_REVERSE_OP8["solution"]
    assert graph.query == "elementary school in Oakbridge City" and graph.answer == 4
    assert [n.value for n in graph.nodes] == [4, 16, 16, 16, 48]


def test_reverse_compact_surface():
    g = _reverse_op8_graph()
    rng = ScriptedRng(letters="mzwWuL", randoms=[0.1] * 4, ints=[4, 2, 2, 2], order=[4, 7, 8, 3, 9, RNG_FINAL, 5, 10, 6, 11])
    problem, question, solution, _ = render(g, GenConfig(op=8, mode="reverse", context="teachers", render="compact",
                                                         max_distractors=None), rng)
    assert problem.startswith("publichigh Clearwater = 4 * elementary Oakbridge . publichigh Oakbridge = 4 . ")
    assert "elementary Oakbridge > 0 ." in problem and "total Clearwater = 48 ." in problem
    assert "elementary Shoreline = total Clearwater + elementary Clearwater + elementary Oakbridge ." in problem
    assert question == "elementary Oakbridge = ?"
    assert solution == ("Define elementary Oakbridge as x; so x = x. Define publichigh Clearwater as z; m = x = x; so z = "
                        "4 * m = (4) * (x) = 4*x. Define elementary Clearwater as w; so w = z = 4*x. Define medical "
                        "Clearwater as W; so W = w = 4*x. Define total Clearwater as L; u = W + w = 4*x + 4*x = 8*x; so "
                        "L = u + z = 8*x + 4*x = 12*x. We know L = 48, so 12*x = 48; x = 48 / 12 = 4. Answer: 4.")


def test_compact_cap_default_is_exported():
    assert isinstance(COMPACT_MAX_DISTRACTORS, int) and COMPACT_MAX_DISTRACTORS >= 0
    assert RNG == -1
