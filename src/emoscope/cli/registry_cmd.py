"""``emoscope list KIND`` and ``emoscope models``."""

from __future__ import annotations

import typer

from emoscope.errors import UserError


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_registered(kind: str = typer.Argument(..., help="detectors, backbones, fusions, "
                                                   "heads, losses, datasets or models")) -> None:
        """Print the registered names of one kind, one per line."""
        from emoscope.registry import ALL_REGISTRIES

        if kind not in ALL_REGISTRIES:
            raise UserError(f"unknown kind '{kind}'; known kinds: {', '.join(ALL_REGISTRIES)}")
        names = ALL_REGISTRIES[kind].names()
        if kind == "models":
            from emoscope.models.files.zoo import shipped_names

            names = sorted(set(names) | set(shipped_names()))
        for name in names:
            typer.echo(name)

    @app.command("models")
    def models() -> None:
        """The shipped models with their measured scores."""
        from emoscope.models.files.zoo import shipped_cards

        for card in shipped_cards():
            size = "x".join(str(s) for s in card.preprocessing.input_size[1:])
            colour = "grey" if card.grayscale else "RGB"
            if "audio" in card.extra:  # speech models: mel bands x frames of log-mel
                colour = f"log-mel at {card.extra['audio'].get('sample_rate')} Hz"
            backbone = card.architecture_kwargs.get("backbone", card.architecture)
            typer.echo(f"{card.name}  [{card.task}] {backbone}, {size} {colour}")
            typer.echo(f"  labels: {', '.join(card.label_space.labels)}")
            for key, value in card.scores.items():
                typer.echo(f"  {key}: {value}")
            speed = card.extra.get("speed_faces_per_s")
            if isinstance(speed, dict):
                typer.echo("  speed (faces/s): " + ", ".join(f"{k} {v}" for k, v in speed.items()))
