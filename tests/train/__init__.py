"""Shared helpers of the train-lm tests: a tokenizer and token shards built from generated problems."""

from __future__ import annotations

from pathlib import Path


def sample_texts(n: int = 200, ops=range(2, 8), render: str = "compact") -> list[str]:
    from interplay.data.generator import GenConfig, generate_many
    from interplay.data.render import training_text

    texts = []
    for op in ops:
        for mode in ("forward", "reverse"):
            for p in generate_many(GenConfig(op=op, mode=mode, render=render), 123, max(1, n // (2 * len(ops)))):
                texts.append(training_text(p.problem, p.question, p.solution))
    return texts


def make_data(root: Path, budget: int = 60_000, ops=(2, 3, 4, 5), seed: int = 0):
    """(tokenizer dir, shard dir, manifest) of a small compact-surface corpus."""
    from interplay.data.corpus import MixComponent, build_corpus
    from interplay.data.tokenizers import save_tokenizer, train_tokenizer

    tok = train_tokenizer("word", sample_texts(ops=ops), vocab_size=2200)
    save_tokenizer(tok, root / "tok")
    manifest = build_corpus([MixComponent(ops=list(ops), weight=1.0)], budget, tok, root / "shards", seed=seed,
                            render="compact")
    return root / "tok", root / "shards", manifest


def curve_files(out: Path) -> dict:
    """Every DVCLive file of the run in `out` (interplay.train.curves) by path: its text, metrics.json parsed."""
    import json

    live = out / "dvclive"
    return {p.relative_to(live).as_posix(): json.loads(p.read_text()) if p.suffix == ".json" else p.read_text()
            for p in sorted(live.rglob("*")) if p.is_file()}
