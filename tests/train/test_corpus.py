"""Corpora: realized tokens follow the mixture, shards are consistent, deterministic, exclusions honored."""

import itertools

import numpy as np
import pytest

from interplay.data.corpus import MixComponent, build_corpus, load_shards, mixture_targets, stream_documents

from . import sample_texts

MIX = [MixComponent(ops=[2, 3], weight=0.8, context="zoo"),
       MixComponent(ops=[2], weight=0.2, context="teachers", mode_weights={"forward": 1.0})]


@pytest.fixture(scope="module")
def tok():
    from interplay.data.tokenizers import train_tokenizer

    return train_tokenizer("word", sample_texts(ops=(2, 3)))


def test_targets_follow_weights():
    t = mixture_targets(MIX, 1000)
    assert t[(2, "zoo", "forward")] == pytest.approx(200) and t[(3, "zoo", "reverse")] == pytest.approx(200)
    assert t[(2, "teachers", "forward")] == pytest.approx(200) and (2, "teachers", "reverse") not in t
    with pytest.raises(ValueError):
        mixture_targets([MixComponent(ops=[2], weight=1.0, mode_weights={"sideways": 1.0})], 10)


def test_manifest_matches_mixture(tok, tmp_path):
    budget = 12_000
    m = build_corpus(MIX, budget, tok, tmp_path / "c", seed=3, render="compact", chunk_tokens=4_000)
    tokens, starts, manifest = load_shards(tmp_path / "c")
    assert manifest == m and m["tokens"] == len(tokens) == sum(m["per_op"].values()) == sum(m["per_mode"].values())
    assert m["docs"] == len(starts) and starts[0] == 0 and np.all(np.diff(starts) > 0)
    eos = tok.eos_token_id
    assert tokens[-1] == eos and np.all(tokens[starts[1:] - 1] == eos)  # every document ends in EOS
    longest = max(c["tokens"] / max(c["docs"], 1) for c in m["cells"]) * 2
    for cell in m["cells"]:  # each cell overshoots its share by at most about one document
        assert cell["target"] <= cell["tokens"] <= cell["target"] + longest
    assert m["per_context"]["teachers"] / m["tokens"] == pytest.approx(0.2, abs=0.05)
    assert m["per_mode"]["forward"] / m["tokens"] == pytest.approx(0.6, abs=0.05)
    assert m["vocab_size"] == len(tok) and m["dtype"] == "uint16" and m["seed"] == 3


def test_deterministic_and_seeded(tok, tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        build_corpus(MIX, 4_000, tok, tmp_path / name, seed=seed, render="compact")
    a, b, c = ((tmp_path / n / "tokens.bin").read_bytes() for n in "abc")
    assert a == b and a != c
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()


def test_stream_equals_shards_and_can_run_forever(tok, tmp_path):
    build_corpus(MIX, 6_000, tok, tmp_path / "c", seed=1, render="compact", chunk_tokens=2_000)
    tokens, _, _ = load_shards(tmp_path / "c")
    streamed = list(stream_documents(MIX, tok, seed=1, render="compact", token_budget=6_000, chunk_tokens=2_000))
    assert np.array_equal(np.concatenate(streamed), tokens)
    endless = stream_documents(MIX, tok, seed=1, render="compact", token_budget=None, chunk_tokens=2_000)
    assert sum(len(d) for d in itertools.islice(endless, 400)) > 6_000


def test_exclude_ids(tok, tmp_path):
    from interplay.data.corpus import _cell_seed
    from interplay.data.generator import GenConfig, generate_many
    from interplay.data.render import training_text

    mix = [MixComponent(ops=[2], weight=1.0, mode_weights={"forward": 1.0})]
    cfg = GenConfig(op=2, mode="forward", context="zoo", render="compact")
    first = list(generate_many(cfg, _cell_seed(0, 2, "zoo", "forward"), 3))
    texts = {training_text(p.problem, p.question, p.solution) for p in first}

    def decoded(excl, out):
        build_corpus(mix, 600, tok, out, seed=0, render="compact", exclude_ids=excl)
        tokens, starts, _ = load_shards(out)
        return {tok.decode(d[:-1]) for d in np.split(np.asarray(tokens), starts[1:])}

    assert texts & decoded((), tmp_path / "a")
    assert not texts & decoded({p.id for p in first}, tmp_path / "b")


def test_bad_inputs(tok, tmp_path):
    with pytest.raises(ValueError):
        build_corpus(MIX, 0, tok, tmp_path / "x", seed=0)
    with pytest.raises(FileNotFoundError, match="missing"):
        load_shards(tmp_path / "nothing")


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_write_the_same_bytes(tok, tmp_path, workers):
    """Cells generated in worker processes give the one-process shards byte for byte (and manifest)."""
    mix = MIX + [MixComponent(ops=[4], weight=0.3, context="festival")]
    from interplay.data.corpus import _cell_seed
    from interplay.data.generator import GenConfig, generate_many

    cfg = GenConfig(op=2, mode="forward", context="zoo", render="compact", max_distractors=2)
    excl = {p.id for p in generate_many(cfg, _cell_seed(7, 2, "zoo", "forward"), 5)}  # that cell's first 5
    kw = dict(seed=7, render="compact", chunk_tokens=3_000, exclude_ids=excl, max_distractors=2)
    one = build_corpus(mix, 10_000, tok, tmp_path / "one", **kw)
    many = build_corpus(mix, 10_000, tok, tmp_path / "many", workers=workers, **kw)
    assert one == many
    for name in ("tokens.bin", "docs.npy", "manifest.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes(), name


def test_worker_error_is_raised(tok, tmp_path):
    with pytest.raises(RuntimeError, match="corpus worker"):
        build_corpus([MixComponent(ops=[2], weight=1.0, context="no-such-context")], 2_000, tok, tmp_path / "c",
                     seed=0, render="compact", workers=2)
    assert not (tmp_path / "c").exists()
