"""Accuracy of a face model on FER2013 under test-time views (flip, shifts, zooms) and their
averages; prints one line per view and per combination.

    python experiments/compare_face_tta.py [--model fer2013-lite0] [--root ../shared/data/fer2013]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from emoscope.data.augment import FaceBatchTransform
from emoscope.data.fer2013 import load_fer2013
from emoscope.models.files import zoo
from emoscope.models.model_inputs import model_channels_tensor

SHIFTS = ((3, 0), (-3, 0), (0, 3), (0, -3))


def view(x: torch.Tensor, flip: bool, zoom: float, dx: int, dy: int) -> torch.Tensor:
    size = x.shape[-1]
    if flip:
        x = torch.flip(x, dims=[3])
    if zoom != 1.0:
        grown = int(round(size * zoom))
        x = F.interpolate(x, size=(grown, grown), mode="bicubic", align_corners=False)
        offset = (grown - size) // 2
        x = x[:, :, offset:offset + size, offset:offset + size]
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3)) if dx or dy else x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fer2013-lite0")
    parser.add_argument("--root", default="../shared/data/fer2013")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    torch.set_num_threads(1)
    arrays = load_fer2013(args.root, args.split, cache_dir=".cache/datasets")
    model, card = zoo.load(args.model)
    model = model.eval().to(memory_format=torch.channels_last)
    channels, height, _ = card.preprocessing.input_size
    transform = FaceBatchTransform(height, card.preprocessing.mean, card.preprocessing.std)
    views = ([(f, 1.0, 0, 0) for f in (0, 1)] + [(f, z, 0, 0) for z in (1.1, 1.2) for f in (0, 1)]
             + [(f, 1.0, dx, dy) for f in (0, 1) for dx, dy in SHIFTS])
    probs = {}
    with torch.inference_mode():
        for v in views:
            out = []
            for start in range(0, len(arrays.labels), 512):
                batch = model_channels_tensor(arrays.images[start:start + 512], card.grayscale)
                x = transform(batch, train=False)[:, :channels]
                out.append(model(view(x, *v))["logits"].float().softmax(1))
            probs[v] = torch.cat(out).numpy()
            print(f"{100 * (probs[v].argmax(1) == arrays.labels).mean():6.2f}%  view {v}")

    def accuracy(chosen) -> float:
        return 100 * float((sum(probs[v] for v in chosen).argmax(1) == arrays.labels).mean())

    flips = views[:2]
    shifts = [v for v in views if v[2] or v[3]]
    for name, chosen in (("flip", flips), ("flip + zoom 1.1", views[:4]),
                         ("flip + zooms 1.1, 1.2", views[:6]), ("flip + shifts", flips + shifts),
                         ("all views", views)):
        print(f"{accuracy(chosen):6.2f}%  {name} ({len(chosen)} views)")


if __name__ == "__main__":
    main()
