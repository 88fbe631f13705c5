"""Soak: a few thousand mixed requests (good images, broken files, refused options) through the
in-process service; its resident memory must stay flat and every answer must be the right one.

Local only (TestClient, no sockets) and bounded: 1,000 to 3,000 requests after a warm-up,
as many as about 45 seconds allow.
"""

from __future__ import annotations

import io
import os
import time

import numpy as np
import pytest
from PIL import Image

WARM_UP = 200
CHECKPOINT = 250  # requests between two memory readings
MOST = 3000  # requests after the warm-up, at most
BUDGET_S = 45.0  # ... or until this time has passed, with at least MIN_CHECKPOINTS readings
MIN_CHECKPOINTS = 4
MAX_GROWTH_MB = 40.0


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _face_jpeg(astronaut_rgb) -> bytes:
    buffer = io.BytesIO()  # the astronaut's head and shoulders, 192 x 192
    Image.fromarray(np.ascontiguousarray(astronaut_rgb[0:288, 96:384])).resize(
        (192, 192)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _requests(photo: bytes):
    """Each kind of request with the status it must get."""
    truncated = photo[: len(photo) // 2]
    noise = np.random.default_rng(0).bytes(20_000)
    return [
        ("good image", "", ("a.jpg", photo, "image/jpeg"), 200),
        ("truncated jpeg", "", ("t.jpg", truncated, "image/jpeg"), 422),
        ("random bytes", "", ("r.jpg", noise, "image/jpeg"), 415),
        ("fps=inf", "?fps=inf", ("a.jpg", photo, "image/jpeg"), 422),
        ("text named png", "", ("x.png", b"hello " * 100, "image/png"), 415),
        ("every=0", "?every=0", ("a.jpg", photo, "image/jpeg"), 422),
        ("good image, annotated", "?annotate=true", ("b.jpg", photo, "image/jpeg"), 200),
        ("empty file", "", ("e.jpg", b"", "image/jpeg"), 422),
        ("smooth=nan", "?smooth=nan", ("a.jpg", photo, "image/jpeg"), 422),
        ("fps=1e12", "?fps=1e12", ("a.jpg", photo, "image/jpeg"), 422),
    ]


def _send(client, kinds, count: int, seen: dict[str, set[int]]) -> None:
    for i in range(count):
        name, query, upload, expected = kinds[i % len(kinds)]
        response = client.post(f"/analyze{query}", files={"file": upload})
        seen.setdefault(name, set()).add(response.status_code)
        assert response.status_code == expected, (name, response.status_code, response.text)
        if expected == 200:
            assert response.json()["faces"] == 1, name


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_memory_stays_flat_over_thousands_of_mixed_requests(make_client, astronaut_rgb,
                                                            one_torch_thread):
    client = make_client(keep_results=8)
    kinds = _requests(_face_jpeg(astronaut_rgb))
    seen: dict[str, set[int]] = {}
    _send(client, kinds, WARM_UP, seen)  # caches, pools and allocator arenas fill up here
    baseline = _rss_mb()
    began = time.monotonic()
    samples = []
    while len(samples) * CHECKPOINT < MOST and (
            len(samples) < MIN_CHECKPOINTS or time.monotonic() - began < BUDGET_S):
        _send(client, kinds, CHECKPOINT, seen)
        samples.append(_rss_mb())
    elapsed, sent = time.monotonic() - began, len(samples) * CHECKPOINT
    growth = max(samples) - baseline
    trend = np.polyfit(np.arange(len(samples)), samples, 1)[0]  # MB per checkpoint
    assert growth < MAX_GROWTH_MB, f"RSS {baseline:.0f} -> {samples} MB over {sent} requests"
    assert trend < 2.0, samples  # 2 MB per 250 requests would be a leak of 8 KB each
    assert client.get("/health").json()["status"] == "ok"
    assert {name: codes for name, codes in seen.items()} == {
        name: {expected} for name, _, _, expected in kinds}
    print(f"{sent} requests in {elapsed:.1f} s; RSS {baseline:.1f} MB -> "
          f"{', '.join(f'{s:.1f}' for s in samples)} MB")
