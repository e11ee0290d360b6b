"""A procedural image world: attributes → RGB image, and attributes → descriptions (the CLIP corpus).

Every image is one main shape drawn from eleven attributes: seven coarse ones (shape, colour, size,
fill, position, background, style) and four fine-grained ones that web-like text rarely names and
a small image tower sees only faintly, as real fine-grained classes are (the number of small
``spots`` in the lower-left corner, the ``period`` of the fill pattern, the ``shade`` of the colour,
and ``clutter``: small distractor squares behind the shape). The world is deterministic for a seed
and fast (thousands of 32×32 images a second on one core), so the kit can pretrain its embedded
CLIP and VLM on it and build downstream tasks whose classes are rules over the attributes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Iterable, Mapping

import numpy as np

from ..errors import InvalidInputError

#: Every attribute and the values it takes.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": ("circle", "square", "triangle", "diamond", "cross", "star"),
    "colour": ("red", "orange", "yellow", "green", "blue", "purple"),
    "size": ("small", "medium", "large"),
    "fill": ("solid", "striped", "dotted", "checkered"),
    "position": ("centre", "left", "right", "top", "bottom"),
    "background": ("black", "white", "grey", "teal"),
    "style": ("filled", "outline", "noisy"),
    "spots": ("zero", "one", "two", "three"),
    "period": ("narrow", "wide"),
    "shade": ("pale", "mid", "deep"),
    "clutter": ("clean", "cluttered"),
}
#: The fine-grained attributes: seen faintly, named rarely (see ``describe``'s ``fine`` rate).
FINE_ATTRIBUTES = ("spots", "period", "shade")

_RGB = {
    "red": (220, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (235, 220, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 230),
    "purple": (150, 50, 200),
}
_BACKGROUND_RGB = {"black": (15, 15, 15), "white": (240, 240, 240), "grey": (128, 128, 128), "teal": (20, 110, 110)}
_RADIUS = {"small": 0.45, "medium": 0.6, "large": 0.75}
_OFFSET = {"centre": (0.0, 0.0), "left": (-0.25, 0.0), "right": (0.25, 0.0), "top": (0.0, -0.25), "bottom": (0.0, 0.25)}
_PERIOD = {"narrow": 0.25, "wide": 0.375}
#: A shade mixes the colour with white (pale) or black (deep) by this fraction.
_SHADE_MIX = {"pale": ("white", 0.3), "mid": ("white", 0.0), "deep": ("black", 0.3)}
_SPOTS = {"zero": 0, "one": 1, "two": 2, "three": 3}


@dataclass(frozen=True)
class Attributes:
    """The attributes of one world image (the fine-grained ones default to the plain look)."""

    shape: str
    colour: str
    size: str
    fill: str
    position: str
    background: str
    style: str
    spots: str = "zero"
    period: str = "narrow"
    shade: str = "mid"
    clutter: str = "clean"

    def __post_init__(self) -> None:
        for name, values in ATTRIBUTES.items():
            value = getattr(self, name)
            if value not in values:
                raise InvalidInputError(f"unknown {name} {value!r}; choose one of {values}")

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def sample_attributes(rng: np.random.Generator, **allowed: str | Iterable[str]) -> Attributes:
    """Draw attributes uniformly; ``allowed`` restricts an attribute to one value or a set of values."""
    unknown = set(allowed) - set(ATTRIBUTES)
    if unknown:
        raise InvalidInputError(f"unknown attribute(s) {sorted(unknown)}; known: {sorted(ATTRIBUTES)}")
    values = {}
    for name, options in ATTRIBUTES.items():
        choice = allowed.get(name, options)
        choice = (choice,) if isinstance(choice, str) else tuple(choice)
        values[name] = choice[rng.integers(len(choice))]
    return Attributes(**values)


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    return np.meshgrid(coords, coords, indexing="xy")


def _shape_mask(shape: str, x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Boolean mask of a shape of radius ``r`` centred at the origin of ``x, y``."""
    if shape == "circle":
        return x * x + y * y <= r * r
    if shape == "square":
        return np.maximum(np.abs(x), np.abs(y)) <= 0.8 * r
    if shape == "diamond":
        return np.abs(x) + np.abs(y) <= 1.05 * r
    if shape == "triangle":  # apex up
        return (y <= 0.8 * r) & (y >= -r + 1.9 * np.abs(x))
    if shape == "cross":
        arm = 0.33 * r
        return ((np.abs(x) <= arm) & (np.abs(y) <= r)) | ((np.abs(y) <= arm) & (np.abs(x) <= r))
    if shape == "star":
        angle = np.arctan2(y, x)
        radius = r * (0.7 + 0.3 * np.cos(5 * (angle + np.pi / 2)))
        return np.hypot(x, y) <= radius
    raise InvalidInputError(f"unknown shape {shape!r}")


def _fill_mask(fill: str, x: np.ndarray, y: np.ndarray, period: float) -> np.ndarray:
    """Where the shape's colour shows (True) versus a darker tone (False) for a fill pattern."""
    if fill == "solid":
        return np.ones_like(x, dtype=bool)
    u, v = (x + 1.0) / period, (y + 1.0) / period
    if fill == "striped":
        return (np.floor(v) % 2) == 0
    if fill == "checkered":
        return ((np.floor(u) + np.floor(v)) % 2) == 0
    if fill == "dotted":
        du, dv = u - np.floor(u) - 0.5, v - np.floor(v) - 0.5
        return du * du + dv * dv > 0.09
    raise InvalidInputError(f"unknown fill {fill!r}")


def _shaded(colour: np.ndarray, shade: str) -> np.ndarray:
    towards, mix = _SHADE_MIX[shade]
    return colour * (1.0 - mix) + (255.0 if towards == "white" else 0.0) * mix


def _draw_clutter(img: np.ndarray, rng: np.random.Generator) -> None:
    """Four to seven small squares of random colours scattered over the image (behind the shape)."""
    size = img.shape[0]
    side = max(2, size // 12)
    for _ in range(int(rng.integers(4, 8))):
        top, left = rng.integers(0, size - side, size=2)
        img[top:top + side, left:left + side] = rng.uniform(0, 255, size=3)


def _draw_spots(img: np.ndarray, count: int, background: str) -> None:
    """``count`` small spots in a row in the lower-left corner, in the colour that contrasts with the background."""
    size = img.shape[0]
    dot = max(1, size // 16)
    ink = 0.0 if background in ("white", "grey") else 255.0
    row = size - 2 * dot
    for k in range(count):
        col = dot + 2 * dot * k
        img[row:row + dot, col:col + dot] = ink


def render(attrs: Attributes, size: int = 32, rng: np.random.Generator | None = None) -> np.ndarray:
    """Render one image as a uint8 array ``(size, size, 3)``.

    ``rng`` adds small nuisance variation (colour jitter, sub-pixel offset, the noise of the
    ``noisy`` style, where clutter falls); without it the image is the canonical one for ``attrs``.
    """
    x, y = _grid(size)
    jitter = rng.uniform(-0.05, 0.05, size=2) if rng is not None else np.zeros(2)
    dx, dy = _OFFSET[attrs.position]
    xs, ys = x - dx - jitter[0], y - dy - jitter[1]
    r = _RADIUS[attrs.size]
    mask = _shape_mask(attrs.shape, xs, ys, r)
    if attrs.style == "outline":
        inner = _shape_mask(attrs.shape, xs, ys, r - 5.0 / size)
        mask &= ~inner
    colour = _shaded(np.array(_RGB[attrs.colour], dtype=np.float32), attrs.shade)
    if rng is not None:
        colour = np.clip(colour + rng.normal(0, 12, size=3), 0, 255)
    pattern = _fill_mask(attrs.fill, xs, ys, period=_PERIOD[attrs.period])
    shade = np.where(pattern[..., None], colour, colour * 0.5)
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = np.array(_BACKGROUND_RGB[attrs.background], dtype=np.float32)
    if attrs.clutter == "cluttered":
        _draw_clutter(img, rng if rng is not None else np.random.default_rng(1))
    img[mask] = shade[mask]
    _draw_spots(img, _SPOTS[attrs.spots], attrs.background)
    if attrs.style == "noisy":
        noise_rng = rng if rng is not None else np.random.default_rng(0)
        img += noise_rng.normal(0, 25, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def render_many(attrs: Iterable[Attributes], size: int = 32, seed: int = 0) -> np.ndarray:
    """Render a sequence of attributes into a ``(N, size, size, 3)`` uint8 array, reproducibly."""
    rng = np.random.default_rng(seed)
    images = [render(a, size=size, rng=rng) for a in attrs]
    if not images:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    return np.stack(images)


# ---------------------------------------------------------------------------------------------
# Language: attribute phrases with synonyms, for descriptions (the CLIP corpus; the VLM's captions are
# written by mmft_kit.embedded.caption_corpus).
# ---------------------------------------------------------------------------------------------

_FILL_PHRASES = {
    "solid": ("solid", "plain", "uniform"),
    "striped": ("striped", "with stripes", "banded"),
    "dotted": ("dotted", "with dots", "spotted"),
    "checkered": ("checkered", "with a checker pattern", "chequered"),
}
_STYLE_PHRASES = {
    "filled": ("drawn filled in", "fully painted", "filled in"),
    "outline": ("drawn in outline", "drawn as a thin outline", "shown only by its outline"),
    "noisy": ("in a noisy photo", "with grainy noise", "in a grainy image"),
}
_POSITION_PHRASES = {
    "centre": ("in the centre", "in the middle", "at the centre"),
    "left": ("on the left", "at the left side", "to the left"),
    "right": ("on the right", "at the right side", "to the right"),
    "top": ("at the top", "near the top", "in the upper part"),
    "bottom": ("at the bottom", "near the bottom", "in the lower part"),
}


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[rng.integers(len(options))]


_SHADE_WORDS = {"pale": "pale", "mid": "", "deep": "deep"}
_CLUTTER_PHRASES = ("among scattered specks", "on a cluttered background", "with clutter behind it")
_SPOTS_PHRASES = {"zero": ("with no marks",), "one": ("with one tiny mark",), "two": ("with two tiny marks",),
                  "three": ("with three tiny marks",)}
_SHADE_PHRASES = {"pale": ("pale",), "mid": ("plain",), "deep": ("deep",)}
_CLUTTER_PROMPTS = {"clean": ("on a clean background",), "cluttered": _CLUTTER_PHRASES}


def _fine_clauses(a: Attributes, said: Mapping[str, bool], rng: np.random.Generator) -> list[str]:
    """The clauses that name the fine-grained attributes ``said`` marks (the shade goes before the colour)."""
    clauses = []
    if said["spots"]:
        clauses.append("with no marks" if a.spots == "zero" else f"with {a.spots} tiny mark{'s' * (a.spots != 'one')}")
    if said["period"] and a.fill != "solid":
        clauses.append(f"in a {a.period} pattern")
    if said["clutter"] and a.clutter == "cluttered":
        clauses.append(_pick(rng, _CLUTTER_PHRASES))
    return clauses


def describe(attrs: Attributes, rng: np.random.Generator, keep: float = 0.75, fine: float = 0.1,
             rates: Mapping[str, float] | None = None) -> str:
    """One varied natural-language description of an image's attributes (the CLIP corpus).

    Each coarse attribute (and clutter) is mentioned with probability ``keep`` (the shape and colour
    more often), each fine-grained one (:data:`FINE_ATTRIBUTES`) with probability ``fine``, and the
    attributes ``rates`` names with their own probability, with synonyms and in varying order, as web
    alt-text does, so that the CLIP learns each attribute word on its own and the fine-grained ones
    only faintly.
    """
    a = attrs
    chance = {name: fine if name in FINE_ATTRIBUTES else keep for name in ATTRIBUTES} | dict(rates or {})
    said = {name: rng.random() < chance[name] for name in ATTRIBUTES}
    said["shape"] = said["shape"] or rng.random() < 0.5
    fill = _pick(rng, _FILL_PHRASES[a.fill])
    fill_before = said["fill"] and " " not in fill and rng.random() < 0.5
    words = [
        a.size if said["size"] else "",
        _SHADE_WORDS[a.shade] if said["shade"] and said["colour"] else "",
        a.colour if said["colour"] else "",
        fill if fill_before else "",
        a.shape if said["shape"] else "shape",
    ]
    clauses = _fine_clauses(a, said, rng)
    if said["fill"] and not fill_before:
        clauses.append(fill if " " in fill else f"{fill} inside")
    if said["position"]:
        clauses.append(_pick(rng, _POSITION_PHRASES[a.position]))
    if said["background"]:
        clauses.append(f"on a {a.background} background")
    if said["style"] and _STYLE_PHRASES[a.style][0]:
        clauses.append(_pick(rng, _STYLE_PHRASES[a.style]))
    rng.shuffle(clauses)
    opening = _pick(rng, ("a", "a photo of a", "an image of a", "this is a", "there is a"))
    text = " ".join([opening, *words, *[c for c in clauses if c]])
    return " ".join(text.split())


def attribute_prompts(attribute: str) -> Mapping[str, str]:
    """Zero-shot prompts for one attribute (value → text), used to measure what a CLIP knows."""
    templates = {
        "shape": "a photo of a {}",
        "colour": "a photo of a {} shape",
        "size": "a {} shape",
        "fill": "a {} shape",
        "position": "a shape {}",
        "background": "a shape on a {} background",
        "style": "a shape {}",
        "spots": "a shape {}",
        "period": "a shape in a {} pattern",
        "shade": "a photo of a {} shape",
        "clutter": "a shape {}",
    }
    if attribute not in templates:
        raise InvalidInputError(f"unknown attribute {attribute!r}; known: {sorted(templates)}")
    phrase = {"position": _POSITION_PHRASES, "style": _STYLE_PHRASES, "spots": _SPOTS_PHRASES,
              "shade": _SHADE_PHRASES, "clutter": _CLUTTER_PROMPTS}.get(attribute)
    values = ATTRIBUTES[attribute]
    if phrase is None:
        return {v: templates[attribute].format(v) for v in values}
    return {v: templates[attribute].format(phrase[v][0] or "drawn filled in").strip() for v in values}
