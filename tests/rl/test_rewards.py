"""Rewards on crafted completions (paper Eq. 3, strict, the authors' gated variant, outcome string match).

Process-based cases need `interplay.data.verify` (data-verify, contracts §1); they skip until it exists.
"""

import pytest

from interplay.train.rewards import REWARDS, _norm, extract_answer, outcome_reward, reward

# A compact op-3 forward problem (rendered as interplay.data.render would): E = 3, T = total of E's place, C = T.
GOLD = {
    "problem": "eagle MayerAquarium = 3 . crow HamiltonFarm = total MayerAquarium .",
    "question": "crow HamiltonFarm = ?",
    "solution": ("Define eagle MayerAquarium as H; so H = 3. Define total MayerAquarium as C; so C = H = 3. "
                 "Define crow HamiltonFarm as B; so B = C = 3. Answer: 3."),
    "op": 3, "id": "crafted-op3", "template": "crazy_zootopia", "mode": "forward", "answer": 3, "render": "compact",
    "graph": {"nodes": [
        {"name": "eagle MayerAquarium", "letter": "H", "parents": [], "value": 3},
        {"name": "total MayerAquarium", "letter": "C", "parents": ["eagle MayerAquarium"], "value": 3},
        {"name": "crow HamiltonFarm", "letter": "B", "parents": ["total MayerAquarium"], "value": 3}],
        "order": ["eagle MayerAquarium", "total MayerAquarium", "crow HamiltonFarm"],
        "query": "crow HamiltonFarm", "answer": 3},
}
CORRECT = (" Define eagle MayerAquarium as H; so H = 3. Define total MayerAquarium as C; so C = H = 3. "
           "Define crow HamiltonFarm as B; so B = C = 3. </solution> <answer> 3 </answer>")
# Right answer, wrong graph: skips the total node, so crow's parent is wrong and one gold node is missing.
RIGHT_ANSWER_WRONG_GRAPH = (" Define eagle MayerAquarium as H; so H = 3. Define crow HamiltonFarm as B; so B = H = 3."
                            " </solution> <answer> 3 </answer>")
# Wrong answer, right partial graph: two gold nodes right, the last one has a wrong value.
WRONG_ANSWER_PARTIAL = (" Define eagle MayerAquarium as H; so H = 3. Define total MayerAquarium as C; so C = H = 3. "
                        "Define crow HamiltonFarm as B; so B = C = 4. </solution> <answer> 4 </answer>")
GARBAGE = ["", "<answer>", " ;;; = = Define as as so </solution> <answer> </answer>", "\x00\ufffd" * 50,
           "Define x as ; so = 3 + (", None]


# ---- outcome: the official string match, no verifier needed --------------------------------------------------
def test_extract_answer_follows_official_order():
    assert extract_answer("<answer> 4 </answer> <answer> 5 </answer>") == " 4 "
    assert extract_answer("blah <ANSWER> 7 </Answer>") == " 7 "
    assert extract_answer("<answer> 1 <answer> 9\nmore") == " 9"  # after the last <answer>, up to newline
    assert extract_answer("so x = 2. Answer: 12.") == "12."
    assert extract_answer("so x = 2. Answer: 12.", allow_answer_line=False) is None
    assert extract_answer("nothing here") is None


def test_outcome_is_a_normalized_string_match():
    assert outcome_reward(CORRECT, 3) == 1.0
    assert outcome_reward("<answer> 3. </answer>", "3") == 1.0  # .strip().rstrip(".")
    assert outcome_reward("<answer> 3.0 </answer>", 3) == 0.0  # official: pure string match, "3.0" != "3"
    assert outcome_reward("<answer> 4 </answer>", 3) == 0.0
    assert outcome_reward("", 3) == 0.0


def test_unknown_reward_name_is_rejected():
    with pytest.raises(ValueError, match="unknown reward"):
        reward("dense", CORRECT, GOLD)


# ---- process-based rewards ----------------------------------------------------------------------------------
@pytest.fixture
def verify_available():
    pytest.importorskip("interplay.data.verify", reason="needs interplay.data.verify (data-verify)")


@pytest.mark.usefixtures("verify_available")
class TestProcessRewards:
    def test_correct_solution_scores_one_everywhere(self):
        for name in REWARDS:
            r = reward(name, CORRECT, GOLD)
            assert r.score == pytest.approx(1.0), name
            assert r.outcome == 1.0 and r.verified and r.category == "correct"
        assert reward("gated", CORRECT, GOLD, strict_zero=True).score == 1.0

    def test_right_answer_wrong_graph(self):
        # ProcessAcc = 1/3 (only the eagle node is right); authors' penalty = missing 1 + dependency 1 = 2 → PR 1/3.
        assert reward("outcome", RIGHT_ANSWER_WRONG_GRAPH, GOLD).score == 1.0
        mix = reward("mix", RIGHT_ANSWER_WRONG_GRAPH, GOLD, alpha=0.5)
        assert mix.process == pytest.approx(1 / 3) and mix.score == pytest.approx(0.5 + 0.5 / 3)
        assert reward("mix", RIGHT_ANSWER_WRONG_GRAPH, GOLD, alpha=0.2).score == pytest.approx(0.2 + 0.8 / 3)
        s = reward("strict", RIGHT_ANSWER_WRONG_GRAPH, GOLD)
        assert s.score == 0.0 and s.outcome == 1.0 and not s.verified
        g = reward("gated", RIGHT_ANSWER_WRONG_GRAPH, GOLD)  # α = 0.2 (code default)
        assert g.process == pytest.approx(1 / 3) and g.score == pytest.approx(0.2 + 0.8 / 3)
        assert reward("gated", RIGHT_ANSWER_WRONG_GRAPH, GOLD, strict_zero=True).score == 0.0

    def test_wrong_answer_right_partial_graph(self):
        assert reward("outcome", WRONG_ANSWER_PARTIAL, GOLD).score == 0.0
        mix = reward("mix", WRONG_ANSWER_PARTIAL, GOLD, alpha=0.5)
        assert mix.process == pytest.approx(2 / 3) and mix.score == pytest.approx(1 / 3)  # Eq. 3 is a linear mix
        assert reward("strict", WRONG_ANSWER_PARTIAL, GOLD).score == 0.0
        g = reward("gated", WRONG_ANSWER_PARTIAL, GOLD, alpha=0.5)
        # the code gates by the answer: 0 whatever the process; PR = 1 - (value 1 + answer 1)/3
        assert g.score == 0.0 and g.process == pytest.approx(1 / 3)

    def test_extra_nodes_cost_in_gated_but_not_in_processacc(self):
        extra = CORRECT.replace("Define crow", "Define owl MayerAquarium as K; so K = 2. Define crow")
        mix = reward("mix", extra, GOLD, alpha=0.5)
        assert mix.process == 1.0 and mix.score == 1.0 and reward("strict", extra, GOLD).score == 1.0
        g = reward("gated", extra, GOLD, alpha=0.5)
        assert g.process == pytest.approx(1 - 1 / 3) and g.score == pytest.approx(0.5 + 0.5 * 2 / 3)
        assert reward("gated", extra, GOLD, strict_zero=True).score == 0.0

    @pytest.mark.parametrize("text", GARBAGE)
    def test_garbage_scores_zero_and_never_raises(self, text):
        for name in REWARDS:
            r = reward(name, text, GOLD)
            assert r.score == 0.0 and r.outcome == 0.0 and not r.verified, (name, text)


# ---- the authors' extraction rules, and linear time (issue 9 item 5, issue 13 item 5) ---------------------------
def test_answer_line_fallback_is_case_insensitive_as_the_authors():
    for text in ("so x = 2. answer: 12", "so x = 2. ANSWER: 12.", "Answer:\n 12 <x"):
        assert _norm(extract_answer(text)) == "12" and outcome_reward(text, 12) == 1.0, text
    assert extract_answer("ANSWER: 12", allow_answer_line=False) is None  # their eval and process reward
    # their `text.lower().rfind("<answer>")` slice is shifted by a character whose lower case is longer (İ);
    # here the slice is where the tag is
    assert extract_answer("İ <answer> 7") == " 7"


def test_extraction_matches_the_official_regexes_on_well_formed_and_odd_texts():
    """Rule for rule against the authors' regular expressions (verl/dataset.py), on texts without İ."""
    import re

    def official(text):
        m = re.search(r"<answer>(.*?)</answer>", text, flags=re.DOTALL | re.IGNORECASE)
        if m:
            return m.group(1).strip()
        pos = text.lower().rfind("<answer>")
        if pos != -1:
            return re.search(r"(.*?)(<|\n|$)", text[pos + 8:], flags=re.DOTALL).group(1).strip()
        m3 = re.search(r"Answer:\s*(.*)", text, flags=re.IGNORECASE)
        if m3:
            return re.split(r"(?:\n|<)", m3.group(1).strip(), maxsplit=1)[0].strip()
        return ""

    texts = ["<answer> 4 </answer> <answer> 5 </answer>", "blah <ANSWER> 7 </Answer>", "<answer> 1 <answer> 9\nmore",
             "<answer>\n3\n</answer>", "x <answer> 3 <b> </answer>", "<Answer>12", "answer: 5 <", "Answer: \n\n 8\n9",
             "<answer></answer>", "<answer>", "</answer> <answer> 2", "ANSWER:", "no answer", "<answer> 3 4 </answer>",
             "<answer> 1,000 </answer>", "Answer: 6 <answer> 7", "<answer> a\nb </answer>", ""]
    for t in texts:
        assert (extract_answer(t) or "").strip() == official(t), t


def _cpu_ms(f, repeats: int = 7) -> float:
    import time
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        f()
        best = min(best, time.process_time() - t0)
    return best * 1e3


@pytest.mark.usefixtures("verify_available")
def test_rewards_are_linear_in_the_completion_length():
    """A 100k-character completion scores in milliseconds (the lazy `<answer>(.*?)</answer>` over unclosed
    tags took 4.6 s), and time grows linearly: x4 the length costs < x8 the time (quadratic would be x16).
    CPU time, best of 7, generous bounds: the machine is shared."""
    from interplay.data.generator import GenConfig, generate

    gold = generate(GenConfig(op=12), 0, 0).to_record()
    flood = "<answer>" * 12_500  # the example, 100,000 characters
    for name in ("outcome", "gated"):
        assert _cpu_ms(lambda: reward(name, flood, gold)) < (5.0 if name == "outcome" else 15.0), name
    step = "Define a b as c; so c = 3 + 4 = 7. "
    patterns = {"<answer>": "<answer>", "Answer:": "Answer:", "<answer> 1": "<answer> 1 ", "steps": step,
                "noise": "ab <c> = ; . 1 "}
    for label, unit in patterns.items():
        for name in ("outcome", "gated"):
            small = unit * (25_000 // len(unit))
            big = unit * (100_000 // len(unit))
            t_small, t_big = _cpu_ms(lambda: reward(name, small, gold)), _cpu_ms(lambda: reward(name, big, gold))
            assert t_big < 8 * max(t_small, 0.2), (label, name, t_small, t_big)


# ---- the answer-only evaluation metric: the authors' exact match (issue 9 item 6) -------------------------------
def test_answer_only_metric_is_the_authors_exact_match():
    from interplay.eval.evaluate import answer_exact_match

    rec = {"solution": "Define a as b; so b = 1000. Answer: 1000.", "answer": 1000}
    assert answer_exact_match(" Define a as b; so b = 1000. </solution> <answer> 1000 </answer>", rec)
    assert answer_exact_match("<answer> 1,000 </answer>", rec)  # thousands separators dropped
    assert answer_exact_match("<answer> 1000.0 </answer>", rec)  # numeric, tolerance 1e-8
    assert answer_exact_match("<answer> 2000/2 </answer>", rec)  # fractions
    assert not answer_exact_match("so b = 1000. Answer: 1000", rec)  # no `Answer:` fallback in their eval
    assert not answer_exact_match("<answer> 1000 2 </answer>", rec)  # the whole content, not its first number
    assert answer_exact_match("<answer> 3 <answer> 1000", rec)  # two unclosed tags: the last one
    assert not answer_exact_match("<answer> 1000 <answer> 3", rec)
    assert answer_exact_match("<answer> 1000 </answer> <answer> 7 </answer>", rec)  # sampling stops at </answer>
    assert not answer_exact_match("<answer> 7 </answer> <answer> 1000 </answer>", rec)
    assert answer_exact_match("<answer> 1000\\n", rec) is False  # the literal backslash stays in the text
    assert answer_exact_match("<answer> 1000\nmore", rec)  # up to the newline
    assert not answer_exact_match("", rec) and not answer_exact_match("<answer> </answer>", rec)
    assert answer_exact_match("<answer> x </answer>", {"answer": "x"})  # non-numeric: string equality


# ---- which verifier each arm uses: named by the spec, the authors' for `gated` (issue 9 item 7) ----------------
def test_gated_defaults_to_the_authors_verifier_and_specs_name_it(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    from interplay.spec.resolve import resolve
    from interplay.spec.schema import SpecError
    from interplay.train.rewards import resolve_verify_mode
    from interplay.train.rl_config import load_rl_config

    assert resolve_verify_mode("gated") == "official_compat"
    assert [resolve_verify_mode(n) for n in ("outcome", "mix", "strict")] == ["paper"] * 3
    assert resolve_verify_mode("gated", "paper") == "paper"
    with pytest.raises(ValueError, match="verify_mode"):
        resolve_verify_mode("gated", "lenient")

    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "specs", tmp_path / "specs")
    shutil.copy(root / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "specs/reward.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("reward: {name: strict}", "reward: {name: gated, alpha: 0.2}", 1))
    runs = resolve("ci").runs
    rl = {n: r.config["rl"]["reward"] for n, r in runs.items() if r.kind == "rl"}
    assert rl["rl_edge_strict"]["verify_mode"] == "official_compat"  # now a gated arm: the authors' verifier
    assert rl["rl_edge_mix05"]["verify_mode"] == "paper"
    for n, r in runs.items():
        if r.kind == "rl":
            assert load_rl_config(r.config["rl"]).reward.verify_mode == rl[n]["verify_mode"]
    spec.write_text(text.replace("reward: {name: strict}", "reward: {name: gated, verify_mode: paper}", 1))
    assert resolve("ci").runs["rl_edge_strict"].config["rl"]["reward"]["verify_mode"] == "paper"
    spec.write_text(text.replace("reward: {name: strict}", "reward: {name: gated, verify_mode: loose}", 1))
    with pytest.raises(SpecError, match=r"specs/reward.yaml: .*rl.rl_edge_strict.reward.verify_mode"):
        resolve("ci")
