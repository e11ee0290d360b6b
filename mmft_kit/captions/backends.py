"""Captioners: turn (image, prompt) pairs into captions.

* :class:`HFCaptioner`: any transformers image-text-to-text model (hub id or local folder),
  prompted through its chat template, batched with left padding;
* :class:`LabelCaptioner`: writes "a photo of a {class}." (the text FLYP trains on);
* :class:`~mmft_kit.captions.served.OpenAICaptioner`: a served model behind an OpenAI-compatible
  chat-completions endpoint (vLLM, SGLang, LMDeploy, Ollama, OpenAI, Gemini), many requests in flight;
* :func:`~mmft_kit.captions.factory.make_captioner`: ``"label"``, ``"openai:MODEL"``, a hub id or a folder. The
  kit's own names (``"embedded"``) are resolved above this package, by :func:`mmft_kit.models.load_captioner`.

The base class, the request and result records and the label captioner are in :mod:`.base`.

Sampling is reproducible per item: each (image, prompt) draws its tokens from its own random
generator, seeded from the captioner's seed, the image's digest and the prompt, so a caption does
not depend on which other items share its batch (a resumed run writes what an uninterrupted one
would, up to floating-point differences that padding can bring).
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image

from ..errors import InvalidInputError, ModelNotAvailableError
from ..runtime import hub_reachable, limit_hub_timeouts, resolve_device
from .base import CaptionRequest, CaptionResult, Captioner, LabelCaptioner  # noqa: F401  (re-exported)
from .store import image_digest

_THINK = re.compile(r"<think>.*?</think>", flags=re.DOTALL)
#: A space a word-level tokenizer's decoder leaves before a semicolon or colon (it removes those before , and .).
_SPACE_BEFORE = re.compile(r"\s+([;:])")
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return bool(constants.HF_HUB_OFFLINE) or flag.strip().lower() in ("1", "true", "yes", "on")


def folder_fingerprint(folder: str | os.PathLike) -> str:
    """A cheap digest of a model folder: configs in full, weight files by size and first/last MiB."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if not path.is_file():
            continue
        digest.update(f"{path.name}:{path.stat().st_size}:".encode())
        if path.suffix == ".json":
            digest.update(path.read_bytes())
        elif path.suffix in (".safetensors", ".bin", ".pt", ".pth"):
            with open(path, "rb") as handle:
                digest.update(handle.read(1 << 20))
                handle.seek(max(0, path.stat().st_size - (1 << 20)))
                digest.update(handle.read())
    return digest.hexdigest()[:16]


def _load_pretrained(model: str, dtype: torch.dtype):
    """Processor and model from a folder or the hub; a model that cannot be had raises ModelNotAvailableError."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    def load(local_only: bool):
        processor = AutoProcessor.from_pretrained(model, local_files_only=local_only)
        network = AutoModelForImageTextToText.from_pretrained(model, local_files_only=local_only, dtype=dtype)
        return processor, network

    local = Path(model).expanduser().is_dir()
    try:
        try:
            return load(local_only=True)  # a folder, or a hub model already in the local cache
        except OSError:
            if local or _offline():
                raise
            if not hub_reachable():
                raise OSError("the hub cannot be reached (no network) and the model is not in the local cache")
        limit_hub_timeouts()
        return load(local_only=False)
    except (OSError, ValueError) as exc:
        where = "the folder" if local else ("the local hub cache (HF_HUB_OFFLINE is set)" if _offline() else "the hub")
        raise ModelNotAvailableError(
            f"cannot load image-text-to-text model {model!r} from {where}: {str(exc).strip().splitlines()[0]}\n"
            "Give a local folder written by save_pretrained (processor and model), or use the kit's own "
            "captioner: --captioner embedded (or label for class-name text only)."
        ) from exc


class _PerItemSampler:
    """A logits processor that samples each row's next token from that row's own generator.

    Generation runs greedily; this processor leaves only the sampled token finite, so greedy
    decoding picks it. Rows never share random numbers, whatever the batch.
    """

    def __init__(self, seeds: Sequence[int], temperature: float) -> None:
        self.seeds, self.temperature = list(seeds), temperature
        self.generators: list[torch.Generator] | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.generators is None:
            self.generators = [torch.Generator(device=scores.device).manual_seed(s) for s in self.seeds]
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        picked = torch.stack([torch.multinomial(p, 1, generator=g) for p, g in zip(probs, self.generators)])
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, picked, 0.0)


class HFCaptioner(Captioner):
    """A transformers image-text-to-text model prompted through its chat template.

    ``model``: hub id or folder. ``do_sample=None`` samples when ``temperature > 0`` (the paper
    samples at 0.2). ``max_new_tokens=None`` takes the model folder's ``generation_config`` value
    when it sets one, else 256. ``dtype=None``: bfloat16 on CUDA when supported, else float32.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        device: str | torch.device | None = None,
        batch_size: int = 16,
        temperature: float = 0.2,
        do_sample: bool | None = None,
        max_new_tokens: int | None = None,
        seed: int = 0,
        dtype: str | torch.dtype | None = None,
        name: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1; got {batch_size}")
        if temperature < 0:
            raise InvalidInputError(f"temperature must be >= 0; got {temperature}")
        self.device = resolve_device(device)
        self.dtype = self._resolve_dtype(dtype)
        self.do_sample = temperature > 0 if do_sample is None else bool(do_sample)
        if self.do_sample and temperature <= 0:
            raise InvalidInputError("sampling needs a temperature > 0; give --temperature, or do_sample=False")
        self.model_ref = str(model)
        self.processor, self.model = _load_pretrained(self.model_ref, self.dtype)
        self.model.to(self.device).eval()
        if getattr(self.processor, "chat_template", None) is None:
            raise ModelNotAvailableError(
                f"{self.model_ref!r} has no chat template (processor.chat_template); this backend prompts "
                "through it: use an instruction-tuned image-text-to-text model, or set a chat template in its folder"
            )
        tokenizer = self.processor.tokenizer
        tokenizer.padding_side = "left"  # right padding corrupts batched generation of decoder-only models
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.generation_config = copy.deepcopy(self.model.generation_config)
        if max_new_tokens is None:
            max_new_tokens = self.generation_config.max_new_tokens or 256
        if max_new_tokens < 1:
            raise InvalidInputError(f"max_new_tokens must be at least 1; got {max_new_tokens}")
        self.generation_config.update(
            do_sample=False, num_beams=1, max_new_tokens=int(max_new_tokens), temperature=None, top_p=None,
            top_k=None, pad_token_id=tokenizer.pad_token_id,
        )
        self.temperature, self.max_new_tokens = temperature, int(max_new_tokens)
        self.seed, self.batch_size = seed, batch_size
        local = Path(self.model_ref).expanduser()
        self.name = name or (local.name if local.is_dir() else self.model_ref)
        self.revision = (
            folder_fingerprint(local) if local.is_dir() else getattr(self.model.config, "_commit_hash", None)
        )

    def _resolve_dtype(self, dtype: str | torch.dtype | None) -> torch.dtype:
        if dtype is None:
            cuda_bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
            return torch.bfloat16 if cuda_bf16 else torch.float32
        if isinstance(dtype, torch.dtype):
            return dtype
        if dtype not in _DTYPES:
            raise InvalidInputError(f"unknown dtype {dtype!r}; choose one of {sorted(_DTYPES)}")
        return _DTYPES[dtype]

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "backend": "transformers",
            "model": self.name,
            "revision": self.revision,
            "dtype": str(self.dtype).removeprefix("torch."),
            "do_sample": self.do_sample,
            "temperature": self.temperature if self.do_sample else 0.0,
            "seed": self.seed if self.do_sample else None,
            "max_new_tokens": self.max_new_tokens,
        }

    def item_seed(self, image: Image.Image, prompt: str) -> int:
        """The sampling seed of one (image, prompt) pair."""
        key = f"{self.seed}\n{image_digest(image)}\n{prompt}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1

    def chat_text(self, prompt: str) -> str:
        """The model's chat-template text for one image followed by ``prompt``."""
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        # reasoning models (e.g. Qwen3) answer directly, as the authors ask them to
        extra = {"enable_thinking": False} if "enable_thinking" in str(self.processor.chat_template) else {}
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **extra)

    @torch.inference_mode()
    def caption(
        self, images: Sequence[Image.Image], prompts: Sequence[str], classnames: Sequence[str] | None = None
    ) -> list[str]:
        if len(images) != len(prompts):
            raise InvalidInputError(f"{len(images)} images but {len(prompts)} prompts")
        captions: list[str] = []
        for start in range(0, len(images), self.batch_size):
            batch = [img.convert("RGB") for img in images[start : start + self.batch_size]]
            texts = [self.chat_text(p) for p in prompts[start : start + self.batch_size]]
            inputs = self.processor(text=texts, images=batch, padding=True, return_tensors="pt")
            inputs = inputs.to(self.device, dtype=self.dtype)
            processors = []
            if self.do_sample:
                seeds = [self.item_seed(i, p) for i, p in zip(batch, prompts[start : start + self.batch_size])]
                processors.append(_PerItemSampler(seeds, self.temperature))
            output = self.model.generate(
                **inputs, generation_config=self.generation_config, logits_processor=processors
            )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            for text in self.processor.batch_decode(new_tokens, skip_special_tokens=True):
                captions.append(_SPACE_BEFORE.sub(r"\1", " ".join(_THINK.sub("", text).split())))
        return captions
