"""Markdown reports: one per finding (plots, claims table, departures, base-model ladder) and a summary.

`render_finding` writes `<out_dir>/report.md` plus its PNGs into `out_dir` (the finding's own report
directory, `reports/<profile>/<finding>/`); `render_summary` writes `summary.md`, one table across findings
that the README embeds. Both take a finding's resolved `claims` config and its `Verdicts`
(`interplay.claims.check_finding`, or the path of `verdicts.json`). Our pass rates and shares are shown in %; paper
values as the paper prints them.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from interplay.claims import (PASS_METRICS, Verdicts, arm_paths, arm_sources, departure_text, read_csv_rows,
                              read_verdicts, relation)
from interplay.eval.ladder import Ladder
from interplay.io import write_text
from interplay.knobs import VERDICTS
from interplay.plots import plot_ladder_curves, render_plots

VERDICT_MARK = {"holds": "✅ holds", "fails": "❌ fails", "inconclusive": "⚠️ inconclusive",
                "untestable": "🚫 untestable"}
PLOT_TITLES = {
    "passk": "pass@k vs k per band",
    "op_bars": "per-op pass@k_max",
    "rewards": "RL reward curves",
    "categories": "error categories per band",
}
LADDER_BANDS = ("id", "edge", "hard")


def _is_share(spec: Mapping) -> bool:
    m = spec.get("metric", "")
    return m in PASS_METRICS or m == "false_positive"


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
    return ", ".join(f"{summary.get(v, 0)} {v}" for v in VERDICTS)


def _pct(x: Any) -> str:
    return "—" if x is None else f"{100 * float(x):.1f}"


def ladder_table(lad: Mapping) -> list[str]:
    """Markdown rows of one base's ladder check (interplay.eval.ladder.check_ladder)."""
    md = ["| band | ops | strict | measured (%) | required (%) | ok |", "|---|---|---|---|---|---|"]
    for r in lad.get("rungs") or []:
        ops = r["ops"]
        where = (f"{ops[0]}–{ops[-1]}" if ops else "—") + (f" (worst: op {r['op']})" if r.get("op") is not None
                                                             else "")
        req = r["required"]
        for x in (r.get("lo"), r.get("hi")):
            if x is not None:
                req = req.replace(f"{x:g}", f"{100 * x:g}", 1)
        ok = "✅" if r["ok"] else "❌" if r["ok"] is False else "—"
        md.append(f"| {r['band']} | {where} | {r['stat']} | {_pct(r['value'])} ({r['problems']} problems) | {req} "
                  f"| {ok} |")
    return md


def _ladder_verdict(lad: Mapping) -> str:
    return {True: "✅ holds", False: "❌ fails", None: "⚠️ not measured"}[lad.get("holds")]


def _ladder_section(cfg: Mapping, verdicts: Mapping, out_dir: Path) -> list[str]:
    """Each base's ladder (from the verdicts, as the claims were gated) and its held-out curve."""
    ladders = dict(verdicts.get("bases") or {})
    thr = Ladder.from_dict((cfg.get("ladder") or {}).get("thresholds"))
    md = ["## Base-model ladder", "",
          f"A claim is testable only if every base model it rests on holds its ladder on the test set (strict, "
          f"k = n): ID pass@k ≥ {100 * thr.id_passk_min:g} % on every ID op; OOD-edge pass@1 in "
          f"[{100 * thr.edge_pass1_min:g}, {100 * thr.edge_pass1_max:g}] % and pass@k in "
          f"[{100 * thr.edge_passk_min:g}, {100 * thr.edge_passk_max:g}] %; OOD-hard pass@k ≤ "
          f"{100 * thr.hard_passk_max:g} % (profile `ladder:`). Otherwise its verdict is `untestable`.", ""]
    if not ladders:
        md += ["- no ladder recorded (no base-model evaluation)", ""]
    claims = verdicts.get("claims") or []
    for base, lad in ladders.items():
        on = [c["id"] for c in claims if base in (c.get("bases") or [])]
        where = f" on `{lad['testset']}`" if lad.get("testset") else ""
        ctx = f", contexts {', '.join(lad['contexts'])}" if lad.get("contexts") else ""
        md += [f"**{base}**{where}{ctx}: {_ladder_verdict(lad)}"
               + (f" (claims on it: {', '.join(f'`{i}`' for i in on)})" if on else ""), ""]
        md += ladder_table(lad) + [""]
        if lad.get("failed") and not lad.get("rungs"):
            md += [f"- {line}" for line in lad["failed"]] + [""]
    curves = {b: lad["curve"] for b, lad in ladders.items() if lad.get("curve")}
    png = plot_ladder_curves(curves, out_dir / "ladder.png") if curves else None
    if png is not None:
        md += ["### Ladder curves during pre-training (held-out set, greedy)", "", "![ladder curves](ladder.png)", ""]
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


def _load_verdicts(verdicts: Verdicts | str | Path) -> dict:
    """The verdicts as a plain dict, read through the `Verdicts` schema; {"error": ...} when unreadable."""
    try:
        return asdict(verdicts if isinstance(verdicts, Verdicts) else read_verdicts(verdicts))
    except (OSError, ValueError) as e:
        return {"claims": [], "summary": {}, "error": f"no verdicts ({type(e).__name__}: {verdicts})"}


def render_finding(cfg: Mapping, verdicts: Verdicts | str | Path, out_dir) -> Path:
    """Write `<out_dir>/report.md` (and its PNGs in `out_dir`) for a finding's resolved `claims` config and its
    verdicts (`Verdicts` or the path of `verdicts.json`); returns the report path."""
    out_dir = Path(out_dir)
    arm_dirs = arm_sources(cfg)
    name = str(cfg["finding"])
    verdicts = _load_verdicts(verdicts)
    bands = {b: list(ops) for b, ops in (cfg.get("bands") or {}).items()}
    contexts = _contexts(arm_dirs)
    # Plot the paper's three panels (ID / OOD-edge / OOD-hard) when the profile has them, not every band.
    panels = {b: bands[b] for b in LADDER_BANDS if b in bands} or bands
    plots = render_plots(arm_dirs, panels, out_dir, contexts=contexts if len(contexts) > 1 else None)

    title = cfg.get("title") or name
    prof = str(cfg.get("profile") or "")
    md = [f"# {title}", ""]
    ref = cfg.get("paper_ref")
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
        for line in ([f"{c['verdict']}: {c['reason']}"] if c.get("reason") else []) + list(c.get("notes") or []):
            notes.append(f"- `{c['id']}`: {line}")
    if notes:
        md += ["### Notes", ""] + notes + [""]

    # Each departure once, with the claims it bears on (from the verdicts, as check_finding matched them).
    md += ["## Profile departures from the paper", ""]
    lines = []
    for d in cfg.get("departures") or []:
        text = departure_text(d)
        ids = [c["id"] for c in claims if text in (c.get("departures") or [])]
        scope = "all claims" if claims and len(ids) == len(claims) else ", ".join(f"`{i}`" for i in ids) or "no claim"
        lines.append(f"- `{d['key']}`: {text.split(': ', 1)[1]} ({scope})")
    md += (lines or ["- none (paper settings)"]) + [""]

    decisions = cfg.get("decisions") or []
    if decisions:
        md += ["## Paper inconsistencies, as the spec decides them", ""]
        md += [f"- {d['issue']} → {d['decision']}" for d in decisions] + [""]

    md += _ladder_section(cfg, verdicts, out_dir)

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

    `findings`: each finding's `Verdicts` or the path of its verdicts.json; `out_path`: the file, or a directory
    to write `summary.md` into."""
    sections, profiles, totals = [], set(), {v: 0 for v in VERDICTS}
    rows, bases = [], {}
    for item in findings:
        v = _load_verdicts(item)
        if v.get("error"):
            sections.append(f"- `{item}`: missing or unreadable verdicts")
            continue
        profiles.add(v.get("profile", ""))
        for k in totals:
            totals[k] += (v.get("summary") or {}).get(k, 0)
        rows.append((v.get("finding", ""), v.get("claims") or []))
        for b, lad in (v.get("bases") or {}).items():  # one entry per (base, test set); claims from every finding
            entry = bases.setdefault((b, lad.get("testset")), {"ladder": lad, "claims": []})
            entry["claims"] += [(v.get("finding", ""), c) for c in v.get("claims") or [] if b in (c.get("bases") or [])]
    md = ["# Reproduction summary", "",
          f"Profile: {', '.join(f'`{p}`' for p in sorted(profiles) if p) or '—'}. "
          f"Claims: {_summary_line(totals)}.", "",
          "Ours in % for pass rates and shares (paper values as printed); Δ = lhs − rhs with its 95 % bootstrap "
          "interval over test problems; see each finding's report for notes and profile departures.", ""]
    table = ["| finding | claim | paper | ours | 95 % CI of Δ | verdict |", "|---|---|---|---|---|---|"]
    for finding, claims in rows:
        table += claims_table(claims, finding=finding).splitlines()[2:]
    md += table + [""]
    if bases:
        md += ["## Base models and the claims resting on them", "",
               "A claim is `untestable` when a base model it rests on (its arms' initialization, followed to the "
               "pre-training run) fails its ladder on the test set; the thresholds are the profile's `ladder:`.", ""]
        for (b, ts), e in bases.items():
            lad = e["ladder"]
            ctx = f", contexts {', '.join(lad['contexts'])}" if lad.get("contexts") else ""
            md += [f"### {b}{f' on `{ts}`' if ts else ''}{ctx}: {_ladder_verdict(lad)}", ""]
            md += ladder_table(lad) + [""]
            if lad.get("failed") and not lad.get("rungs"):
                md += [f"- {line}" for line in lad["failed"]] + [""]
            md += ["Claims on it: " + (", ".join(f"{f} `{c['id']}` ({c['verdict']})" for f, c in e["claims"])
                                       or "none"), ""]
    if sections:
        md += sections + [""]
    out_path = Path(out_path)
    if out_path.is_dir():
        out_path = out_path / "summary.md"
    write_text(out_path, "\n".join(md).rstrip() + "\n")
    return out_path
