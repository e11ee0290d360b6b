"""A served multimodal model behind an OpenAI-compatible chat-completions endpoint.

vLLM (``vllm serve``), SGLang, LMDeploy, Ollama, OpenAI and Gemini's OpenAI-compatible endpoint
all speak this wire format; requests go through the ``openai`` client. Each image travels as a
JPEG data URL after the prompt's text, as in the authors' script. Many requests are kept in flight
(``concurrency``); a request that meets a 429, a 5xx, a time-out, a dropped connection or a
malformed reply is sent again after an exponential back-off that honours ``Retry-After``, at most
``max_retries`` times. A refusal (a 4xx such as 400, a ``refusal`` or ``content_filter`` answer, or
an empty one) is answered as the authors do: the image is resized to a square side between 224 and
508 px (chosen per item from its content, so reruns resend the same image) and sent once more.

The API key is read from an environment variable at start and is never written anywhere; the
store's settings hold what decides the captions (model name, temperature, token limit, seed,
image encoding), never the key or the server's address.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import io
import os
import random
import re
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Iterable, Iterator, Sequence

import openai
from PIL import Image

from ..errors import InvalidInputError, ModelNotAvailableError
from .base import CaptionRequest, CaptionResult, Captioner
from .store import image_digest

_THINK = re.compile(r"<think>.*?</think>", flags=re.DOTALL)
#: JPEG quality of the images sent.
JPEG_QUALITY = 90
#: The authors' fallback: a square side drawn from range(224, 512, 4).
FALLBACK_SIDES = tuple(range(224, 512, 4))
#: Status codes worth sending again (besides every 5xx).
RETRY_STATUS = (408, 409, 429)
#: Status codes that no retry or resize can mend: the key, the permission or the model name is wrong.
FATAL_STATUS = (401, 403, 404)


class _Refused(Exception):
    """The server answered, but not with a caption for this image."""


class _Transient(Exception):
    """The request failed in a way a later attempt may not (rate limit, server error, time-out, bad reply)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds asked for by ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``; None if absent."""
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value.strip() else None
        return None if when is None else max(0.0, when.timestamp() - time.time())


def data_url(image: Image.Image) -> str:
    """``image`` as a base64 JPEG data URL (RGB)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class OpenAICaptioner(Captioner):
    """Captions from a model served behind an OpenAI-compatible chat-completions endpoint.

    Args:
        model: the endpoint's model name (``vllm serve Qwen/Qwen2.5-VL-7B-Instruct`` serves
            ``Qwen/Qwen2.5-VL-7B-Instruct``; Gemini: ``gemini-2.5-flash-lite``).
        base_url: the endpoint (e.g. ``http://localhost:8000/v1``); None: ``$OPENAI_BASE_URL``, else OpenAI's.
        api_key_env: the environment variable holding the API key. A local server needs none
            (a placeholder is sent); OpenAI's own endpoint does.
        concurrency: requests in flight at once.
        temperature: sampling temperature (the paper: 0.2).
        max_new_tokens: the reply's token limit (sent as ``max_tokens``).
        seed: base of the per-item sampling seed sent with each request (servers that honour
            ``seed``, such as vLLM, then give the same caption on a rerun); None sends none.
        timeout: seconds one request may take before it counts as timed out.
        max_retries: how many times a failing request is sent again before its image is skipped.
        backoff: the first back-off in seconds (doubled per retry, with jitter) when the server
            does not say how long to wait.
        max_backoff: the longest wait between two attempts, ``Retry-After`` included.
        max_failures_in_a_row: this many failed requests in a row stop the run (the server is
            down or rejects every request), naming the last error.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        temperature: float = 0.2,
        max_new_tokens: int = 256,
        seed: int | None = 0,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_failures_in_a_row: int = 32,
    ) -> None:
        if not model.strip():
            raise InvalidInputError("give the served model's name: --captioner openai:MODEL")
        for label, value, low in (("concurrency", concurrency, 1), ("max_new_tokens", max_new_tokens, 1),
                                  ("max_retries", max_retries, 0), ("max_failures_in_a_row", max_failures_in_a_row, 1)):
            if value < low:
                raise InvalidInputError(f"{label} must be at least {low}; got {value}")
        if temperature < 0 or timeout <= 0 or backoff < 0 or max_backoff < 0:
            raise InvalidInputError("temperature, backoff and max_backoff must be >= 0 and timeout > 0")
        self.model, self.name = model, f"openai:{model}"
        self.concurrency = self.batch_size = int(concurrency)
        self.temperature, self.max_new_tokens, self.seed = float(temperature), int(max_new_tokens), seed
        self.max_retries, self.backoff, self.max_backoff = int(max_retries), float(backoff), float(max_backoff)
        self.max_failures_in_a_row = int(max_failures_in_a_row)
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = os.environ.get(api_key_env)
        if not api_key:
            if base_url is None:
                raise ModelNotAvailableError(
                    f"${api_key_env} is not set: export your API key in it, or point --base-url at a local server"
                )
            api_key = "EMPTY"  # local servers (vLLM, SGLang, LMDeploy, Ollama) take any key
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "backend": "openai",
            "model": self.name,
            "temperature": self.temperature,
            "max_new_tokens": self.max_new_tokens,
            "seed": self.seed,
            "image": f"jpeg-q{JPEG_QUALITY}",
            "fallback": f"resize-square-{FALLBACK_SIDES[0]}-{FALLBACK_SIDES[-1]}",
        }

    # -- one request ---------------------------------------------------------------------------
    def _item_hash(self, request: CaptionRequest) -> int:
        key = f"{self.seed}\n{image_digest(request.image)}\n{request.prompt}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")

    def fallback_side(self, request: CaptionRequest) -> int:
        """The square side the image of ``request`` is resized to after a refusal."""
        return FALLBACK_SIDES[self._item_hash(request) % len(FALLBACK_SIDES)]

    def _send(self, image: Image.Image, prompt: str, seed: int | None) -> str:
        messages = [{"role": "user", "content": [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": data_url(image)}},
        ]}]
        extra = {} if seed is None else {"seed": seed}
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=messages, temperature=self.temperature, max_tokens=self.max_new_tokens,
                **extra,
            )
        except openai.APIStatusError as error:
            status = error.status_code
            if status in FATAL_STATUS:
                raise ModelNotAvailableError(
                    f"the server refused model {self.model!r} with HTTP {status}: {error.message}. Check the "
                    "model name (GET /v1/models lists them), the API key variable and its permissions"
                ) from error
            if status >= 500 or status in RETRY_STATUS:
                raise _Transient(f"HTTP {status}", retry_after_seconds(error.response.headers)) from error
            raise _Refused(f"HTTP {status}: {error.message}") from error
        except openai.APITimeoutError as error:
            raise _Transient("timed out") from error
        except openai.APIConnectionError as error:
            raise _Transient(f"connection failed ({type(error.__cause__ or error).__name__})") from error
        except (openai.APIResponseValidationError, ValueError) as error:  # a body that is not the JSON asked for
            raise _Transient(f"malformed reply ({type(error).__name__})") from error
        return self._caption_of(response)

    @staticmethod
    def _caption_of(response: Any) -> str:
        try:
            choice = response.choices[0]
            message = choice.message
            content = message.content
        except (AttributeError, IndexError, TypeError, KeyError):
            raise _Transient("malformed reply (no choices[0].message)") from None
        if getattr(message, "refusal", None) or getattr(choice, "finish_reason", None) == "content_filter":
            raise _Refused(getattr(message, "refusal", None) or "content filter")
        if not isinstance(content, str):
            raise _Refused("no text in the reply")
        text = " ".join(_THINK.sub("", content).split())
        if not text:
            raise _Refused("empty reply")
        return text

    def _wait(self, attempt: int, asked: float | None) -> float:
        if asked is None:
            asked = self.backoff * 2**attempt * random.uniform(0.5, 1.0)
        return min(asked, self.max_backoff)

    def _send_with_retries(self, image: Image.Image, prompt: str, seed: int | None) -> str:
        for attempt in range(self.max_retries + 1):
            try:
                return self._send(image, prompt, seed)
            except _Transient as error:
                if attempt == self.max_retries:
                    raise _Transient(f"{error} (gave up after {attempt + 1} attempts)") from error
                time.sleep(self._wait(attempt, error.retry_after))
        raise AssertionError("unreachable")

    def ask(self, request: CaptionRequest) -> CaptionResult:
        """One caption: retried on transient failures, resent resized once after a refusal."""
        seed = None if self.seed is None else self._item_hash(request) >> 33  # 31 bits: every server takes it
        try:
            return CaptionResult(request, self._send_with_retries(request.image, request.prompt, seed))
        except _Transient as error:
            return CaptionResult(request, None, f"request failed: {error}")
        except _Refused as refusal:
            side = self.fallback_side(request)
            resized = request.image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
            try:
                return CaptionResult(request, self._send_with_retries(resized, request.prompt, seed))
            except (_Transient, _Refused) as error:
                return CaptionResult(request, None, f"refused: {refusal}; resent at {side}x{side}: {error}")

    # -- many requests -------------------------------------------------------------------------
    def stream(self, requests: Iterable[CaptionRequest]) -> Iterator[list[CaptionResult]]:
        """Caption ``requests`` with ``concurrency`` in flight, yielding the results that have arrived."""
        iterator = iter(requests)
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="caption-request")
        pending: dict[Future, CaptionRequest] = {}
        failures = 0

        def fill() -> None:
            while len(pending) < self.concurrency:
                request = next(iterator, None)
                if request is None:
                    return
                pending[pool.submit(self.ask, request)] = request

        try:
            fill()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                results = [future.result() for future in done]
                for future in done:
                    del pending[future]
                for result in results:
                    failures = failures + 1 if result.caption is None else 0
                yield results
                if failures >= self.max_failures_in_a_row:
                    raise ModelNotAvailableError(
                        f"the last {failures} requests to {self.name} all failed (last: {results[-1].error}); "
                        "check that the server is up and serves this model, then run the same command again"
                    )
                fill()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def caption(
        self, images: Sequence[Image.Image], prompts: Sequence[str], classnames: Sequence[str] | None = None
    ) -> list[str]:
        if len(images) != len(prompts):
            raise InvalidInputError(f"{len(images)} images but {len(prompts)} prompts")
        names = list(classnames) if classnames is not None else [""] * len(prompts)
        requests = [CaptionRequest(i, p, n, tag=k) for k, (i, p, n) in enumerate(zip(images, prompts, names))]
        captions = [""] * len(requests)
        for results in self.stream(requests):
            for result in results:
                captions[result.request.tag] = result.caption or ""
        return captions
