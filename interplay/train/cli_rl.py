"""`interplay train rl CONFIG [--resume]` and `interplay budget --profile NAME` (paper Eq. 1-2, Table 3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def budget_rows(profile: str | None, root: Path = Path("."), *, total_tokens: list[float] | None = None,
                rollouts: int | None = None, prompts_per_step: int | None = None, l_total: int | None = None,
                mid_tokens_per_step: int | None = None) -> tuple[list[dict], dict]:
    """Table 3 rows for a profile: `paper` → the paper's budgets and sizes; any other profile → its own
    budget and sizes (mid tokens/step, prompts/step, G, L_total = max prompt + max new tokens). Overrides win."""
    from interplay import compute

    sizes = dict(mid_tokens_per_step=compute.PAPER_MID_TOKENS_PER_STEP,
                 rl_prompts_per_step=compute.PAPER_RL_PROMPTS_PER_STEP, rollouts=compute.PAPER_ROLLOUTS,
                 l_total=compute.PAPER_L_TOTAL)
    budgets = None  # None = the paper's Table 3 budgets
    if profile is not None and profile != "paper":
        from interplay.spec.load import load_profile

        p = load_profile(profile, root)
        sizes = dict(mid_tokens_per_step=p.midtrain.tokens_per_step, rl_prompts_per_step=p.rl.prompts_per_step,
                     rollouts=p.rl.group_size, l_total=p.rl.max_prompt_tokens + p.rl.max_new_tokens)
        budgets = [float(p.budget.total_tokens)]
    for key, val in (("mid_tokens_per_step", mid_tokens_per_step), ("rl_prompts_per_step", prompts_per_step),
                     ("rollouts", rollouts), ("l_total", l_total)):
        if val is not None:
            if val <= 0:
                raise ValueError(f"{key} must be positive, got {val}")
            sizes[key] = int(val)
    if total_tokens:
        if any(t <= 0 for t in total_tokens):
            raise ValueError("--total-tokens must be positive")
        budgets = [float(t) for t in total_tokens]
    return compute.table3(budgets, **sizes), sizes


def _tokens(t: float) -> str:
    return f"{t / 1e9:.2f}B" if t >= 1e9 else f"{t / 1e6:.2f}M" if t >= 1e6 else f"{t:,.0f}"


def _render(rows: list[dict], sizes: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    betas = [s.beta for s in rows[0]["splits"]]
    caption = (f"T_RL = 5/3·N·r·L_total (γ = 1); mid tokens/step {sizes['mid_tokens_per_step']:,}, "
               f"RL {sizes['rl_prompts_per_step']:,} prompts × {sizes['rollouts']} rollouts × L_total {sizes['l_total']:,}")
    t = Table(title=title, caption=caption)
    t.add_column("T (tokens)", justify="right")
    for b in betas:
        label = {0.0: "mid only: steps", 1.0: "RL only: steps (samples k)"}.get(b, f"{1 - b:.0%}/{b:.0%} mid/RL")
        t.add_column(label, justify="right")
    for row in rows:
        cells = [_tokens(row["total_tokens"])]
        for s in row["splits"]:
            if s.beta == 0.0:
                cells.append(f"{s.mid_steps:,}")
            elif s.beta == 1.0:
                cells.append(f"{s.rl_steps:,} ({s.rl_samples / 1000:.1f})")
            else:
                cells.append(f"{s.mid_steps:,} / {s.rl_steps:,}")
        t.add_row(*cells)
    Console(width=140).print(t)


def register(train_app: typer.Typer, root_app: typer.Typer) -> None:
    @train_app.command("rl")
    def rl(config: Path = typer.Argument(..., help="RL run config YAML (schema: interplay/train/rl_config.py)"),
           out: Optional[Path] = typer.Option(None, "--out", help="output directory (default: `out` in the YAML)"),
           resume: bool = typer.Option(False, "--resume", help="continue from OUT/ckpt/last.ckpt if present")) -> None:
        """GRPO from an HF checkpoint: writes OUT/model, OUT/dvclive/ (metrics per step), OUT/metrics.json, OUT/ckpt/."""
        from omegaconf import OmegaConf

        if not config.is_file():
            _fail(f"config file {config} not found")
        try:
            raw = OmegaConf.to_container(OmegaConf.load(config))
        except Exception as e:  # noqa: BLE001 - YAML errors become one line
            _fail(f"{config}: {str(e).splitlines()[0]}")
        if not isinstance(raw, dict):
            _fail(f"{config}: expected a mapping")
        # A stage config ({out, seed, rl: {...}}) or a bare RL config (with an optional `out`).
        out_dir = out or (Path(raw["out"]) if raw.get("out") else None)
        body = raw["rl"] if isinstance(raw.get("rl"), dict) else {k: v for k, v in raw.items() if k != "out"}
        if out_dir is None:
            _fail("no output directory: pass --out or set `out` in the config")
        from interplay.train import Diverged
        from interplay.train.rl_config import load_rl_config
        from interplay.train.run_rl import run_rl

        try:
            load_rl_config(body)
        except ValueError as e:
            _fail(f"{config}: {e}")
        try:
            m = run_rl(body, out_dir, resume=resume)
        except Diverged as e:
            _fail(str(e), code=1)
        except (ValueError, FileNotFoundError, OSError) as e:
            _fail(str(e))
        typer.echo(f"rl done: {m['steps']} steps, reward {m['reward_first']} -> {m['reward_last']}, "
                   f"{m['token_equivalents']:.3g} token-equivalents -> {out_dir}/model")

    @root_app.command("budget")
    def budget(profile: str = typer.Option("paper", "--profile", help="profile in specs/profiles (paper = Table 3)"),
               total_tokens: Optional[List[float]] = typer.Option(None, "--total-tokens",
                                                                  help="budget T in token-equivalents (repeatable)"),
               rollouts: Optional[int] = typer.Option(None, "--rollouts", help="G, samples per prompt"),
               prompts_per_step: Optional[int] = typer.Option(None, "--prompts-per-step", help="RL prompts per step"),
               l_total: Optional[int] = typer.Option(None, "--l-total", help="prompt + completion tokens per sample"),
               mid_tokens_per_step: Optional[int] = typer.Option(None, "--mid-tokens-per-step",
                                                                 help="mid-training tokens per optimizer step"),
               as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table")) -> None:
        """Split a compute budget between mid-training and GRPO (paper Eq. 1-2); `--profile paper` is Table 3."""
        try:
            rows, sizes = budget_rows(profile, total_tokens=total_tokens, rollouts=rollouts,
                                      prompts_per_step=prompts_per_step, l_total=l_total,
                                      mid_tokens_per_step=mid_tokens_per_step)
        except ImportError:
            _fail("profiles need interplay.spec (not installed in this tree)")
        except Exception as e:  # noqa: BLE001 - SpecError / ValueError: one line, no traceback
            _fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
        if as_json:
            typer.echo(json.dumps({"sizes": sizes, "rows": [
                {"total_tokens": r["total_tokens"],
                 "splits": [{"beta": s.beta, "mid_steps": s.mid_steps, "rl_steps": s.rl_steps,
                             "rl_samples": s.rl_samples} for s in r["splits"]]} for r in rows]}, indent=1))
        else:
            _render(rows, sizes, f"Compute-matched budgets, profile {profile} (paper Table 3 for `paper`)")
