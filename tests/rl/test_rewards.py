"""Rewards on crafted completions (paper Eq. 3, strict, the authors' gated variant, outcome string match).

Process-based cases need `interplay.data.verify` (data-verify, contracts §1); they skip until it exists.
"""

import pytest

from interplay.train.rewards import REWARDS, extract_answer, outcome_reward, reward

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
