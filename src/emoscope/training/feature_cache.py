"""Frozen-backbone feature cache for multi-stream training.

With frozen backbones and no augmentation, a stream's features depend only on the backbone
(name and weights), its input preprocessing and the person's crop. They are computed once per
stream into ``<cache_dir>/<stream>-<key>.safetensors`` and reused across epochs and across runs
(the study's trials share a backbone per stream). The key hashes the backbone name, its weights,
the stream's preprocessing and augmentation level, and every person's image and boxes, so a
change to any of them computes afresh instead of reusing stale features.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from emoscope.data.emotic.dataset import EmoticDataset
from emoscope.errors import UserError
from emoscope.models.multistream import MultiStreamModel
from emoscope.utils.files import atomic_path

log = logging.getLogger(__name__)

SERVED = "served"  # the person index behind each cached row


def _weights_digest(module: torch.nn.Module) -> str:
    digest = hashlib.sha1()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _persons_digest(dataset: EmoticDataset) -> str:
    digest = hashlib.sha1()
    for person in dataset.persons:
        face = dataset.face_box(person)
        source = person.image_path or person.image_array
        digest.update(f"{person.key}|{source}|{person.body_box}|{face}|{person.body_array}\n"
                      .encode())
    return digest.hexdigest()


def cache_key(network: MultiStreamModel, stream: str, dataset: EmoticDataset) -> str:
    """Hex key of one stream's features of ``dataset`` under ``network``'s backbone."""
    spec = dataset.specs[stream]
    description = {
        "backbone": network.backbone_names[stream],
        "weights": _weights_digest(network.backbones[stream]),
        "preprocessing": spec.to_dict(),
        "mask_body": dataset.mask_body if stream == "context" else None,
        "persons": _persons_digest(dataset),
    }
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def check_cacheable(network: MultiStreamModel, dataset: EmoticDataset) -> None:
    """Features can only be cached when nothing about them changes between epochs."""
    trainable = [s for s in network.streams
                 if any(p.requires_grad for p in network.backbones[s].parameters())]
    if trainable:
        raise UserError(f"feature cache: the {', '.join(trainable)} backbone(s) are trained; "
                        "set model.freeze_backbones=true or trainer.feature_cache=false")
    augmented = [s for s in network.streams if dataset.specs[s].augment != "none"]
    if augmented or (dataset.train and dataset.hflip):
        raise UserError(f"feature cache: augmentation changes the features every epoch "
                        f"({', '.join(augmented) or 'flip'}); set the streams' augment to none "
                        "or trainer.feature_cache=false")


def person_targets(dataset: EmoticDataset) -> dict[str, torch.Tensor]:
    """Labels and stream masks of every person, without decoding any image."""
    categories = np.stack([p.categories for p in dataset.persons]).astype(np.float32)
    vad = np.stack([p.vad for p in dataset.persons]).astype(np.float32)
    if dataset.vad_stats is not None:
        vad = dataset.vad_stats.normalise(vad)
    has_face = [float(dataset.face_box(p) is not None) for p in dataset.persons]
    mask = np.ones((len(dataset), 3), np.float32)
    mask[:, 2] = has_face
    return {"categories": torch.from_numpy(categories), "vad": torch.from_numpy(vad),
            "stream_mask": torch.from_numpy(mask),
            "index": torch.arange(len(dataset))}


@torch.no_grad()
def compute_features(network: MultiStreamModel, dataset: EmoticDataset, streams: list[str],
                     batch_size: int = 64, num_workers: int = 0) -> dict[str, torch.Tensor]:
    """(N, D) features per stream, backbones in eval mode, rows in dataset order; under
    ``SERVED`` the person each row shows (another one where an image could not be read)."""
    was_training = network.training
    network.eval()
    parts: dict[str, list[torch.Tensor]] = {s: [] for s in [*streams, SERVED]}
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    # fork_rng: iterating a DataLoader draws from the global RNG; a run that computes the
    # cache must train exactly like one that reads it (study trials are compared)
    try:
        with torch.random.fork_rng(devices=[]):
            for batch in loader:
                parts[SERVED].append(batch["index"].long())
                mask = network.stream_mask(batch)
                for stream in streams:
                    column = network.streams.index(stream)
                    parts[stream].append(
                        network.stream_features(stream, batch[stream], mask[:, column]).float())
    finally:
        network.train(was_training)
    return {s: torch.cat(chunks) for s, chunks in parts.items()}


class CachedFeatures(Dataset):
    """Items like ``EmoticDataset``'s with ``features`` {stream: (D,)} in place of images."""

    def __init__(self, features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]):
        self.features = features
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets["index"])

    def __getitem__(self, index: int) -> dict:
        item = {key: value[index] for key, value in self.targets.items()}
        item["features"] = {s: f[index] for s, f in self.features.items()}
        return item


def cached_features(network: MultiStreamModel, dataset: EmoticDataset, cache_dir: str | Path,
                    batch_size: int = 64, num_workers: int = 0) -> CachedFeatures:
    """Every stream's features of ``dataset``: read from ``cache_dir`` or computed and saved."""
    from safetensors.torch import load_file, save_file

    check_cacheable(network, dataset)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = {s: cache_dir / f"{s}-{cache_key(network, s, dataset)}.safetensors"
             for s in network.streams}
    stored = {s: load_file(str(p)) for s, p in paths.items() if p.is_file()}
    features = {s: tensors["features"] for s, tensors in stored.items()}
    served = next((t[SERVED] for t in stored.values() if SERVED in t), None)
    missing = [s for s in network.streams if s not in features]
    if missing:
        log.info("feature cache: computing %s for %d persons", ", ".join(missing), len(dataset))
        computed = compute_features(network, dataset, missing, batch_size, num_workers)
        served = computed.pop(SERVED)
        for stream, values in computed.items():
            with atomic_path(paths[stream]) as tmp:
                save_file({"features": values.contiguous(), SERVED: served}, str(tmp),
                          metadata={"backbone": network.backbone_names[stream]})
            features[stream] = values
    else:
        log.info("feature cache: reusing %s", ", ".join(str(p) for p in paths.values()))
    targets = person_targets(dataset)
    if served is not None and not torch.equal(served, targets["index"]):
        # a row computed from a stand-in person (unreadable image) keeps that person's labels
        log.warning("feature cache: %d person(s) with an unreadable image are stood in for",
                    int((served != targets["index"]).sum()))
        targets = {key: value[served] for key, value in targets.items()}
    return CachedFeatures(features, targets)
