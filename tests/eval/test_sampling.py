"""Sampler tests on a tiny random Qwen2 with a word-level tokenizer carrying the contract's special tokens."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from interplay.sampling import Samples, sample

SPECIAL = ["[UNK]", "[PAD]", "[BOS]", "[EOS]", "<question>", "</question>", "<solution>", "</solution>",
           "<answer>", "</answer>"]
WORDS = ["Define", "as", "so", "Answer", "We", "know", "x", "total", "owl", "zoo", "A", "B", "C", "=", "+", "-",
         "*", "(", ")", ".", ";", ":", "?", ">"] + [str(i) for i in range(30)]


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate(SPECIAL + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(r"</?[a-z]+>|\[[A-Z]+\]|\w+|[^\w\s]", behavior="isolated")
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins tokens with spaces
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   bos_token="[BOS]", eos_token="[EOS]",
                                   additional_special_tokens=SPECIAL[4:])


def tiny_model(vocab_size: int, seed: int = 0, **kw) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    cfg = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
               tie_word_embeddings=True, pad_token_id=1, bos_token_id=2, eos_token_id=3)
    cfg.update(kw)
    model = Qwen2ForCausalLM(Qwen2Config(**cfg))
    model.eval()
    return model


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return tiny_model(len(tok))


PROMPTS = ["<question> A = 3 . B = A + 2 . B = ? </question> <solution>",
           "<question> owl zoo = 4 . A = ? </question> <solution>",
           "<question> x = 1 </question> <solution>"]


def full_forward_logprobs(model, tok, prompt: str, completion: list[int], temperature: float) -> torch.Tensor:
    ids = tok.encode(prompt, add_special_tokens=False)
    x = torch.tensor([ids + completion])
    logits = model(input_ids=x).logits[0, len(ids) - 1: len(ids) - 1 + len(completion)].float()
    logits = logits / temperature if temperature > 0 else logits
    return torch.log_softmax(logits, -1).gather(1, torch.tensor(completion)[:, None])[:, 0]


def test_greedy_equals_argmax_of_full_forward(model, tok):
    s = sample(model, tok, PROMPTS, 2, temperature=0.0, max_new_tokens=12, stop=(), batch_size=4)
    assert isinstance(s, Samples)
    assert s.completion_ids.shape[0] == 6 and s.prompt_index.tolist() == [0, 0, 1, 1, 2, 2]
    for i in range(6):
        p = int(s.prompt_index[i])
        ids = tok.encode(PROMPTS[p], add_special_tokens=False)
        L = int(s.completion_mask[i].sum())
        # reference: greedy decoding by repeated full forward passes without any cache
        ref = []
        for _ in range(L):
            nxt = int(model(input_ids=torch.tensor([ids + ref])).logits[0, -1].argmax())
            ref.append(nxt)
            if nxt == tok.eos_token_id:
                break
        assert s.completion_ids[i, :L].tolist() == ref
    # both samples of one prompt are identical under greedy decoding
    assert torch.equal(s.completion_ids[0], s.completion_ids[1])


@pytest.mark.parametrize("temperature,top_p,top_k", [(1.0, 1.0, 0), (0.7, 0.9, 0), (1.3, 1.0, 5)])
def test_logprobs_match_full_forward(model, tok, temperature, top_p, top_k):
    s = sample(model, tok, PROMPTS, 3, temperature=temperature, top_p=top_p, top_k=top_k, max_new_tokens=10,
               stop=(), seed=3, batch_size=5)  # batch 5 splits a prompt's rows over two batches
    for i in range(s.completion_ids.shape[0]):
        L = int(s.completion_mask[i].sum())
        comp = s.completion_ids[i, :L].tolist()
        ref = full_forward_logprobs(model, tok, PROMPTS[int(s.prompt_index[i])], comp, temperature)
        torch.testing.assert_close(s.logprobs[i, :L], ref, atol=1e-4, rtol=0)
        assert (s.logprobs[i, L:] == 0).all()
        assert (s.completion_ids[i, L:] == tok.pad_token_id).all()


def test_top_k_one_is_greedy(model, tok):
    a = sample(model, tok, PROMPTS, 2, temperature=1.0, top_k=1, max_new_tokens=8, stop=(), seed=1)
    b = sample(model, tok, PROMPTS, 2, temperature=0.0, max_new_tokens=8, stop=())
    assert torch.equal(a.completion_ids, b.completion_ids)


def test_seed_reproduces_and_differs(model, tok):
    kw = dict(temperature=1.0, max_new_tokens=10, stop=(), batch_size=4)
    a = sample(model, tok, PROMPTS, 4, seed=7, **kw)
    b = sample(model, tok, PROMPTS, 4, seed=7, **kw)
    c = sample(model, tok, PROMPTS, 4, seed=8, **kw)
    assert torch.equal(a.completion_ids, b.completion_ids) and a.texts == b.texts
    assert torch.equal(a.logprobs, b.logprobs)
    assert not torch.equal(a.completion_ids, c.completion_ids)
    # the n samples of one prompt are not copies of each other
    assert len({tuple(r.tolist()) for r in a.completion_ids[:4]}) > 1


def test_stop_token_ends_sequences(tok):
    # bias the head towards </answer> so that most rows stop early
    model = tiny_model(len(tok), seed=1)
    stop_id = tok.convert_tokens_to_ids("</answer>")
    bias = torch.zeros(len(tok))
    bias[stop_id] = 2.5
    head = torch.nn.Linear(model.config.hidden_size, len(tok), bias=True)  # a biased output layer
    head.weight, head.bias = model.lm_head.weight, torch.nn.Parameter(bias)
    model.lm_head = head
    s = sample(model, tok, PROMPTS, 8, temperature=1.0, max_new_tokens=30, seed=0, batch_size=7)
    L = s.completion_mask.sum(1)
    for i in range(len(s.texts)):
        ids = s.completion_ids[i, : L[i]].tolist()
        if s.finished[i]:
            assert ids[-1] in (stop_id, tok.eos_token_id)
            assert stop_id not in ids[:-1] and tok.eos_token_id not in ids[:-1]
        else:
            assert L[i] == 30 and stop_id not in ids
    assert s.finished.float().mean() > 0.5
    assert any(t.endswith("</answer>") for t in s.texts)
    # rows were dropped from the batch as they finished: the survivors' log-probs still match a full forward
    for i in range(len(s.texts)):
        comp = s.completion_ids[i, : L[i]].tolist()
        ref = full_forward_logprobs(model, tok, PROMPTS[int(s.prompt_index[i])], comp, 1.0)
        torch.testing.assert_close(s.logprobs[i, : L[i]], ref, atol=1e-4, rtol=0)
    # a multi-token stop string ("= ?" is two tokens) also ends sequences, right after its last token
    s2 = sample(model, tok, PROMPTS, 4, temperature=1.5, max_new_tokens=30, stop=(". ;", "</answer>"), seed=2)
    dot, semi = tok.convert_tokens_to_ids("."), tok.convert_tokens_to_ids(";")
    for i in range(len(s2.texts)):
        ids = s2.completion_ids[i, : int(s2.completion_mask[i].sum())].tolist()
        inner = ids[:-1]
        assert not any(inner[j] == dot and inner[j + 1] == semi for j in range(len(inner) - 1))


def test_texts_and_mask_consistent(model, tok):
    s = sample(model, tok, PROMPTS[:1], 3, temperature=1.0, max_new_tokens=6, stop=(), seed=0)
    for i, text in enumerate(s.texts):
        ids = s.completion_ids[i, : int(s.completion_mask[i].sum())].tolist()
        assert text == tok.decode(ids, skip_special_tokens=False)
    assert s.prompt_ids[0] == tok.encode(PROMPTS[0], add_special_tokens=False)
    assert not s.finished.all() or (s.completion_mask.sum(1) < 6).any()


def test_batch_composition_does_not_change_greedy(model, tok):
    a = sample(model, tok, PROMPTS, 3, temperature=0.0, max_new_tokens=8, stop=(), batch_size=2)
    b = sample(model, tok, PROMPTS, 3, temperature=0.0, max_new_tokens=8, stop=(), batch_size=64)
    assert torch.equal(a.completion_ids, b.completion_ids)
    torch.testing.assert_close(a.logprobs, b.logprobs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kw,msg", [
    (dict(n=0), "n must be"), (dict(temperature=-1.0), "temperature"), (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.5), "top_p"), (dict(max_new_tokens=0), "max_new_tokens"), (dict(batch_size=0), "batch_size"),
    (dict(stop=("",)), "stop"), (dict(max_new_tokens=10_000), "max_position_embeddings"),
])
def test_bad_arguments(model, tok, kw, msg):
    args = dict(n=1, max_new_tokens=4)
    args.update(kw)
    with pytest.raises(ValueError, match=msg):
        sample(model, tok, PROMPTS, **args)


def test_bad_prompts(model, tok):
    for bad in ([], "a string", [1, 2]):
        with pytest.raises(ValueError, match="prompts"):
            sample(model, tok, bad, 1, max_new_tokens=2)
    with pytest.raises(ValueError, match="no tokens"):
        sample(model, tok, [""], 1, max_new_tokens=2)


def test_draw_matches_softmax_distribution():
    from interplay.sampling import _draw

    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 150) * 2
    z[0, 7] = float("-inf")  # a masked token is never drawn
    idx = _draw(z.expand(40_000, 150).contiguous(), torch.rand(40_000, generator=g))
    freq = torch.bincount(idx, minlength=150).float() / idx.numel()
    p = torch.softmax(z, -1)[0]
    assert (idx == 7).sum() == 0
    assert (freq - p).abs().max() < 5 * (p.max() / 40_000) ** 0.5  # within ~5 standard errors


def test_top_k_and_top_p_restrict_support(model, tok):
    prompt = PROMPTS[0]
    for kw in (dict(top_k=3), dict(top_p=0.3)):
        s = sample(model, tok, [prompt], 16, temperature=1.0, max_new_tokens=1, stop=(), seed=0, **kw)
        logits = model(input_ids=torch.tensor([tok.encode(prompt, add_special_tokens=False)])).logits[0, -1]
        probs, order = torch.softmax(logits, -1).sort(descending=True)
        if "top_k" in kw:
            allowed = set(order[:3].tolist())
        else:  # nucleus: smallest prefix of the sorted tokens whose mass reaches p
            allowed = set(order[: int((probs.cumsum(0) < 0.3).sum()) + 1].tolist())
        assert set(s.completion_ids[:, 0].tolist()) <= allowed


def test_prompt_streams_do_not_depend_on_batching_or_call_split(model, tok):
    kw = dict(temperature=1.0, max_new_tokens=12, stop=(), seed=5)
    whole = sample(model, tok, PROMPTS, 4, batch_size=64, **kw)
    small = sample(model, tok, PROMPTS, 4, batch_size=3, **kw)
    assert torch.equal(whole.completion_ids, small.completion_ids)
    torch.testing.assert_close(whole.logprobs, small.logprobs, atol=1e-5, rtol=0)
    for i, p in enumerate(PROMPTS):  # one call per prompt, keyed by its index in the whole set
        one = sample(model, tok, [p], 4, batch_size=64, prompt_keys=[i], **kw)
        assert torch.equal(one.completion_ids, whole.completion_ids[4 * i: 4 * i + 4, : one.completion_ids.shape[1]])
    other = sample(model, tok, PROMPTS[1:], 4, batch_size=64, **kw)  # default keys are positions: prompt 1 → key 0
    assert not torch.equal(other.completion_ids[:4], whole.completion_ids[4:8, : other.completion_ids.shape[1]])
    with pytest.raises(ValueError, match="prompt_keys"):
        sample(model, tok, PROMPTS, 1, max_new_tokens=2, prompt_keys=[0])
