"""Stage `pretrain` (also used by `midtrain`): build the token shards, then next-token training via `run_lm`.

The shards are rebuilt deterministically from their seed, so a resumed run (persisted `ckpt/`) sees the same
tokens.
"""

from __future__ import annotations

from stages import excluded_ids, main, resumable_ckpt, setup_torch, threads


def run(cfg: dict) -> None:
    from interplay.data.corpus import MixComponent, build_corpus
    from interplay.data.tokenizers import load_tokenizer
    from interplay.train.run_lm import run_lm

    setup_torch()
    c, lm = cfg["corpus"], cfg["lm"]
    components = [MixComponent(ops=list(m["ops"]), weight=m["weight"], context=m["context"],
                               mode_weights=dict(m["mode_weights"])) for m in c["components"]]
    build_corpus(components, c["token_budget"], load_tokenizer(lm["tokenizer"]), lm["shards"], seed=c["seed"],
                 render=c["render"], exclude_ids=excluded_ids(c["exclude"]), max_distractors=c["max_distractors"])
    resumable_ckpt(cfg)
    run_lm({**lm, "threads": threads()}, cfg["out"], resume=True)


if __name__ == "__main__":
    main("pretrain", run)
