"""The captions the embedded VLM learns to write: varied sentences about a world image, as real MLLMs write them.

Real multimodal LLMs asked the synthetic-captions prompt ("To differentiate this {class} photo
from other {domain} photos, describe its primary {characteristic} characteristics ... in {words}
words.") answer in two to four capitalised sentences that open with the class name, stay roughly
on topic while leaking other attributes now and then, mention the background sometimes, hedge
sometimes and come out about as long as asked (``../shared/CALIBRATION.md`` section 3). This
module writes such captions for world images; the VLM is trained on them and writes its own at
inference (nothing here runs when it captions).

Each caption is assembled from sentences: an opening sentence naming the class (copied from the
prompt, whatever the image is) and its category (the domain's noun), then topic sentences, each
drawn from several phrasings, until the word budget is about used up. Every characteristic of the
shipped template library has its own topics; any other characteristic gets a general caption.

The phrasing follows the image, not a die. Each choice (which phrasing, which topic next, where two
sentences join, how long the caption runs, whether it hedges) is keyed to one attribute of the image
that the VLM's vision tower reads reliably (:data:`VOICE_ATTRIBUTES`: background, corner marks,
clutter, shade, style). A real MLLM's captions differ from image to image because the images
differ; a small model sampled at the paper's temperature (0.2) would otherwise collapse uniform
choices onto the likeliest one, and every caption of a class would read the same. Real captions are
not perfect, and neither are these (:data:`ERROR_RATES`, :func:`hedged`).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import replace
from typing import Callable

import numpy as np

from ..data.world import ATTRIBUTES, Attributes

#: How often a training caption misreads the image (probability per caption, drawn at random). The VLM
#: sampled at a low temperature keeps little of this random noise; its own errors come from what its
#: vision tower misreads (measured in ``benchmarks/results/caption_realism.md``).
ERROR_RATES: dict[str, float] = {
    "wrong_attribute": 0.05,  # one of shape, colour, fill or size is misread throughout the caption
}

#: Attributes the phrasing is keyed to: those the VLM's vision tower reads almost always right.
VOICE_ATTRIBUTES = ("background", "spots", "shade", "style", "clutter", "size", "position")

#: Length of a caption relative to its word budget, by the image's corner marks (real captions run a little short).
LENGTH_RATIOS = {"zero": 0.8, "one": 0.88, "two": 0.96, "three": 1.04}

#: Characteristics with topics of their own; any other word gets the general caption.
CHARACTERISTICS = ("visual", "shape", "texture", "context", "spatial", "petals", "color", "symbols")

_SHAPE_NOUNS = {
    "circle": ("circle", "disc", "round disc"), "square": ("square", "square block", "square"),
    "triangle": ("triangle", "triangle", "triangular figure"), "diamond": ("diamond", "rhombus", "diamond"),
    "cross": ("cross", "plus sign", "cross"), "star": ("star", "star", "five pointed star"),
}
_SHAPE_ADJECTIVES = {
    "circle": ("round", "circular", "rounded"), "square": ("square", "boxy", "blocky"),
    "triangle": ("triangular", "three sided", "wedge like"), "diamond": ("diamond shaped", "rhombic", "angular"),
    "cross": ("cross shaped", "plus shaped", "four armed"), "star": ("star shaped", "spiky", "five pointed"),
}
_SHAPE_GEOMETRY = {
    "circle": ("a smooth curved edge and no corners", "one continuous rounded outline",
               "an even curve all the way around"),
    "square": ("four equal straight sides and four right angles", "straight edges meeting at square corners",
               "a compact outline with equal sides"),
    "triangle": ("three straight sides rising to a single apex", "a broad base and a pointed top",
                 "three corners joined by straight edges"),
    "diamond": ("four slanted sides meeting in sharp points", "a tilted outline standing on one corner",
                "pointed tips at the top, bottom and sides"),
    "cross": ("two crossing arms of equal length", "four short arms meeting at the centre",
              "arms that stick out in four directions"),
    "star": ("five pointed tips around its centre", "five sharp points spreading outward",
             "a spiky outline with five tips"),
}
_PETALS = {
    "circle": "its round form reads as a single closed bloom without separate petals",
    "square": "its four corners look like four stiff petal tips",
    "triangle": "its three corners suggest three pointed petals",
    "diamond": "its four points spread like four narrow petals",
    "cross": "its four arms spread like four broad petals around the centre",
    "star": "its five points spread like petals around the centre",
}
_COLOURS = {
    "red": ("red", "red", "crimson"), "orange": ("orange", "orange", "amber"), "yellow": ("yellow", "yellow", "golden"),
    "green": ("green", "green", "emerald"), "blue": ("blue", "blue", "cobalt"), "purple": ("purple", "purple", "violet"),
}
_SHADES = {"pale": ("pale ", "light ", ""), "mid": ("", "bright ", ""), "deep": ("deep ", "dark ", "")}
_SPOT_COUNTS = {"one": "A single tiny mark", "two": "Two tiny marks", "three": "Three tiny marks"}
_PERIODS = {"narrow": ("narrow and closely spaced", "fine and tightly packed"),
            "wide": ("wide and loosely spaced", "broad and widely spaced")}
_SIZES = {"small": ("small", "compact", "modest"), "medium": ("medium sized", "moderately sized", "mid sized"),
          "large": ("large", "big", "sizeable")}
_SIZE_DETAIL = {"small": ("leaves much of the frame empty", "takes up only a small part of the frame"),
                "medium": ("fills about half of the frame", "takes up a fair part of the frame"),
                "large": ("fills most of the frame", "nearly reaches the edges of the frame")}
_FILLS = {"solid": ("solid", "plain", "uniform", "flat"), "striped": ("striped", "banded", "lined"),
          "dotted": ("dotted", "spotted", "speckled"), "checkered": ("checkered", "chequered", "checked")}
_FILL_NOUNS = {"solid": ("an even fill", "a single flat tone", "a plain fill"),
               "striped": ("stripes", "bands", "a striped pattern"),
               "dotted": ("dots", "spots", "a dotted pattern"),
               "checkered": ("a checker pattern", "checks", "a checkerboard pattern")}
_FILL_DETAIL = {
    "solid": ("an even single tone without any pattern", "a smooth, unbroken fill", "one flat colour with no markings"),
    "striped": ("horizontal bands of light and dark tone", "regular stripes of light and dark",
                "parallel bands running across it"),
    "dotted": ("a regular grid of small dark dots", "rows of small spots", "evenly spaced dots on a lighter tone"),
    "checkered": ("alternating light and dark squares", "a grid of small light and dark checks",
                  "a checkerboard of alternating tones"),
}
_POSITIONS = {
    "centre": ("in the centre", "in the middle", "at the centre"),
    "left": ("on the left", "toward the left side", "to the left"),
    "right": ("on the right", "toward the right side", "to the right"),
    "top": ("at the top", "near the top", "in the upper part"),
    "bottom": ("at the bottom", "near the bottom", "in the lower part"),
}
_BACKGROUNDS = {"black": ("black", "dark", "near black"), "white": ("white", "bright white", "pale"),
                "grey": ("grey", "neutral grey", "muted grey"), "teal": ("teal", "dark teal", "deep teal")}
_SCENES = ("background", "backdrop", "setting")
_STYLES = {
    "filled": ("the figure is painted in fully", "it is drawn as a flat, filled form", "the form is filled in completely"),
    "outline": ("only a thin border is drawn and the inside is empty", "it is drawn as a thin outline",
                "just its outline is drawn, leaving the inside empty"),
    "noisy": ("the whole image is covered in grainy noise", "heavy grain speckles the photo",
              "the photo is grainy and noisy"),
}
_INVENTED_DETAILS = (
    "A faint shadow falls just below it.", "A thin light border frames the whole image.",
    "A small highlight sits near its upper edge.", "A second, smaller mark is faintly visible nearby.",
    "Its edges carry a soft glow.",
)
_CLOSERS = (
    "Together these traits set it apart from other {domain}.", "This makes the {name} easy to tell apart from other {domain}.",
    "These features distinguish this {name} from the other {domain}.", "Such traits mark the {name} out among other {domain}.",
)


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[rng.integers(len(options))]


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _salt(options) -> int:
    """A stable number for a set of options (their text, or the name of the function that offers them), which
    decides the image attribute a choice between them is keyed to."""
    return zlib.crc32("|".join(o if isinstance(o, str) else o.__qualname__ for o in options).encode())


def voice(attrs: Attributes) -> dict[str, int]:
    """The index of each of the image's :data:`VOICE_ATTRIBUTES` values: what a caption's phrasing follows."""
    return {name: ATTRIBUTES[name].index(getattr(attrs, name)) for name in VOICE_ATTRIBUTES}


def hedged(attrs: Attributes) -> bool:
    """Whether a caption of the image hedges ("likely", "probably"): a pale figure on a white background, the
    hardest to make out, unless its corner marks help (one image in sixteen)."""
    return attrs.shade == "pale" and attrs.background == "white" and attrs.spots != "zero"


def category_word(domain: str | None) -> str:
    """The category noun of a domain ("glyph signs" → "sign", "critters" → "critter"; none → "figure")."""
    words = re.findall(r"[a-z]+", (domain or "").lower())
    if not words:
        return "figure"
    last = words[-1]
    return last[:-1] if last.endswith("s") and not last.endswith("ss") else last


class _Caption:
    """What one caption knows: the image's attributes as (mis)read, its subject and phrase pickers keyed to
    the image as seen (``seen``: the true attributes, which the VLM sees even when the caption misreads one)."""

    def __init__(self, attrs: Attributes, class_name: str | None, domain: str | None, seen: Attributes):
        self.a, self.voice = attrs, voice(seen)
        #: no class name (none given, or about one image in sixteen): the caption names only the category
        self.name = None if self.voice["background"] == 1 and self.voice["spots"] == 0 else class_name
        self.category = category_word(domain)
        self.domain = domain or f"{self.category}s"

    def key(self, salt: int) -> int:
        """The value index of the voice attribute that ``salt`` selects."""
        return self.voice[VOICE_ATTRIBUTES[salt % len(VOICE_ATTRIBUTES)]] + salt // len(VOICE_ATTRIBUTES)

    def pick(self, options):
        """One of ``options``, chosen by the image: the same image always gets the same phrasing."""
        return options[self.key(_salt(options)) % len(options)]

    def subject(self) -> str:
        """The sentence-opening subject: the class name (all but about one image in sixteen) and often the
        category."""
        n, c = self.name, self.category
        if n is None:
            return self.pick((f"This {c}", f"The {c} in this photo", f"The {c} shown here"))
        return self.pick((f"This {n} {c}", f"This {n}", f"The {n} {c}", f"The {n} in this photo"))

    def pronoun(self) -> str:
        return self.pick(("It", "The figure", f"The {self.category}"))

    # attribute phrases
    def shape(self) -> str:
        return self.pick(_SHAPE_NOUNS[self.a.shape])

    def shape_adj(self) -> str:
        return self.pick(_SHAPE_ADJECTIVES[self.a.shape])

    def colour(self) -> str:
        return self.pick(_SHADES[self.a.shade]) + self.pick(_COLOURS[self.a.colour])

    def size(self) -> str:
        return self.pick(_SIZES[self.a.size])

    def fill(self) -> str:
        return self.pick(_FILLS[self.a.fill])

    def fill_noun(self) -> str:
        return self.pick(_FILL_NOUNS[self.a.fill])

    def marks(self) -> str:
        """The marks of a patterned fill, plural ("stripes", "dots", "checks")."""
        return {"striped": "stripes", "dotted": "dots", "checkered": "checks"}.get(self.a.fill, "marks")

    def fill_detail(self) -> str:
        return self.pick(_FILL_DETAIL[self.a.fill])

    def geometry(self) -> str:
        return self.pick(_SHAPE_GEOMETRY[self.a.shape])

    def position(self) -> str:
        return self.pick(_POSITIONS[self.a.position])

    def background(self) -> str:
        """The background with its colour (three times in five) or without ("bare backdrop")."""
        tone = self.pick((*_BACKGROUNDS[self.a.background], "bare", "empty"))
        return f"{tone} {self.pick(_SCENES)}"

    def style(self) -> str:
        return self.pick(_STYLES[self.a.style])

    def closer(self) -> str:
        return self.pick(_CLOSERS).format(domain=self.domain, name=self.name or self.category)


def _cap(sentence: str) -> str:
    sentence = " ".join(sentence.split())
    return sentence[0].upper() + sentence[1:] + ("" if sentence.endswith(".") else ".")


Sentence = Callable[[_Caption], str]

# --- opening sentences, one set per characteristic ------------------------------------------------------------


def _open_visual(c: _Caption) -> str:
    return c.pick((
        lambda: f"{c.subject()} shows {_article(c.size())} {c.colour()} {c.shape()} {c.position()}",
        lambda: f"{c.subject()} is {_article(c.colour())} {c.shape()} with {c.fill_noun()}",
        lambda: f"{c.subject()} features {_article(c.size())}, {c.colour()} {c.shape()} with {c.fill_noun()}",
        lambda: f"{c.subject()} appears as {_article(c.fill())} {c.colour()} {c.shape()}",
        lambda: f"{c.subject()} is defined by its {c.colour()} colour and {c.shape_adj()} form",
    ))()


def _open_shape(c: _Caption) -> str:
    return c.pick((
        lambda: f"{c.subject()} has {_article(c.shape_adj())} outline with {c.pick(('smooth', 'crisp', 'clean'))} edges",
        lambda: f"{c.subject()} is {_article(c.size())} {c.shape()} with a {c.pick(('solid', 'smooth', 'crisp'))} form",
        lambda: f"{c.subject()} takes the form of {_article(c.shape())} with {c.geometry()}",
        lambda: f"{c.subject()} exhibits {_article(c.shape_adj())}, {c.pick(('smooth', 'crisp', 'solid'))} "
                f"{c.colour()} silhouette",
        lambda: f"{c.subject()} is shaped like {_article(c.shape())}, {c.pick(('smooth', 'crisp', 'flat'))} and "
                f"{c.size()}",
        lambda: f"{c.subject()} is characterized by {_article(c.shape_adj())} outline, {c.position()}",
    ))()


def _open_texture(c: _Caption) -> str:
    return c.pick((
        lambda: f"{c.subject()} has {_article(c.fill())} surface covered with {c.fill_noun()}",
        lambda: f"{c.subject()} appears to have {_article(c.fill())} texture made of {c.fill_detail()}",
        lambda: f"The surface of {c.subject()[0].lower() + c.subject()[1:]} appears {c.fill()}",
        lambda: f"{c.subject()} shows {_article(c.fill())} {c.colour()} texture with {c.fill_detail()}",
        lambda: f"{c.subject()} is marked by {c.fill_noun()} across its surface",
    ))()


def _open_context(c: _Caption) -> str:
    return c.pick((
        lambda: f"{c.subject()} sits {c.position()} against {_article(c.background())}",
        lambda: f"{c.subject()} is set on {_article(c.background())}, placed {c.position()}",
        lambda: f"{c.subject()} appears {c.position()} of the frame, over {_article(c.background())}",
    ))()


def _open_spatial(c: _Caption) -> str:
    return c.pick((
        lambda: f"{c.subject()} is placed {c.position()} of the frame",
        lambda: f"{c.subject()} sits {c.position()} and {c.pick(_SIZE_DETAIL[c.a.size])}",
        lambda: f"{c.subject()} is {_article(c.size())} form located {c.position()}",
    ))()


def _open_color(c: _Caption) -> str:
    return c.pick((
        lambda: f"{c.subject()} is mainly {c.colour()}, set against {_article(c.background())}",
        lambda: f"{c.subject()} shows a {c.colour()} tone with {c.fill_noun()}",
        lambda: f"{c.subject()} is coloured {c.colour()} over {_article(c.background())}",
    ))()


def _open_petals(c: _Caption) -> str:
    return c.pick((
        lambda: f"{c.subject()} has no real petals, but {_PETALS[c.a.shape]}",
        lambda: f"{c.subject()} shows no true petals; {_PETALS[c.a.shape]}",
        lambda: f"Instead of petals, {c.subject()[0].lower() + c.subject()[1:]} has {_article(c.shape_adj())} form, "
                f"and {_PETALS[c.a.shape]}",
    ))()


def _open_symbols(c: _Caption) -> str:
    return c.pick((
        lambda: f"{c.subject()} carries a single {c.shape_adj()} symbol, {_article(c.shape())}",
        lambda: f"{c.subject()} is marked with {_article(c.shape())} symbol drawn {c.position()}",
        lambda: f"{c.subject()} bears {_article(c.colour())} {c.shape()} as its only symbol",
    ))()


# --- topic sentences ---------------------------------------------------------------------------------------


def _t_colour_fill(c):
    return c.pick((f"{c.pronoun()} is {c.colour()} with {c.fill_noun()}",
                   f"Its {c.colour()} body is filled with {c.fill_detail()}",
                   f"The {c.colour()} tone is broken up by {c.fill_noun()}",
                   f"Its {c.colour()} colour carries {c.fill_noun()} across the whole figure",
                   f"The fill combines {c.colour()} with {c.fill_detail()}"))


def _t_background(c):
    if c.a.clutter == "cluttered":
        return c.pick((f"Small squares are scattered across the {c.background()} behind it",
                       f"The {c.background()} is cluttered with small specks",
                       f"It stands out against a busy {c.background()} of scattered squares"))
    return c.pick((f"The {c.background()} gives it strong contrast",
                   f"It stands out clearly against the {c.background()}",
                   f"Behind it lies {_article(c.background())} with nothing else in view"))


def _t_spots(c):
    if c.a.spots == "zero":
        return None
    return c.pick((f"{_SPOT_COUNTS[c.a.spots]} sit in the lower left corner" if c.a.spots != "one" else
                   "A single tiny mark sits in the lower left corner",
                   f"In the lower left corner, {_SPOT_COUNTS[c.a.spots].lower()} can be seen"))


def _t_texture_period(c):
    if c.a.fill == "solid":
        return None
    marks = c.marks()
    return c.pick((f"The {marks} are {c.pick(_PERIODS[c.a.period])}", f"Its pattern is {c.pick(_PERIODS[c.a.period])}",
                   f"The pattern looks {c.pick(_PERIODS[c.a.period])}", f"Its {marks} are {c.pick(_PERIODS[c.a.period])}"))


def _t_position(c):
    return c.pick((f"{c.pronoun()} sits {c.position()} and {c.pick(_SIZE_DETAIL[c.a.size])}",
                   f"Placed {c.position()}, it {c.pick(_SIZE_DETAIL[c.a.size])}",
                   f"It is {c.size()} and located {c.position()} of the frame"))


def _t_style(c):
    return _cap(c.style())


def _t_geometry(c):
    return c.pick((f"{c.pronoun()} has {c.geometry()}", f"Its outline shows {c.geometry()}",
                   f"The {c.shape_adj()} silhouette has {c.geometry()}", f"Its overall form has {c.geometry()}",
                   f"Looking closely, the outline has {c.geometry()}", f"Its silhouette is marked by {c.geometry()}"))


def _t_proportion(c):
    return c.pick((f"Its width and height are about the same, giving a compact {c.shape_adj()} form",
                   f"The {c.shape()} is {c.size()}, with proportions that look regular",
                   f"Against the {c.background()}, its proportions look neat and even",
                   f"The proportions of the {c.shape()} are neat and even"))


def _t_shape_compare(c):
    return c.pick((f"The {c.shape_adj()} outline is the clearest cue to what it is",
                   f"Its outline, more than anything else, identifies this {c.category}"))


def _t_symmetry(c):
    symmetric = "evenly balanced" if c.a.shape != "triangle" else "balanced from left to right"
    return c.pick((f"The form is {symmetric}, with no irregular bumps along its edges",
                   f"Its proportions look {symmetric} and regular",
                   f"The {c.shape_adj()} form looks {symmetric} and neat"))


def _t_shape_colour(c):
    return c.pick((f"The {c.colour()} figure contrasts with the {c.background()}",
                   f"Its {c.colour()} colour makes the {c.shape_adj()} outline easy to follow",
                   f"The outline stands out in {c.colour()}"))


def _t_outline_style(c):
    if c.a.style == "outline":
        return c.pick(("Only a thin border traces the outline, and the inside is left empty",
                       "The edges are drawn as a thin line with an empty interior"))
    return c.pick((f"The edges are {c.pick(('crisp', 'sharp', 'clean'))} and well defined",
                   f"The contour is clear and unbroken against the {c.pick(_SCENES)}",
                   "The contour is clear and unbroken all the way around"))


def _t_texture_detail(c):
    return c.pick((f"The surface shows {c.fill_detail()}", f"Up close, the fill appears as {c.fill_detail()}",
                   f"The texture is made of {c.fill_detail()}", f"Across the surface runs {c.fill_detail()}",
                   f"Its fill is made up of {c.fill_detail()}", f"Viewed closely, one sees {c.fill_detail()}",
                   f"Inside the outline, the fill appears to be {c.fill_detail()}"))


def _t_texture_regularity(c):
    if c.a.fill == "solid":
        return c.pick(("No repeating pattern breaks up the surface", "The fill stays the same from edge to edge",
                       "Nothing interrupts the flat colour", "Its interior is uniform and unmarked"))
    return c.pick((f"The {c.marks()} repeat at a regular, even spacing",
                   "The pattern repeats evenly, with the same spacing throughout",
                   f"Each row of {c.marks()} mirrors the next", f"The {c.marks()} follow a strict, orderly rhythm"))


def _t_texture_contrast(c):
    if c.a.fill == "solid":
        return c.pick(("The tone is even, with no light and dark variation", "There is no contrast within the fill",
                       "Its flat finish lacks any highlights or shading"))
    return c.pick(("Light and dark tones alternate, giving the surface a lively contrast",
                   "The alternation of light and dark tones is the main feature of the texture",
                   f"Bright and dim {c.marks()} trade places in a busy rhythm"))


def _t_texture_style(c):
    if c.a.style == "noisy":
        return c.pick(("The whole image appears grainy, with speckled noise over every surface",
                       "Grainy noise gives the surface a rough, speckled feel"))
    if c.a.style == "outline":
        return c.pick(("The surface is mostly empty, as only a thin border is drawn",
                       "Inside the thin border the surface appears bare"))
    return c.pick(("The paint looks smooth and even, without grain", "The surface appears smooth and cleanly painted",
                   "Its finish is clean, flat and free of speckles", "Crisp, noise free paint covers it"))


def _t_texture_colour(c):
    return c.pick((f"The pattern is rendered in {c.colour()} and a darker shade of it",
                   f"Its {c.colour()} tone alternates with darker patches",
                   f"The {c.colour()} colour gives the texture a warm contrast"))


def _t_texture_shape(c):
    return c.pick((f"The texture fills {_article(c.shape_adj())} figure", f"The pattern follows the edges of the {c.shape()}",
                   f"It covers the whole {c.shape()}"))


def _t_texture_background(c):
    return c.pick((f"The surrounding {c.pick(_SCENES)} appears smooth and even",
                   f"Nothing in the {c.pick(_SCENES)} competes with the texture",
                   f"The {c.pick(_SCENES)} around it appears plain, with no texture of its own",
                   "The texture is the only pattern in view"))


def _t_spatial_offset(c):
    centred = c.a.position == "centre"
    return c.pick(("It is centred, with equal space on every side" if centred else
                   "It is off centre, leaving more empty space on the opposite side",
                   f"The rest of the frame is empty {c.pick(_SCENES)}"))


def _t_colour_background(c):
    return c.pick((f"The {c.background()} makes the {c.colour()} stand out",
                   f"Its {c.colour()} hue contrasts with the {c.background()}"))


def _t_colour_fill_tone(c):
    return c.pick((f"Its {c.marks()} show a darker shade of {c.colour()}" if c.a.fill != "solid" else
                   f"The {c.colour()} is even, with no second shade", f"Its tone is a clear {c.colour()}"))


def _t_symbol_meaning(c):
    return c.pick((f"The {c.shape_adj()} mark reads as a simple sign with {c.geometry()}",
                   f"As a symbol it is simple, {c.shape_adj()} and easy to recognise"))


def _t_closer(c):
    return c.closer()


_TOPICS: dict[str, tuple[Sentence, tuple[Sentence, ...]]] = {
    "visual": (_open_visual, (_t_colour_fill, _t_background, _t_position, _t_style, _t_geometry, _t_closer,
                              _t_spots)),
    "shape": (_open_shape, (_t_geometry, _t_position, _t_symmetry, _t_shape_colour, _t_outline_style, _t_closer,
                            _t_proportion, _t_shape_compare, _t_geometry)),
    "texture": (_open_texture, (_t_texture_detail, _t_texture_style, _t_texture_colour, _t_texture_shape,
                                _t_texture_background, _t_closer, _t_texture_regularity, _t_texture_contrast,
                                _t_texture_period)),
    "context": (_open_context, (_t_style, _t_position, _t_background, _t_spatial_offset, _t_colour_fill, _t_closer)),
    "spatial": (_open_spatial, (_t_position, _t_spatial_offset, _t_geometry, _t_background, _t_closer)),
    "color": (_open_color, (_t_colour_background, _t_colour_fill_tone, _t_colour_fill, _t_style, _t_closer)),
    "petals": (_open_petals, (_t_geometry, _t_colour_fill, _t_symmetry, _t_position, _t_closer)),
    "symbols": (_open_symbols, (_t_symbol_meaning, _t_colour_fill, _t_position, _t_background, _t_closer, _t_spots)),
}
_GENERAL = _TOPICS["visual"]
_CLOSER_STARTS = tuple(closer.split(" {")[0].removesuffix(" this").removesuffix(" the") for closer in _CLOSERS)
#: Sentences any long caption may go on with once its own topics are used up.
_EXTRA = (_t_colour_fill, _t_background, _t_position, _t_style, _t_geometry, _t_symmetry, _t_texture_detail,
          _t_spatial_offset, _t_outline_style, _t_colour_background, _t_spots, _t_texture_period)
_JOINS = (", and ", "; ", ", while ")
#: A topic sentence joins the one before when that one is shorter than this many words (by the image's shade).
_JOIN_BELOW = {"pale": 12, "mid": 9, "deep": 14}
_HEDGE_VERB = re.compile(r"\b(is|shows|has|features|appears|exhibits|takes|carries|bears|sits|looks)\b")


def _order(n: int, c: _Caption, salt: int) -> np.ndarray:
    """An order of ``n`` topics that follows the image (its clutter, corner marks, position and size): 120
    orders."""
    return np.random.default_rng([n, salt, c.voice["clutter"], c.voice["spots"], c.voice["position"],
                                  c.voice["size"]]).permutation(n)


def _hedge(sentence: str, c: _Caption) -> str:
    """The sentence with its first verb hedged ("is" → "is likely", "shows" → "probably shows")."""
    word = c.pick(("likely", "probably"))
    return _HEDGE_VERB.sub(lambda m: f"is {word}" if m.group(1) == "is" else f"{word} {m.group(1)}", sentence, count=1)


def _t_invented(c: _Caption) -> str:
    """A detail the image does not show."""
    return c.pick(_INVENTED_DETAILS)


def _compact(c: _Caption, characteristic: str, target: int) -> str:
    """One short noun phrase of about ``target`` words (for budgets of a few words)."""
    a = c.a
    words = {
        "shape": [c.size(), c.shape_adj()],
        "texture": [c.fill(), c.pick(("textured", "patterned"))],
        "color": [c.colour(), c.fill()],
    }.get(characteristic, [c.size(), c.colour(), c.fill()])
    name = [c.name] if c.name else []
    head = [c.category if c.category != "figure" else c.shape()]
    phrase = [*words, *name, *head]
    while len(" ".join(phrase).split()) >= max(target, 3) and len(phrase) > 1:
        phrase.pop(0)
    return _cap(_article(" ".join(phrase)))


def _misread(attrs: Attributes, rng: np.random.Generator) -> Attributes:
    name = _pick(rng, ("shape", "colour", "fill", "size"))
    wrong = [v for v in ATTRIBUTES[name] if v != getattr(attrs, name)]
    return replace(attrs, **{name: _pick(rng, wrong)})


def word_count(text: str) -> int:
    """Words as a reader counts them (punctuation aside)."""
    return len(re.findall(r"[A-Za-z]+", text))


def write_caption(
    attrs: Attributes, characteristic: str, words: int | None, rng: np.random.Generator,
    class_name: str | None = None, domain: str | None = None, errors: bool = True,
) -> str:
    """A caption of a world image about ``characteristic`` in about ``words`` words (``None``: no budget asked).

    Args:
        attrs: the image's attributes.
        characteristic: what the prompt asks about; unknown words get the general caption.
        words: the prompt's word budget; the caption runs 0.76–1.0 times it (:data:`LENGTH_RATIOS`; 50 when
            ``None``).
        rng: the random generator of the misreadings (:data:`ERROR_RATES`); the image decides the rest.
        class_name: the class name the prompt gives (copied, right or wrong); ``None`` when the prompt gives none.
        domain: the prompt's domain; its noun is the category word ("glyph signs" → "sign").
        errors: make the mistakes of :data:`ERROR_RATES`.

    Returns:
        The caption: capitalised sentences ending in full stops.
    """
    seen = attrs
    if errors and rng.random() < ERROR_RATES["wrong_attribute"]:
        attrs = _misread(attrs, rng)
    c = _Caption(attrs, class_name, domain, seen)
    budget = 50 if words is None else int(words)
    target = max(2, int(round(budget * LENGTH_RATIOS[seen.spots])))
    opener, topics = _TOPICS.get(characteristic, _GENERAL)
    if target <= 9:
        return _compact(c, characteristic, target)
    # own topics first (one listed twice comes early more often), then any others for long captions
    order = list(dict.fromkeys([topics[i] for i in _order(len(topics), c, 0)]
                               + [_EXTRA[i] for i in _order(len(_EXTRA), c, 1)]))
    if seen.clutter == "cluttered" and seen.spots == "one":  # clutter read as something that is not there
        order.insert(1, _t_invented)
    first = _cap(opener(c))
    sentences = [_hedge(first, c) if hedged(seen) else first]
    total, joined = word_count(sentences[0]), False
    join = c.pick(_JOINS)
    for topic in order:
        sentence = topic(c)
        if sentence is None:  # nothing to say on this topic for this image
            continue
        sentence = _cap(sentence)
        length = word_count(sentence)
        if total >= target or abs(total + length - target) > abs(total - target):
            break
        if not joined and topic is not _t_closer and word_count(sentences[-1]) < _JOIN_BELOW[seen.shade]:
            sentences[-1] = sentences[-1][:-1] + join + sentence[0].lower() + sentence[1:]
        else:
            sentences.append(sentence)
            joined = topic is _t_closer
        total += length
    closing = [s for s in sentences if s.startswith(_CLOSER_STARTS)]  # a closing remark goes last
    return " ".join([s for s in sentences if s not in closing] + closing)
