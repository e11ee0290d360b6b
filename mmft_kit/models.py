"""Loading models by name: CLIP models (open_clip names with pretrained tags or checkpoints, local folders,
the embedded CLIP) and captioners (the embedded VLM, transformers models, served models, the label text)."""

from __future__ import annotations

import difflib
from pathlib import Path

import torch

from .captions import make_captioner
from .errors import ModelNotAvailableError
from .runtime import hub_reachable, limit_hub_timeouts, resolve_device

EMBEDDED = "embedded"
#: What a CLIP name may be, as error messages say it.
CLIP_CHOICES = "an open_clip model folder, an open_clip model name, or 'embedded' for the kit's own CLIP"
_LOCAL_ALTERNATIVES = (
    "Offline alternatives: a checkpoint file as pretrained=PATH, an open_clip folder as 'local-dir:FOLDER' "
    "(open_clip_config.json + weights), or 'embedded' for the kit's own CLIP."
)


def embedded_size(name: str) -> str | None:
    """The size an embedded-model name asks for (``"embedded"`` → ``"default"``, ``"embedded:ci"`` → ``"ci"``),
    or None when ``name`` is no embedded name. The one place ``embedded[:SIZE]`` is parsed."""
    if name != EMBEDDED and not name.startswith(EMBEDDED + ":"):
        return None
    return name.partition(":")[2] or "default"


def model_hash(kind: str, name: str) -> str:
    """The recipe hash of the model ``name`` loads: for ``embedded[:SIZE]`` the hash of the code's recipe (what
    the zoo finds or builds; nothing is built here), for a folder its build report's, else ``"(not embedded)"``."""
    from .zoo import recipe_hash, shipped_hash

    size = embedded_size(name)
    if size is not None:
        return recipe_hash(kind, size)
    return shipped_hash(Path(name.removeprefix("local-dir:")).expanduser()) or "(not embedded)"


def missing_folder(name: str) -> Path | None:
    """The folder ``name`` names when it reads as one (``local-dir:FOLDER``, or a path starting with ``/``, ``.``
    or ``~``) and no such folder exists; else None."""
    text = name.removeprefix("local-dir:")
    if name == text and not text.startswith(("/", ".", "~")):
        return None
    folder = Path(text).expanduser()
    return None if folder.is_dir() else folder


def no_such_folder(folder: Path, what: str) -> ModelNotAvailableError:
    """The error for a model folder that is not there."""
    return ModelNotAvailableError(f"no such folder: {folder} (give {what})")


def resolve_clip_name(name: str) -> str:
    """Map the kit's names to an open_clip model name.

    ``"embedded"`` / ``"embedded:ci"`` → the cached embedded CLIP folder (built on first use);
    a folder holding ``open_clip_config.json`` → ``"local-dir:FOLDER"``; anything else unchanged.
    """
    size = embedded_size(name)
    if size is not None:
        from .zoo import ensure_clip

        return "local-dir:" + str(ensure_clip(size))
    if Path(name).is_dir():  # checked by check_clip_name
        return "local-dir:" + str(Path(name).resolve())
    return name


def _check_embedded(name: str, kind: str) -> bool:
    """True if ``name`` is ``embedded`` / ``embedded:SIZE`` with a known size; False if it is no embedded name."""
    size = embedded_size(name)
    if size is None:
        return False
    if kind == "clip":
        from .embedded.clip import CLIP_RECIPES as recipes
    else:
        from .embedded.vlm import VLM_RECIPES as recipes
    if size not in recipes:
        raise ModelNotAvailableError(
            f"unknown embedded {kind} size {size!r} in {name!r}; choose one of "
            + ", ".join(repr(EMBEDDED if s == "default" else f"{EMBEDDED}:{s}") for s in recipes))
    return True


def check_clip_name(name: str, pretrained: str | None = None) -> None:
    """Raise ModelNotAvailableError unless ``name`` (with ``pretrained``) names a CLIP :func:`load_clip` takes:
    ``embedded[:SIZE]``, an open_clip folder, ``local-dir:``, ``hf-hub:``, or an open_clip model name with a
    tag or checkpoint file as ``pretrained``. Builds, loads and downloads nothing."""
    import open_clip

    if (missing := missing_folder(name)) is not None:
        raise no_such_folder(missing, CLIP_CHOICES)
    folder = Path(name.removeprefix("local-dir:")).expanduser()
    if _check_embedded(name, "clip") or name.startswith(("hf-hub:", "local-dir:")) or folder.is_dir():
        if pretrained is not None and not Path(pretrained).expanduser().is_file():
            raise ModelNotAvailableError(f"pretrained={pretrained!r} applies to open_clip model names (or is a "
                                         f"checkpoint file), not to {name!r}")
        if not name.startswith((EMBEDDED, "hf-hub:")) and not (folder / "open_clip_config.json").is_file():
            raise ModelNotAvailableError(
                f"folder {str(folder)!r} has no open_clip_config.json, so it is not an open_clip model folder. "
                "Save one with open_clip_config.json (a 'model_cfg' key) beside the weights.")
        return
    known = open_clip.list_models()
    if name.replace("/", "-") not in known:
        if "/" in name:  # a relative path, or a mistyped name
            raise no_such_folder(Path(name), f"{CLIP_CHOICES}; nor is {name!r} an open_clip model name")
        close = difflib.get_close_matches(name, known, n=4)
        raise ModelNotAvailableError(
            f"unknown CLIP model {name!r}" + (f"; did you mean {close}?" if close else "")
            + f" (see open_clip.list_models()). {_LOCAL_ALTERNATIVES}")
    if pretrained is not None and not Path(pretrained).expanduser().is_file():
        tags = open_clip.list_pretrained_tags_by_model(name)
        if pretrained not in tags:
            raise ModelNotAvailableError(f"{pretrained!r} is neither a pretrained tag of {name} (tags: {tags}) nor "
                                         f"an existing checkpoint file. {_LOCAL_ALTERNATIVES}")


def check_captioner_name(name: str) -> None:
    """Raise ModelNotAvailableError unless ``name`` names a captioner :func:`load_captioner` takes: ``label``,
    ``embedded[:SIZE]``, ``openai:MODEL`` (a served model), a model folder, or a hub id ``ORG/NAME`` (whether a
    hub or served model can be had shows when it is loaded). Builds and loads nothing."""
    served = name.startswith("openai:") and bool(name.removeprefix("openai:").strip())
    if name == "label" or served or _check_embedded(name, "vlm") or Path(name).expanduser().is_dir():
        return
    parts = name.split("/")
    if len(parts) == 2 and all(parts) and not any(c.isspace() for c in name):
        return
    raise ModelNotAvailableError(
        f"unknown captioner {name!r}: give 'embedded' (the kit's VLM), 'embedded:ci', 'label' (class-name text "
        "only), 'openai:MODEL' (a served model), a transformers model folder, or a hub id such as ORG/NAME")


def resolve_vlm_name(name: str) -> str:
    """Map the kit's VLM names to a model folder: ``"embedded"`` / ``"embedded:SIZE"`` → the cached embedded
    VLM (built on first use); anything else unchanged."""
    if name == EMBEDDED or name.startswith(EMBEDDED + ":"):
        from .zoo import ensure_vlm

        size = name.split(":", 1)[1] if ":" in name else "default"
        return str(ensure_vlm(size))
    return name


def load_captioner(name: str = EMBEDDED, **kwargs):
    """A captioner by name: ``"embedded"`` / ``"embedded:SIZE"`` (the kit's VLM), ``"label"``,
    ``"openai:MODEL"`` (a served model), a transformers hub id or a model folder.

    Args:
        name: which captioner.
        **kwargs: its settings (see :func:`mmft_kit.captions.make_captioner`); settings of other
            back ends are ignored.

    Returns:
        A :class:`~mmft_kit.captions.Captioner`.
    """
    name = str(name)
    check_captioner_name(name)
    folder = resolve_vlm_name(name)
    if folder != name:
        kwargs = {**kwargs, "name": name}
    return make_captioner(folder, **kwargs)


def load_clip(name: str, pretrained: str | None = None, device: str | torch.device | None = None):
    """Load a CLIP and return ``(model, preprocess, tokenizer)``, the model in eval mode on ``device``.

    ``name`` is an open_clip model name (with ``pretrained`` a tag such as ``"openai"`` or a
    checkpoint path), ``"local-dir:FOLDER"``, an open_clip folder, ``"hf-hub:ORG/REPO"``, or
    ``"embedded"`` (``"embedded:ci"`` for the small test build). Weights that cannot be had
    offline raise :class:`ModelNotAvailableError` naming the local alternatives.
    """
    import open_clip

    check_clip_name(name, pretrained)
    limit_hub_timeouts()
    device = resolve_device(device)
    model_name = resolve_clip_name(name)
    if pretrained is not None and ":" not in model_name and not Path(pretrained).is_file():
        _require_hub_or_cache(model_name, pretrained)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained, device=device)
        tokenizer = open_clip.get_tokenizer(model_name)
    except (RuntimeError, OSError, ValueError) as error:
        raise ModelNotAvailableError(
            f"could not load CLIP {name!r}" + (f" with pretrained={pretrained!r}" if pretrained else "")
            + f": {error}. Downloads need network access to the model hub. {_LOCAL_ALTERNATIVES}"
        ) from error
    model.eval()
    return model, preprocess, tokenizer


def _require_hub_or_cache(model_name: str, tag: str) -> None:
    """Fail at once when a hub-hosted pretrained tag is neither in the local cache nor reachable."""
    import open_clip
    from huggingface_hub import try_to_load_from_cache

    repo = open_clip.get_pretrained_cfg(model_name, tag).get("hf_hub", "").strip("/")
    files = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    if not repo or any(isinstance(try_to_load_from_cache(repo, f), str) for f in files) or hub_reachable():
        return
    raise ModelNotAvailableError(
        f"pretrained={tag!r} of {model_name} lives on the Hugging Face hub ({repo}), which cannot be reached "
        f"(no network), and it is not in the local cache. {_LOCAL_ALTERNATIVES}"
    )
