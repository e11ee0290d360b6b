"""Pretext images for the CLIP's image-tower warm start: shapes, patterns, tones and marks that no task uses.

Real CLIP towers start from features learnt on other concepts than a user's classes. Here the warm start
learns to tell apart concepts *outside* the world's attribute values (pentagons and crescents, not the
world's circles and squares; vertical, diagonal, ring and grid patterns, not its stripes, dots and checks;
other pattern periods, other tones, marks in another corner), so the skills transfer (reading a silhouette,
a pattern, its period, a tone, a count) while no task's class is ever a label.
"""

from __future__ import annotations

import numpy as np

#: Each pretext factor and its values; none of them is a value of a world attribute.
PRETEXT_FACTORS: dict[str, tuple[str, ...]] = {
    "form": ("pentagon", "hexagon", "crescent", "ring", "half-disc", "ellipse", "bar", "ell"),
    "pattern": ("vertical", "diagonal", "rings", "grid"),
    "spacing": ("fine", "middling", "coarse"),
    "tone": ("whitish", "light", "dark", "blackish"),
    "marks": ("unmarked", "single", "pair", "triple"),
}
_SPACING = {"fine": 0.18, "middling": 0.3, "coarse": 0.46}
#: Hues the world never uses (its six colours are the rainbow's): the tone is mixed into one of these.
_HUES = ((230, 110, 170), (140, 90, 50), (60, 200, 210), (160, 220, 60), (40, 40, 130), (130, 130, 40))
_TONE = {"whitish": (255.0, 0.45), "light": (255.0, 0.15), "dark": (0.0, 0.15), "blackish": (0.0, 0.45)}


def _form_mask(form: str, x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Boolean mask of ``form`` with radius ``r`` in (already rotated) coordinates ``x, y``."""
    if form in ("pentagon", "hexagon"):
        sides = 5 if form == "pentagon" else 6
        sector = np.pi / sides
        angle = np.mod(np.arctan2(y, x), 2 * sector) - sector
        return np.hypot(x, y) * np.cos(angle) <= r * np.cos(sector)
    if form == "crescent":
        return (np.hypot(x, y) <= r) & (np.hypot(x - 0.45 * r, y) > 0.8 * r)
    if form == "ring":
        d = np.hypot(x, y)
        return (d <= r) & (d >= 0.55 * r)
    if form == "half-disc":
        return (np.hypot(x, y) <= r) & (y >= 0)
    if form == "ellipse":
        return (x / r) ** 2 + (y / (0.5 * r)) ** 2 <= 1
    if form == "bar":
        return (np.abs(x) <= r) & (np.abs(y) <= 0.3 * r)
    if form == "ell":
        arm = 0.35 * r
        return ((np.abs(x + r - arm) <= arm) & (np.abs(y) <= r)) | ((np.abs(y - r + arm) <= arm) & (np.abs(x) <= r))
    raise ValueError(form)


def _pattern_mask(pattern: str, x: np.ndarray, y: np.ndarray, period: float) -> np.ndarray:
    if pattern == "vertical":
        return np.floor((x + 1) / period) % 2 == 0
    if pattern == "diagonal":
        return np.floor((x + y + 2) / (1.41 * period)) % 2 == 0
    if pattern == "rings":
        return np.floor(np.hypot(x, y) / period) % 2 == 0
    if pattern == "grid":
        u, v = (x + 1) / period % 1, (y + 1) / period % 1
        return (u > 0.3) & (v > 0.3)
    raise ValueError(pattern)


def render_pretext(values: dict[str, str], size: int, rng: np.random.Generator) -> np.ndarray:
    """One pretext image (uint8 ``(size, size, 3)``) for ``values`` (one value per :data:`PRETEXT_FACTORS`),
    with random colours, place, size, turn and (sometimes) noise."""
    coords = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    x, y = np.meshgrid(coords, coords, indexing="xy")
    x, y = x - rng.uniform(-0.25, 0.25), y - rng.uniform(-0.25, 0.25)
    turn = rng.uniform(0, 2 * np.pi)
    xr, yr = x * np.cos(turn) + y * np.sin(turn), -x * np.sin(turn) + y * np.cos(turn)
    mask = _form_mask(values["form"], xr, yr, rng.uniform(0.45, 0.75))
    towards, mix = _TONE[values["tone"]]
    colour = np.array(_HUES[rng.integers(len(_HUES))], np.float32) * (1 - mix) + towards * mix
    pattern = _pattern_mask(values["pattern"], x, y, _SPACING[values["spacing"]])
    ink = np.where(pattern[..., None], colour, colour * 0.5)
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = rng.uniform(0, 255, size=3)
    img[mask] = ink[mask]
    dot = max(1, size // 16)
    mark = 0.0 if img[0, -1].mean() > 128 else 255.0
    for k in range(PRETEXT_FACTORS["marks"].index(values["marks"])):
        col = size - 2 * dot - 2 * dot * k
        img[dot:2 * dot, col:col + dot] = mark
    if rng.random() < 0.3:
        img += rng.normal(0, 20, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def pretext_batch(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pretext images and their value index per factor, ``(n, len(PRETEXT_FACTORS))``."""
    labels = np.stack([rng.integers(len(v), size=n) for v in PRETEXT_FACTORS.values()], 1)
    images = np.stack([render_pretext({f: PRETEXT_FACTORS[f][i] for f, i in zip(PRETEXT_FACTORS, row)}, size, rng)
                       for row in labels])
    return images, labels
