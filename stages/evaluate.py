"""Stage `evaluate`: strict and answer-only pass@k of one checkpoint on one test set (all files atomic)."""

from __future__ import annotations

from interplay.io import atomic_dir
from stages import main, setup_torch


def run(cfg: dict) -> None:
    from interplay.eval.evaluate import evaluate
    from interplay.eval.ladder import Ladder

    setup_torch()
    bands = {b: [min(ops), max(ops)] for b, ops in cfg["bands"].items()}
    with atomic_dir(cfg["out"]) as tmp:
        evaluate(cfg["checkpoint"], list(cfg["testsets"].values()), **cfg["eval"], seed=cfg["seed"], out_dir=tmp,
                 bands=bands, ladder=Ladder.from_dict(cfg.get("ladder")))


if __name__ == "__main__":
    main("evaluate", run)
