"""Markdown reports: one per finding (plots, claims table, departures, base-model ladder) and a summary.

`render_finding` writes `<out_dir>/report.md` plus its PNGs into `out_dir` (the finding's own report
directory, `reports/<profile>/<finding>/`); `render_summary` writes `summary.md`, one table across findings
that the README embeds. Both take verdicts as written by `interplay.claims.check_finding` (a dict or the
path of `verdicts.json`). Our pass rates and shares are shown in %; paper values as the paper prints them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from interplay.claims import (PASS_METRICS, arm_paths, arm_sources, departure_items, departure_text, finding_name,
                              is_claims_config, pass_at_k_array, profile_bands, profile_name, read_csv_rows, relation)
from interplay.io import read_json, write_text
from interplay.plots import render_plots

VERDICT_MARK = {"holds": "✅ holds", "fails": "❌ fails", "inconclusive": "⚠️ inconclusive"}
PLOT_TITLES = {
    "passk": "pass@k vs k per band",
    "op_bars": "per-op pass@k_max",
    "rewards": "RL reward curves",
    "categories": "error categories per band",
}
LADDER_BANDS = ("id", "edge", "hard")


def _is_share(spec: Mapping) -> bool:
    m = spec.get("metric", "")
    return m in PASS_METRICS or m == "false_positive" or m.startswith("category:")


def _fmt(x: Any, share: bool, signed: bool = False) -> str:
    if x is None:
        return "—"
    x = 100 * float(x) if share else float(x)
    if share:
        return f"{x:+.1f}" if signed else f"{x:.1f}"
    return f"{x:+.3g}" if signed else f"{x:.3g}"


def _paper_num(x: Any, signed: bool = False) -> str:
    if x is None:
        return "—"
    return f"{float(x):+g}" if signed else f"{float(x):g}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def claim_row(c: Mapping) -> dict[str, str]:
    """Table cells of one claim result: claim, paper, ours, CI, verdict."""
    share = _is_share(c["lhs"])
    margin = float(c.get("margin") or 0.0)
    rel = c.get("relation") or relation(c["kind"], margin)
    if share:  # the threshold in % like the numbers beside it
        t = margin if c["kind"] in ("greater", "less_equal", "at_most") else -margin
        rel = f"{rel.rsplit(' ', 1)[0]} {100 * t + 0.0:g}"
    claim = f"`{c['id']}`: {c.get('text') or ''} ({c['lhs']['label']} vs {c['rhs']['label']}: {rel})"
    p = c.get("paper") or {}
    parts = []
    if p.get("lhs") is not None or p.get("rhs") is not None:
        parts.append(f"{_paper_num(p.get('lhs'))} vs {_paper_num(p.get('rhs'))}")
    if p.get("delta") is not None:
        parts.append(f"Δ {_paper_num(p['delta'], signed=True)}")
    paper = ", ".join(parts) or "—"
    if p.get("source"):
        paper += f" ({p['source']})"
    o = c.get("ours") or {}
    ours = "—" if o.get("lhs") is None else \
        f"{_fmt(o['lhs'], share)} vs {_fmt(o['rhs'], share)} (Δ {_fmt(o['diff'], share, signed=True)})"
    ci = "—" if c.get("ci") is None else f"[{_fmt(c['ci'][0], share, True)}, {_fmt(c['ci'][1], share, True)}]"
    return {"claim": claim, "paper": paper, "ours": ours, "ci": ci,
            "verdict": VERDICT_MARK.get(c["verdict"], c["verdict"])}


def claims_table(claims: Sequence[Mapping], finding: str | None = None) -> str:
    """Markdown table of claim results (with a leading finding column when `finding` is given)."""
    cols = (["finding"] if finding is not None else []) + ["claim", "paper", "ours", "95 % CI of Δ", "verdict"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for c in claims:
        r = claim_row(c)
        cells = ([finding] if finding is not None else []) + [r["claim"], r["paper"], r["ours"], r["ci"], r["verdict"]]
        lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    return "\n".join(lines)


def _summary_line(summary: Mapping) -> str:
    return ", ".join(f"{summary.get(v, 0)} {v}" for v in ("holds", "fails", "inconclusive"))


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(d, Mapping):
        return [kv for k, v in d.items() for kv in _flatten(v, f"{prefix}{k}" if not prefix else f"{prefix}.{k}")]
    return [(prefix, d)]


def _ladder_rows(ladder: Any) -> list[tuple[str, str]]:
    rows = []
    for k, v in _flatten(ladder):
        if isinstance(v, float):
            v = f"{v:.3g}"
        elif isinstance(v, (list, tuple)):
            v = ", ".join(f"{x:.3g}" if isinstance(x, float) else str(x) for x in v)
        rows.append((k or "ladder", str(v)))
    return rows


def _base_arms(finding_spec: Mapping, arm_dirs: Mapping) -> list[str]:
    """Arms that are plain pre-trained models; all arms when the spec does not say which are."""
    arms = finding_spec.get("arms") or {}
    if isinstance(arms, Mapping):
        specs = {str(k): (v or {}) for k, v in arms.items()}
    else:  # a list of run names (spec form) says nothing about kinds
        specs = {}
    bases = [a for a in arm_dirs if a in specs and (
        specs[a].get("kind") == "pretrain" if "kind" in specs[a]
        else not any(specs[a].get(s) for s in ("rl", "mid", "midtrain")))]
    return bases or list(arm_dirs)


# The ladder that must hold before RL (paper App. A.3.4, Fig. 9): ID ≈ 100 %, OOD-edge non-zero, OOD-hard ≈ 0
# at pass@k_max.
LADDER_CHECK = {"id": (">=", 0.9), "edge": (">", 0.0), "hard": ("<=", 0.05)}


def _measured_ladder(source: Any, ladder_bands: Mapping[str, Sequence[int]]) -> list[dict]:
    """Strict pass@1 / pass@k_max (k_max = n) per ladder band, from per_problem.csv."""
    paths = arm_paths(source, "eval", "per_problem.csv")
    if not paths:
        return []
    rows = [r for p in paths for r in read_csv_rows(p)]
    out = []
    for band, ops in ladder_bands.items():
        sel = [r for r in rows if int(r["op"]) in set(int(o) for o in ops)]
        if not sel:
            continue
        n = np.array([int(r["n"]) for r in sel])
        c = np.array([int(r["c_strict"]) for r in sel])
        k = int(n.min())
        out.append({"band": band, "ops": f"{min(ops)}–{max(ops)}", "problems": len(sel), "k": k,
                    "pass1": float(pass_at_k_array(n, c, 1).mean()), "passk": float(pass_at_k_array(n, c, k).mean())})
    return out


def _ladder_section(finding_spec: Mapping, arm_dirs: Mapping, bands: Mapping) -> list[str]:
    lb = finding_spec.get("ladder") if isinstance(finding_spec.get("ladder"), Mapping) else None
    ladder_bands = profile_bands({"bands": lb}) if lb else {b: bands[b] for b in LADDER_BANDS if b in bands}
    md = ["## Base-model ladder", "",
          "Before RL the base must solve ID, keep OOD-edge non-zero and OOD-hard ≈ 0 (strict pass@k_max; "
          "checked here as ID ≥ 90 %, edge > 0, hard ≤ 5 %).", ""]
    found = False
    for arm in _base_arms(finding_spec, arm_dirs):
        measured = _measured_ladder(arm_dirs[arm], ladder_bands)
        if measured:
            found = True
            md += [f"**{arm}**", "", "| band | ops | problems | strict pass@1 | strict pass@k_max | ladder |",
                   "|---|---|---|---|---|---|"]
            for m in measured:
                rule = LADDER_CHECK.get(m["band"])
                ok = "" if rule is None else "✅" if (
                    m["passk"] >= rule[1] if rule[0] == ">=" else m["passk"] > rule[1] if rule[0] == ">"
                    else m["passk"] <= rule[1]) else "❌"
                md.append(f"| {m['band']} | {m['ops']} | {m['problems']} | {100 * m['pass1']:.1f} | "
                          f"{100 * m['passk']:.1f} (k={m['k']}) | {ok} |")
            md.append("")
        for p in arm_paths(arm_dirs[arm], "eval", "metrics.json"):
            try:
                ladder = read_json(p).get("ladder")
            except (OSError, ValueError, AttributeError):
                continue
            if ladder:  # the evaluator's own ladder entry, as it wrote it
                found = True
                md += [f"**{arm}** (evaluator's `ladder` entry)", "", "| entry | value |", "|---|---|"]
                md += [f"| {_cell(k)} | {_cell(v)} |" for k, v in _ladder_rows(ladder)] + [""]
    if not found:
        md += ["- no ladder recorded (no base-model evaluation)", ""]
    return md


def _contexts(arm_dirs: Mapping) -> list[str]:
    ctx = set()
    for src in arm_dirs.values():
        for p in arm_paths(src, "eval", "per_problem.csv"):
            try:
                ctx |= {r.get("context") for r in read_csv_rows(p)}
            except (OSError, ValueError):
                pass
    ctx.discard(None)
    ctx.discard("")
    return sorted(ctx)


def _load_verdicts(verdicts: Any) -> dict:
    if isinstance(verdicts, Mapping):
        return dict(verdicts)
    try:
        return read_json(verdicts)
    except (OSError, ValueError) as e:
        return {"claims": [], "summary": {}, "error": f"no verdicts ({type(e).__name__}: {verdicts})"}


def render_finding(finding_spec: dict, verdicts, arm_dirs: dict[str, Path] | os.PathLike | str | None = None,
                   profile: dict | None = None, out_dir=None) -> Path:
    """Write `<out_dir>/report.md` (and its PNGs in `out_dir`); returns the report path.

    Two call forms: `render_finding(spec, verdicts, arm_dirs, profile, out_dir)`, or
    `render_finding(cfg, verdicts, out_dir)` with a resolved claims config (contract §6a). `verdicts` is the
    dict from `check_finding` or the path of `verdicts.json`."""
    if out_dir is None and arm_dirs is not None and not isinstance(arm_dirs, Mapping):
        arm_dirs, out_dir = None, arm_dirs
    if out_dir is None:
        raise ValueError("render_finding needs an output directory")
    if arm_dirs is None:
        arm_dirs = arm_sources(finding_spec) if is_claims_config(finding_spec) else {}
    if profile is None:
        profile = {"name": profile_name(finding_spec.get("profile")), "departures": finding_spec.get("departures") or [],
                   "bands": finding_spec.get("bands") or {}}
    out_dir = Path(out_dir)
    name = finding_name(finding_spec)
    verdicts = _load_verdicts(verdicts)
    bands = profile_bands(profile) or profile_bands({"bands": verdicts.get("bands") or {}})
    contexts = _contexts(arm_dirs)
    # Plot the paper's three panels (ID / OOD-edge / OOD-hard) when the profile has them, not every band.
    panels = {b: bands[b] for b in LADDER_BANDS if b in bands} or bands
    plots = render_plots(arm_dirs, panels, out_dir, contexts=contexts if len(contexts) > 1 else None)

    title = finding_spec.get("title") or verdicts.get("title") or name
    prof = profile_name(profile) or verdicts.get("profile", "")
    md = [f"# {title}", ""]
    ref = finding_spec.get("paper_ref") or finding_spec.get("paper_section")
    if ref:
        md += [f"Paper: {ref}.", ""]
    md += [f"Finding `{name}`, profile `{prof}`. Verdicts: {_summary_line(verdicts.get('summary') or {})}.", ""]
    if verdicts.get("error"):
        md += [f"**{verdicts['error']}**", ""]
    if bands:
        md += ["Bands: " + ", ".join(f"`{b}` = op {min(o)}–{max(o)}" for b, o in bands.items() if o) + ".", ""]

    claims = verdicts.get("claims") or []
    md += ["## Claims", "",
           "Ours in % for pass rates and shares (paper values as printed); Δ = lhs − rhs. A claim holds when the "
           "whole 95 % bootstrap interval of Δ (paired over test problems where both arms saw the same ones) "
           "satisfies its relation, fails when none of it does, and is inconclusive otherwise.", "",
           claims_table(claims), ""]
    notes = []
    for c in claims:
        for line in ([f"inconclusive: {c['reason']}"] if c.get("reason") else []) + list(c.get("notes") or []):
            notes.append(f"- `{c['id']}`: {line}")
    if notes:
        md += ["### Notes", ""] + notes + [""]

    # Each departure once, with the claims it bears on (from the verdicts, as check_finding matched them).
    md += ["## Profile departures from the paper", ""]
    lines = []
    for d in departure_items(profile):
        text = departure_text(d)
        ids = [c["id"] for c in claims if text in (c.get("departures") or [])]
        scope = "all claims" if claims and len(ids) == len(claims) else ", ".join(f"`{i}`" for i in ids) or "no claim"
        lines.append((f"- `{d['field']}`: {d['reason']}" if d["field"] else f"- {d['reason']}") + f" ({scope})")
    md += (lines or ["- none (paper settings)"]) + [""]

    decisions = finding_spec.get("decisions") or []
    if decisions:
        md += ["## Paper inconsistencies, as the spec decides them", ""]
        md += [f"- {d.get('issue', '')} → {d.get('decision', '')}" if isinstance(d, Mapping) else f"- {d}"
               for d in decisions] + [""]

    md += _ladder_section(finding_spec, arm_dirs, bands)

    md += ["## Plots", ""]
    if not plots:
        md += ["- no evaluation or RL artifacts to plot", ""]
    for key, path in plots.items():
        label = PLOT_TITLES.get(key)
        if label is None:  # per-context variant, e.g. op_bars_teachers
            base = next(b for b in ("op_bars", "passk") if key.startswith(b + "_"))
            label = f"{PLOT_TITLES[base]}, context {key[len(base) + 1:]}"
        md += [f"### {label}", "", f"![{label}]({Path(path).name})", ""]

    report = out_dir / "report.md"
    write_text(report, "\n".join(md).rstrip() + "\n")
    return report


def render_summary(findings: Iterable, out_path) -> Path:
    """Write `summary.md`: one table of every claim of every finding (the README embeds it).

    `findings`: verdicts.json paths, verdict dicts, or (claims config, verdicts) pairs; `out_path`: the
    file, or a directory to write `summary.md` into."""
    sections, profiles, totals = [], set(), {"holds": 0, "fails": 0, "inconclusive": 0}
    rows = []
    for item in findings:
        v = item[1] if isinstance(item, tuple) else item
        v = _load_verdicts(v)
        if v.get("error"):
            sections.append(f"- `{item if not isinstance(item, tuple) else finding_name(item[0])}`: "
                            "missing or unreadable verdicts")
            continue
        profiles.add(v.get("profile", ""))
        for k in totals:
            totals[k] += (v.get("summary") or {}).get(k, 0)
        rows.append((v.get("finding", ""), v.get("claims") or []))
    md = ["# Reproduction summary", "",
          f"Profile: {', '.join(f'`{p}`' for p in sorted(profiles) if p) or '—'}. "
          f"Claims: {_summary_line(totals)}.", "",
          "Ours in % for pass rates and shares (paper values as printed); Δ = lhs − rhs with its 95 % bootstrap "
          "interval over test problems; see each finding's report for notes and profile departures.", ""]
    table = ["| finding | claim | paper | ours | 95 % CI of Δ | verdict |", "|---|---|---|---|---|---|"]
    for finding, claims in rows:
        table += claims_table(claims, finding=finding).splitlines()[2:]
    md += table + [""]
    if sections:
        md += sections + [""]
    out_path = Path(out_path)
    if out_path.is_dir():
        out_path = out_path / "summary.md"
    write_text(out_path, "\n".join(md).rstrip() + "\n")
    return out_path
