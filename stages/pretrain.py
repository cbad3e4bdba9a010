"""Stage `pretrain` (also used by `midtrain`): build the token shards, then next-token training via `run_lm`.

The shards are rebuilt deterministically from their seed, so a resumed run (persisted `ckpt/`) sees the same
tokens.
"""

from __future__ import annotations

from stages import excluded_ids, main, resumable_ckpt, setup_torch, threads


_PARALLEL_FROM = 1_000_000  # tokens: below this the workers' start-up (~1 s each) costs more than it saves


def corpus_workers(token_budget: int, devices: int) -> int:
    """Corpus processes: every available core, as training will use them (same bytes whatever the count);
    one where the run was given one process (`devices: 1`, e.g. `interplay calibrate --jobs`) or is small."""
    if devices == 1 or token_budget < _PARALLEL_FROM:
        return 1
    from interplay.eval.evaluate import default_workers  # one process per available core, as evaluation

    return default_workers("cpu")


def run(cfg: dict) -> None:
    from interplay.data.corpus import MixComponent, build_corpus
    from interplay.data.tokenizers import load_tokenizer
    from interplay.train.run_lm import run_lm

    setup_torch()
    c, lm = cfg["corpus"], cfg["lm"]
    components = [MixComponent(ops=list(m["ops"]), weight=m["weight"], context=m["context"],
                               mode_weights=dict(m["mode_weights"])) for m in c["components"]]
    build_corpus(components, c["token_budget"], load_tokenizer(lm["tokenizer"]), lm["shards"], seed=c["seed"],
                 render=c["render"], exclude_ids=excluded_ids(c["exclude"]), max_distractors=c["max_distractors"],
                 workers=corpus_workers(c["token_budget"], int(lm.get("devices", 0))))
    resumable_ckpt(cfg)
    run_lm({**lm, "threads": threads()}, cfg["out"], resume=True)


if __name__ == "__main__":
    main("pretrain", run)
