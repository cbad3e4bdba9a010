"""Stage `rl`: GRPO from a checkpoint on an RL prompt pool via `run_rl` (resumes from the persisted `ckpt/`)."""

from __future__ import annotations

from stages import main, resumable_ckpt, setup_torch, threads


def run(cfg: dict) -> None:
    from interplay.train.run_rl import run_rl

    setup_torch()
    resumable_ckpt(cfg)
    run_rl({**cfg["rl"], "threads": threads()}, cfg["out"], resume=True)


if __name__ == "__main__":
    main("rl", run)
