"""Stage `generate`: a test set (per band x context) or an RL prompt pool, deduplicated against `exclude`.

Each (op, context, mode) draws from its own seed stream (derived from the run's seed), and every run has its own
seed, so test sets and RL pools come from disjoint streams; ids of excluded sets and repeats are skipped.
"""

from __future__ import annotations

from pathlib import Path

from interplay.io import atomic_dir, write_json
from interplay.spec.resolve import stable_seed
from stages import excluded_ids, main


def split_count(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Integer counts proportional to weights, summing to total (largest remainder)."""
    s = sum(weights.values())
    raw = {k: total * w / s for k, w in weights.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: out[k] - raw[k])[: total - sum(out.values())]:
        out[k] += 1
    return out


def draw(gen: dict, op: int, context: str, mode: str, seed: int, count: int, seen: set[str]) -> list:
    """`count` problems whose ids are not in `seen` (which is updated), from one deterministic stream."""
    from interplay.data import GenConfig, generate_many

    cfg = GenConfig(op=op, mode=mode, context=context, render=gen["render"], max_distractors=gen["max_distractors"],
                    modulus=gen["modulus"], number_range=gen["number_range"])
    got = list(generate_many(cfg, stable_seed(seed, op, context, mode), count, exclude_ids=seen))
    seen.update(p.id for p in got)
    return got


def draw_mix(gen: dict, mix: list[dict], count: int, seed: int, seen: set[str]) -> list:
    """`count` problems over mix components (by weight), their ops (uniform) and modes (by mode weight)."""
    out = []
    for i, n in split_count(count, {str(i): c["weight"] for i, c in enumerate(mix)}).items():
        c = mix[int(i)]
        for op, n_op in split_count(n, {str(op): 1.0 for op in c["ops"]}).items():
            for mode, n_mode in split_count(n_op, c["mode_weights"]).items():
                out += draw(gen, int(op), c["context"], mode, seed, n_mode, seen)
    return out


def run(cfg: dict) -> None:
    from interplay.data import write_jsonl

    seen = excluded_ids(cfg["exclude"])
    n_excluded = len(seen)
    files = []
    with atomic_dir(cfg["out"]) as tmp:
        if cfg["purpose"] in ("test", "heldout"):
            for g in cfg["groups"]:
                problems = []
                for op in g["ops"]:
                    for mode, n in split_count(g["count_per_op"], g["mode_weights"]).items():
                        problems += draw(cfg["gen"], op, g["context"], mode, cfg["seed"], n, seen)
                name = f"{g['band']}.{g['context']}.jsonl"
                write_jsonl(Path(tmp) / name, problems)
                files.append({"path": name, "band": g["band"], "context": g["context"], "ops": g["ops"],
                              "count": len(problems)})
        else:
            problems = draw_mix(cfg["gen"], cfg["mix"], cfg["count"], cfg["seed"], seen)
            write_jsonl(Path(tmp) / "prompts.jsonl", problems)
            files.append({"path": "prompts.jsonl", "mix": cfg["mix"], "count": len(problems)})
        write_json(Path(tmp) / "index.json", {"name": cfg["name"], "hash": cfg["hash"], "files": files,
                                              "problems": sum(f["count"] for f in files),
                                              "excluded_ids": n_excluded})


if __name__ == "__main__":
    main("generate", run)
