"""Drawing for ``evaluation.review``: the predictions grid and the per-sample sheets."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.evaluation.plots import _pyplot, _save

TRUE_COLOUR, PRED_COLOUR, MISS_COLOUR = "tab:green", "tab:blue", "tab:red"


def person_view(dataset: Any, index: int) -> tuple[np.ndarray, tuple, tuple | None]:
    """The person's image and its body and face boxes in that image's pixels."""
    person = dataset.persons[index]
    image = dataset._image(person)
    sx, sy = image.shape[1] / person.width, image.shape[0] / person.height
    body = tuple(v * s for v, s in zip(person.body_box, (sx, sy, sx, sy), strict=True))
    face_box = dataset.face_box(person)
    face = None if face_box is None else tuple(
        v * s for v, s in zip(face_box, (sx, sy, sx, sy), strict=True))
    return image, body, face


def _box(ax: Any, box: tuple, colour: str, label: str) -> None:
    from matplotlib.patches import Rectangle

    x1, y1, x2, y2 = box
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour,
                           linewidth=1.5))
    ax.text(x1, y1, label, color="white", fontsize=6, va="bottom",
            bbox={"facecolor": colour, "pad": 1, "edgecolor": "none"})


def _label_text(entry: dict[str, Any]) -> str:
    true, predicted = set(entry["true"]), set(entry["predicted"])
    hits = ", ".join(sorted(true & predicted)) or "-"
    return (f"hit: {hits}\nmissed: {', '.join(sorted(true - predicted)) or '-'}\n"
            f"extra: {', '.join(sorted(predicted - true)) or '-'}")


def plot_sample_sheet(review: dict[str, Any], dataset: Any, index: int, entry: dict[str, Any],
                      path: Path) -> Path:
    """Image with boxes | predicted vs true emotions | valence-arousal plane."""
    plt = _pyplot()
    fig, (ax_img, ax_bar, ax_va) = plt.subplots(
        1, 3, figsize=(13, 5), gridspec_kw={"width_ratios": [1.3, 1.2, 1]})
    image, body, face = person_view(dataset, index)
    ax_img.imshow(image)
    _box(ax_img, body, PRED_COLOUR, "body")
    if face is not None:
        _box(ax_img, face, "tab:orange", "face")
    ax_img.axis("off")
    ax_img.set_title(entry["key"], fontsize=8)
    labels, scores = review["labels"], review["scores"][index]
    truth = review["targets"][index] > 0.5
    ys = np.arange(len(labels))
    ax_bar.barh(ys, scores, color=[TRUE_COLOUR if t else PRED_COLOUR for t in truth])
    ax_bar.scatter(review["thresholds"], ys, marker="|", color="black", s=30,
                   label="threshold (val)")
    ax_bar.set_yticks(ys, labels, fontsize=6)
    ax_bar.invert_yaxis()
    ax_bar.set_xlim(0, 1)
    ax_bar.set_xlabel("predicted probability (green: true label)", fontsize=8)
    ax_bar.legend(fontsize=6, loc="lower right")
    _va_panel(ax_va, entry)
    metrics = ", ".join(f"{k} {entry[k]:.3f}" for k in ("sample_ap", "f1", "va_error",
                                                           "confidence") if k in entry)
    fig.suptitle(f"#{entry['rank']} {metrics}\n" + _label_text(entry).replace("\n", " | "),
                 fontsize=8)
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def _va_panel(ax: Any, entry: dict[str, Any]) -> None:
    ax.set_xlim(1, 10)
    ax.set_ylim(1, 10)
    ax.axhline(5.5, color="0.85", linewidth=0.8)
    ax.axvline(5.5, color="0.85", linewidth=0.8)
    ax.set_xlabel("valence (1-10)", fontsize=8)
    ax.set_ylabel("arousal (1-10)", fontsize=8)
    ax.set_aspect("equal")
    if "va_pred" not in entry or len(entry["va_pred"]) < 2:
        ax.text(5.5, 5.5, "no valence/arousal head", ha="center", fontsize=8)
        return
    (pv, pa), outside = clip_to_plane(entry["va_pred"][:2])
    (tv, ta), _ = clip_to_plane(entry["va_true"][:2])
    ax.annotate("", (pv, pa), (tv, ta), arrowprops={"arrowstyle": "->", "color": "0.5"})
    ax.plot(tv, ta, "o", color=TRUE_COLOUR, label="true")
    if outside:  # drawn hollow on the edge, with its real value written beside it
        v, a = (float(x) for x in entry["va_pred"][:2])
        ax.plot(pv, pa, "s", markerfacecolor="none", color=PRED_COLOUR,
                label="predicted (outside 1-10)", clip_on=False)
        ax.text(5.5, 1.3, f"predicted ({v:.1f}, {a:.1f}) is outside 1-10: shown at the edge",
                ha="center", fontsize=6, color=PRED_COLOUR)
    else:
        ax.plot(pv, pa, "s", color=PRED_COLOUR, label="predicted")
    ax.legend(fontsize=7)


def clip_to_plane(point: Any, low: float = 1.0, high: float = 10.0) -> tuple[tuple, bool]:
    """``point`` (valence, arousal) clipped onto the 1-10 plane, and whether it was outside."""
    values = np.asarray(point, dtype=np.float64)[:2]
    clipped = np.clip(np.nan_to_num(values, nan=(low + high) / 2), low, high)
    return (float(clipped[0]), float(clipped[1])), bool(
        np.any(~np.isfinite(values)) or np.any(clipped != values))


def plot_grid(review: dict[str, Any], dataset: Any, picked: np.ndarray, path: Path,
              title: str) -> Path:
    """One tile per picked person: the body crop, true and predicted labels below it."""
    plt = _pyplot()
    n = max(len(picked), 1)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.9 * rows), squeeze=False)
    labels = review["labels"]
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, picked, strict=False):
        image, body, _ = person_view(dataset, int(index))
        x1, y1, x2, y2 = (int(round(v)) for v in body)
        crop = image[max(y1, 0):max(y2, y1 + 1), max(x1, 0):max(x2, x1 + 1)]
        ax.imshow(crop if crop.size else image)
        truth = {labels[c] for c in np.flatnonzero(review["targets"][index] > 0.5)}
        top = np.argsort(-review["scores"][index])[:3]
        predicted = [f"{labels[c]} {review['scores'][index][c]:.2f}" for c in top]
        ax.set_title(f"AP {review['metrics']['sample_ap'][index]:.2f}", fontsize=8)
        colour = TRUE_COLOUR if labels[top[0]] in truth else MISS_COLOUR
        ax.text(0, -0.02, "true: " + ", ".join(sorted(truth)) + "\npred: " +
                ", ".join(predicted), transform=ax.transAxes, va="top", fontsize=6,
                color=colour, wrap=True)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
