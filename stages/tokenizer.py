"""Stage `tokenizer`: train the profile's tokenizer (word-level or BPE) on a sample of every op and context."""

from __future__ import annotations

from stages import main
from stages.generate import draw_mix


def run(cfg: dict) -> None:
    from interplay.data import training_text
    from interplay.data.tokenizers import save_tokenizer, train_tokenizer

    s = cfg["sample"]
    texts = [training_text(p.problem, p.question, p.solution)
             for p in draw_mix(s["gen"], s["mix"], s["count"], cfg["seed"], set())]
    save_tokenizer(train_tokenizer(cfg["tokenizer_kind"], texts, vocab_size=cfg["vocab_size"]), cfg["out"])


if __name__ == "__main__":
    main("tokenizer", run)
