"""`interplay` command line: one Typer app, each area registers its own commands."""

from __future__ import annotations

import typer

from interplay import calibrate
from interplay.data import cli as data_cli
from interplay.data import verify_cli
from interplay.eval import cli as eval_cli
from interplay.spec import cli as spec_cli
from interplay.train import cli_lm, cli_rl

app = typer.Typer(
    help="Reproduce 'On the Interplay of Pre-Training, Mid-Training, and RL on Reasoning Language Models'.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
data_app = typer.Typer(help="Generate, inspect and verify synthetic reasoning problems.", no_args_is_help=True)
train_app = typer.Typer(help="Pre-training, mid-training and GRPO runs from a resolved run config.",
                        no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")

data_cli.register(data_app)  # data generate | show | stats
verify_cli.register(data_app)  # data verify
cli_lm.register(train_app)  # train pretrain | midtrain
cli_rl.register(train_app, app)  # train rl ; budget
eval_cli.register(app)  # eval CHECKPOINT ; eval rescore DIR
spec_cli.register(app)  # spec validate|show ; pipeline ; findings ; reproduce ; report
calibrate.register(app)  # calibrate GRID


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
