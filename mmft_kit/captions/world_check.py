"""A cheap check that the embedded captioner is shown images of its own world, and a one-line warning when not.

The kit's embedded VLM learned to describe the procedural world's renders (square, :data:`WORLD_SIDE` pixels a
side) and nothing else: on a photo it still names world shapes and colours. :class:`WorldCheck` looks at the size of
the first :data:`SAMPLED` images it is shown and, for the embedded captioner only, prints one warning line the first
time an image is no world render.
"""

from __future__ import annotations

import sys
from typing import TextIO

from PIL import Image

from .base import Captioner

#: The side in pixels of the world's renders, the images the embedded captioner was trained on.
WORLD_SIDE = 32
#: How many images the check looks at (the first ones captioned).
SAMPLED = 16


def is_embedded(captioner: Captioner) -> bool:
    """Whether ``captioner`` is the kit's embedded VLM (``embedded`` or ``embedded:SIZE``)."""
    return str(captioner.settings.get("model", "")).split(":")[0] == "embedded"


def unlike_the_world(image: Image.Image) -> bool:
    """Whether ``image`` cannot be a render of the world (its size is not the renders' square size)."""
    return image.size != (WORLD_SIDE, WORLD_SIDE)


class WorldCheck:
    """Warns once, on ``out``, when the embedded ``captioner`` is shown an image that is no world render."""

    def __init__(self, captioner: Captioner, out: TextIO | None = None) -> None:
        self.active = is_embedded(captioner)
        self.out = out
        self.seen = 0

    def see(self, image: Image.Image) -> None:
        """Look at one image about to be captioned (only the first :data:`SAMPLED`)."""
        if not self.active or self.seen >= SAMPLED:
            return
        self.seen += 1
        if unlike_the_world(image):
            self.active = False
            print(f"warning: the embedded captioner knows only the kit's {WORLD_SIDE}x{WORLD_SIDE} rendered world and "
                  f"these images are not from it (e.g. {image.width}x{image.height} px), so its captions will describe "
                  "world shapes and colours, not your images: use a real captioner (--captioner openai:MODEL, "
                  "a hub id or a model folder)", file=self.out or sys.stderr)
