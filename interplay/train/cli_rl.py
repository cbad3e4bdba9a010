"""Placeholder: the owning work package replaces this module."""

import typer


def register(train_app: typer.Typer, root_app: typer.Typer) -> None:
    pass
