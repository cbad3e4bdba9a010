"""Placeholder: the owning work package replaces this module."""

import typer


def register(app: typer.Typer) -> None:
    pass
