"""PNG plots for finding reports, drawn from the same artifacts the claims read.

Object-oriented matplotlib (`Figure`, Agg canvas): no pyplot global state, safe inside stages and tests.
Every plot function returns the written path, or None when no arm has the data it needs (an RL-less
finding has no reward curve). Arm sources follow `interplay.claims` (directory, seed list, or
`{"eval": ..., "rl": ...}`); with several seeds the curves show their mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from interplay.claims import arm_paths, pass_at_k_array, read_csv_rows
from interplay.knobs import CATEGORIES
from interplay.eval.passk import default_ks  # k = 1, 2, 4, ... below n, then n (as the evaluator)
from interplay.io import atomic_path
from interplay.train.curves import SUMMARY, read_metric

DPI = 110


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        # No "Software" metadata: the same data gives the same bytes (stable DVC hashes).
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return path


def _rows(source: Any, ops: Sequence[int] | None = None, context: str | None = None) -> list[list[dict]]:
    """per_problem.csv rows of an arm, one list per seed replicate, filtered by ops and context."""
    sel = None if ops is None else {int(o) for o in ops}
    out = []
    for p in arm_paths(source, "eval", "per_problem.csv"):
        rows = [r for r in read_csv_rows(p) if (sel is None or int(r["op"]) in sel)
                and (context is None or r.get("context") == context)]
        out.append(rows)
    return [r for r in out if r]


def _passk(replicates: list[list[dict]], k: int, metric: str) -> float:
    vals = [pass_at_k_array(np.array([int(r["n"]) for r in rows]), np.array([int(r[f"c_{metric}"]) for r in rows]),
                            k).mean() for rows in replicates]
    return float(np.mean(vals))


def _min_n(replicates: list[list[dict]]) -> int:
    return min(int(r["n"]) for rows in replicates for r in rows)


def _colors(n: int):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def plot_passk(arm_dirs: Mapping[str, Any], bands: Mapping[str, Sequence[int]], out_path, *, metric: str = "strict",
               ks: Sequence[int] | None = None, context: str | None = None) -> Path | None:
    """pass@k vs k (log2 axis), one panel per band, one line per arm."""
    data = {b: {a: _rows(src, ops, context) for a, src in arm_dirs.items()} for b, ops in bands.items()}
    data = {b: {a: r for a, r in arms.items() if r} for b, arms in data.items()}
    data = {b: arms for b, arms in data.items() if arms}
    if not data:
        return None
    fig = Figure(figsize=(4.2 * len(data), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(data), squeeze=False)[0])
    colors = dict(zip(arm_dirs, _colors(len(arm_dirs))))
    for ax, (band, arms) in zip(axes, data.items()):
        for arm, reps in arms.items():
            n = _min_n(reps)
            kk = [k for k in (ks or default_ks(n)) if k <= n]
            ax.plot(kk, [100 * _passk(reps, k, metric) for k in kk], marker="o", ms=3, label=arm, color=colors[arm])
        ax.set_xscale("log", base=2)
        ticks = sorted({k for line in ax.get_lines() for k in line.get_xdata()})
        ax.set_xticks(ticks, [str(int(k)) for k in ticks])
        ax.set_xlabel("k")
        ax.set_title(f"band {band} (op {min(bands[band])}-{max(bands[band])})" + (f", {context}" if context else ""))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{metric} pass@k (%)")
    axes[-1].legend(fontsize=8, loc="best")
    return _save(fig, out_path)


def plot_op_bars(arm_dirs: Mapping[str, Any], out_path, *, metric: str = "strict", k: int | None = None,
                 context: str | None = None, ops: Sequence[int] | None = None) -> Path | None:
    """pass@k_max per op, grouped bars per arm (k defaults to the smallest n any arm drew)."""
    reps = {a: _rows(src, ops, context) for a, src in arm_dirs.items()}
    reps = {a: r for a, r in reps.items() if r}
    if not reps:
        return None
    k = k or min(_min_n(r) for r in reps.values())
    all_ops = sorted({int(r["op"]) for rr in reps.values() for rows in rr for r in rows})
    fig = Figure(figsize=(max(5.0, 0.5 * len(all_ops) * max(1, len(reps)) / 2 + 2), 3.6))
    ax = fig.subplots()
    width = 0.8 / len(reps)
    colors = _colors(len(reps))
    for j, (arm, rr) in enumerate(reps.items()):
        ys = []
        for op in all_ops:
            sub = [[r for r in rows if int(r["op"]) == op] for rows in rr]
            sub = [s for s in sub if s]
            ys.append(100 * _passk(sub, k, metric) if sub and _min_n(sub) >= k else np.nan)
        ax.bar(np.arange(len(all_ops)) + (j - (len(reps) - 1) / 2) * width, ys, width, label=arm, color=colors[j])
    ax.set_xticks(np.arange(len(all_ops)), [str(o) for o in all_ops])
    ax.set_xlabel("op")
    ax.set_ylabel(f"{metric} pass@{k} (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"per-op {metric} pass@{k}" + (f", context {context}" if context else ""))
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out_path)


def plot_rewards(arm_dirs: Mapping[str, Any], out_path, *, column: str = "reward") -> Path | None:
    """RL reward (or another logged RL metric) per step, one line per arm (mean over seeds)."""
    curves = {}
    for arm, src in arm_dirs.items():
        series = []
        for p in arm_paths(src, "rl", SUMMARY):  # <run>/dvclive/metrics.json, one per seed
            rows = read_metric(p.parent.parent, column)
            if rows:
                series.append((np.array([float(s) for s, _ in rows]), np.array([v for _, v in rows])))
        if series:
            t = min(len(s[0]) for s in series)
            curves[arm] = (series[0][0][:t], np.nanmean(np.stack([s[1][:t] for s in series]), axis=0))
    if not curves:
        return None
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    for (arm, (x, y)), c in zip(curves.items(), _colors(len(curves))):
        ax.plot(x, y, label=arm, color=c, lw=1.2)
    ax.set_xlabel("RL step")
    ax.set_ylabel(f"mean {column}")
    ax.set_title(f"RL {column}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, out_path)


def category_shares(replicates: list[list[dict]]) -> dict[str, float]:
    """Share of samples in each error category (pooled over problems and seeds)."""
    tot = {c: sum(float(r.get(f"cat_{c}") or 0) for rows in replicates for r in rows) for c in CATEGORIES}
    n = sum(tot.values()) or 1.0
    return {c: v / n for c, v in tot.items()}


def plot_categories(arm_dirs: Mapping[str, Any], bands: Mapping[str, Sequence[int]], out_path, *,
                    context: str | None = None) -> Path | None:
    """Error-category shares: one panel per band, one stacked bar per arm."""
    data = {b: {a: _rows(src, ops, context) for a, src in arm_dirs.items()} for b, ops in bands.items()}
    data = {b: {a: category_shares(r) for a, r in arms.items() if r} for b, arms in data.items()}
    data = {b: arms for b, arms in data.items() if arms}
    if not data:
        return None
    fig = Figure(figsize=(max(4.0, 1.0 + 0.9 * max(len(v) for v in data.values())) * len(data), 4.0))
    axes = np.atleast_1d(fig.subplots(1, len(data), squeeze=False)[0])
    colors = dict(zip(CATEGORIES, _colors(len(CATEGORIES))))
    for ax, (band, arms) in zip(axes, data.items()):
        x = np.arange(len(arms))
        bottom = np.zeros(len(arms))
        for cat in CATEGORIES:
            h = np.array([100 * s[cat] for s in arms.values()])
            ax.bar(x, h, 0.7, bottom=bottom, label=cat.replace("_", " "), color=colors[cat])
            bottom += h
        ax.set_xticks(x, list(arms), rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_title(f"band {band}")
    axes[0].set_ylabel("share of samples (%)")
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(fig, out_path)


def render_plots(arm_dirs: Mapping[str, Any], bands: Mapping[str, Sequence[int]], out_dir, *,
                 contexts: Sequence[str] | None = None, metric: str = "strict") -> dict[str, Path]:
    """Every plot a finding report uses; returns {name: path} for the plots that had data."""
    out_dir = Path(out_dir)
    made = {
        "passk": plot_passk(arm_dirs, bands, out_dir / "passk.png", metric=metric),
        "op_bars": plot_op_bars(arm_dirs, out_dir / "op_bars.png", metric=metric),
        "rewards": plot_rewards(arm_dirs, out_dir / "rewards.png"),
        "categories": plot_categories(arm_dirs, bands, out_dir / "categories.png"),
    }
    for ctx in contexts or []:
        made[f"passk_{ctx}"] = plot_passk(arm_dirs, bands, out_dir / f"passk_{ctx}.png", metric=metric, context=ctx)
        made[f"op_bars_{ctx}"] = plot_op_bars(arm_dirs, out_dir / f"op_bars_{ctx}.png", metric=metric, context=ctx)
    return {k: v for k, v in made.items() if v is not None}


def plot_ladder_curves(curves: Mapping[str, Any], out_path) -> Path | None:
    """Held-out greedy ladder curves of pre-training (interplay.train.ladder): one row of panels per base
    (strict, answer-only, copy score vs pre-training tokens), one line per band."""
    data = {}
    for base, path in curves.items():
        p = Path(path)
        rows = read_csv_rows(p) if p.is_file() else []
        if rows:
            data[base] = rows
    if not data:
        return None
    metrics = ("strict", "answer", "copy")
    fig = Figure(figsize=(12.0, 3.2 * len(data)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(data), len(metrics), squeeze=False))
    for row, (base, rows) in zip(axes, data.items()):
        bands = list(dict.fromkeys(r["band"] for r in rows))
        for ax, metric in zip(row, metrics):
            for band, color in zip(bands, _colors(len(bands))):
                sel = [r for r in rows if r["band"] == band]
                ax.plot([float(r["tokens"]) for r in sel], [100 * float(r[metric]) for r in sel], marker="o", ms=3,
                        label=band, color=color)
            ax.set_ylim(-2, 102)
            ax.set_title(f"{base}: greedy {metric}" + (" score" if metric == "copy" else ""), fontsize=9)
            ax.set_xlabel("pre-training tokens")
            ax.grid(alpha=0.3)
        row[0].set_ylabel("% of held-out problems")
        row[-1].legend(fontsize=8)
    return _save(fig, out_path)
