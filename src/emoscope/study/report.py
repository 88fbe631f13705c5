"""Study outputs: a results table per stage and overall (markdown + CSV), a plot per stage,
``summary.json``."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emoscope.study.stages import Trial
from emoscope.utils.files import atomic_path, atomic_write_json, atomic_write_text


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "stage"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return "" if value is None else str(value)


def _write_tables(rows: list[dict[str, Any]], stem: Path, title: str,
                  footer: Sequence[str] = ()) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _fmt(row.get(k)) for k in columns} for row in rows)
    atomic_write_text(stem.with_suffix(".csv"), buffer.getvalue())
    lines = [f"## {title}", "", "| " + " | ".join(columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(row.get(k)).replace("|", "/") for k in columns) + " |"
              for row in rows]
    atomic_write_text(stem.with_suffix(".md"), "\n".join([*lines, *footer]) + "\n")


def trial_rows(trials: Sequence[Trial], best: Trial, metric: str) -> list[dict[str, Any]]:
    """One row per distinct trial of a stage, the winner marked, best score first."""
    seen: dict[str, Trial] = {}
    for trial in trials:
        seen.setdefault(f"{trial.label}|{trial.key}", trial)
    extra = sorted({k for t in seen.values() for k in t.metrics if k != metric})
    rows = []
    for trial in seen.values():
        row: dict[str, Any] = {"option": trial.label, metric: trial.score(metric)}
        row.update({k: trial.metrics.get(k) for k in extra})
        row.update(status=trial.status, trial=trial.key, best="*" if trial is best else "",
                   error=trial.error)
        rows.append(row)
    rows.sort(key=lambda r: -r[metric] if not math.isnan(r[metric]) else math.inf)
    return rows


def plot_stage(rows: list[dict[str, Any]], metric: str, path: Path, title: str) -> Path:
    """Horizontal bars of the stage's metric per option; the winner in another colour."""
    from emoscope.evaluation.plots import _pyplot

    plt = _pyplot()
    scored = [r for r in rows if not math.isnan(r[metric])][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(scored), 2) + 1.2))
    labels = [r["option"] or r["trial"] for r in scored]
    values = [r[metric] for r in scored]
    colours = ["tab:orange" if r["best"] else "tab:blue" for r in scored]
    ax.barh(range(len(scored)), values, color=colours)
    ax.set_yticks(range(len(scored)), labels, fontsize=8)
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:.4f}", va="center", fontsize=8)
    ax.set_xlabel(f"{metric} (validation)")
    ax.set_title(title)
    ax.set_xlim(0, max(values + [1e-6]) * 1.2)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def write_stage(folder: Path, index: int, name: str, trials: Sequence[Trial], best: Trial,
                metric: str) -> Path:
    """``stages/<n>-<name>.{csv,md,png}``; returns the stem."""
    stem = folder / "stages" / f"{index + 1}-{_slug(name)}"
    rows = trial_rows(trials, best, metric)
    title = f"Stage {index + 1}: {name} (best: {best.label}, {metric} {best.score(metric):.4f})"
    _write_tables(rows, stem, title)
    plot_stage(rows, metric, stem.with_suffix(".png"), f"stage {index + 1}: {name}")
    return stem


def write_overall(folder: Path, cfg: Any, stages: Sequence[Any],
                  test: dict[str, Any] | None) -> Path:
    """``results.{csv,md}`` (the winner of each stage, what it carried on) + summary.json."""
    metric = cfg.metric
    rows = [{"stage": s.stage.name, "trials": len({t.key for t in s.trials}),
             "best option": s.best.label, metric: s.best.score(metric), "trial": s.best.key}
            for s in stages]
    final = stages[-1].best
    lines = ["", f"Chosen configuration: `chosen.yaml` (trial `{final.key}`), overrides on "
             f"top of the base: `{json.dumps(final.overrides)}`."]
    if test is not None:
        lines.append(f"Test split: mAP {100 * test['mAP']:.2f}" if test.get("mAP") == test.get(
            "mAP") and test.get("mAP") is not None else "Test split: mAP n/a")
        if test.get("vad_mae"):
            lines[-1] += f", VAD MAE {test['vad_mae']['mean']:.3f}"
        lines[-1] += f" ({test.get('n', 0)} persons; report in `test/`)."
    _write_tables(rows, folder / "results", f"Study {cfg.name}: best of each stage", lines)
    summary = {"name": cfg.name, "metric": metric, "mode": cfg.mode,
               "stages": [{**row, "winner_overrides": s.best.overrides}
                          for row, s in zip(rows, stages, strict=True)],
               "chosen": {"trial": final.key, "overrides": final.overrides},
               "test": test}
    atomic_write_json(folder / "summary.json", summary)
    return folder / "results.md"

