"""``emoscope list KIND`` and ``emoscope models``."""

from __future__ import annotations

import typer

from emoscope.errors import UserError


def load_all_components() -> None:
    """Import every module that registers components, so the registries are complete."""
    from emoscope import components  # noqa: F401


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_registered(kind: str = typer.Argument(..., help="detectors, backbones, fusions, "
                                                   "heads, losses, datasets or models")) -> None:
        """Print the registered names of one kind, one per line."""
        from emoscope.registry import ALL_REGISTRIES

        load_all_components()
        if kind not in ALL_REGISTRIES:
            raise UserError(f"unknown kind '{kind}'; known kinds: {', '.join(ALL_REGISTRIES)}")
        names = ALL_REGISTRIES[kind].names()
        if kind == "models":
            from emoscope.models.zoo import shipped_names

            names = sorted(set(names) | set(shipped_names()))
        for name in names:
            typer.echo(name)

    @app.command("models")
    def models() -> None:
        """The shipped models with their measured scores."""
        from rich.console import Console
        from rich.table import Table

        from emoscope.models.zoo import shipped_cards

        table = Table(title="shipped models")
        for column in ("name", "task", "architecture", "input", "labels", "scores"):
            table.add_column(column)
        for card in shipped_cards():
            scores = ", ".join(
                f"{k}={v}" for k, v in card.scores.items() if not isinstance(v, dict)
            )
            size = "x".join(str(s) for s in card.preprocessing.input_size[1:])
            table.add_row(card.name, card.task, card.architecture_kwargs.get("backbone",
                          card.architecture), size, str(card.label_space.num_classes), scores)
        Console().print(table)
