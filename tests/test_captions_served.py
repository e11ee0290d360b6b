"""The served back end against a real HTTP server on 127.0.0.1 with injected faults; a SIGKILLed run resumed;
two processes sharing one store."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mmft_kit.captions import CaptionStore, build_prompt, caption_dataset, read_skipped, skipped_path
from mmft_kit.captions.loopback import LoopbackServer, Reply
from mmft_kit.captions.served import OpenAICaptioner, retry_after_seconds
from mmft_kit.data import ArrayImageDataset, get_dataset
from mmft_kit.errors import ModelNotAvailableError

from conftest import FAULTS, FaultyServer, write_image_folder

SECRET = "sk-test-never-stored-0123456789"
CHARACTERISTICS = ["visual", "shape"]


def _dataset(count: int = 14) -> ArrayImageDataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    return ArrayImageDataset(images, [i % 2 for i in range(count)], ["cat", "dog"], "pets", name="toy")


def _captioner(server: LoopbackServer, **kwargs) -> OpenAICaptioner:
    options = dict(base_url=server.base_url, concurrency=4, timeout=1.0, max_retries=3, backoff=0.05)
    return OpenAICaptioner("loopback-vlm", **{**options, **kwargs})


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def test_every_fault_is_survived_and_every_image_captioned_once(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY_VAR", SECRET)
    dataset = _dataset()
    with FaultyServer(slow=2.0, retry_after=0.3) as server:
        captioner = _captioner(server, api_key_env="SECRET_KEY_VAR")
        store = tmp_path / "served.jsonl"
        report = caption_dataset(dataset, captioner, store, characteristics=CHARACTERISTICS, progress=False)
    assert report.captioned == len(dataset) and report.captions == 2 * len(dataset) and not report.skipped
    records = _lines(store)
    keys = [(r["image"], r["prompt"]) for r in records]
    assert len(keys) == len(set(keys)) == 2 * len(dataset)  # each image once per characteristic
    assert {f for f in server.fault_of.values()} == set(FAULTS)  # every fault met at least once
    for key, fault in server.fault_of.items():
        times = server.attempts[key]
        if fault == "rate_limit":
            assert len(times) == 2 and times[1] - times[0] >= 0.3  # Retry-After honoured
        if fault in ("server_error", "slow", "malformed", "dropped"):
            assert len(times) == 2  # one retry mends it
    refused = [k for k, f in server.fault_of.items() if f == "refusal" and k not in server.resized]
    assert refused and len(server.resized) >= len(refused)  # each refused item was resent resized
    text = store.read_text()
    assert SECRET not in text and "127.0.0.1" not in text and str(server.httpd.server_address[1]) not in text
    settings = CaptionStore(store).settings
    assert settings["model"] == "openai:loopback-vlm" and settings["backend"] == "openai"
    assert {"temperature", "max_new_tokens", "template", "words"} <= set(settings)


def test_refused_even_resized_is_skipped_and_listed(tmp_path):
    dataset = _dataset(4)
    refused_prompt = build_prompt("dog", "pets", "visual")
    with FaultyServer(always_refuse=[refused_prompt]) as server:
        report = caption_dataset(dataset, _captioner(server), tmp_path / "s.jsonl", characteristics=["visual"],
                                 progress=False)
    assert report.captioned == 2 and report.skipped == {"refused": 2}
    listed = read_skipped(tmp_path / "s.jsonl")
    assert sorted(e["index"] for e in listed) == [1, 3] and all("resent at" in e["detail"] for e in listed)
    assert "skipped images listed in" in report.summary()
    with FaultyServer(always_refuse=[refused_prompt]) as server, pytest.raises(Exception, match="stopped at item 1"):
        caption_dataset(dataset, _captioner(server), tmp_path / "t.jsonl", characteristics=["visual"],
                        progress=False, strict=True)


def test_bounded_retries_then_skip_and_a_dead_server_stops_the_run(tmp_path):
    always_500 = LoopbackServer(respond=lambda request: Reply(503, b'{"error": {"message": "down"}}'))
    with always_500 as server:
        captioner = _captioner(server, max_retries=2, max_failures_in_a_row=100)
        report = caption_dataset(_dataset(3), captioner, tmp_path / "a.jsonl", characteristics=["visual"],
                                 progress=False)
        assert report.skipped == {"request failed": 3} and server.requests == 3 * 3  # 1 try + 2 retries each
        with pytest.raises(ModelNotAvailableError, match="all failed"):
            caption_dataset(_dataset(8), _captioner(server, max_retries=0, max_failures_in_a_row=4),
                            tmp_path / "b.jsonl", characteristics=["visual"], progress=False)
    unauthorised = LoopbackServer(respond=lambda request: Reply(401, b'{"error": {"message": "bad key"}}'))
    with unauthorised as server, pytest.raises(ModelNotAvailableError, match="HTTP 401"):
        caption_dataset(_dataset(2), _captioner(server), tmp_path / "c.jsonl", progress=False)
    assert skipped_path(tmp_path / "a.jsonl").exists()


def test_retry_after_forms():
    assert retry_after_seconds({"retry-after": "2.5"}) == 2.5
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({}) is None
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < retry_after_seconds({"retry-after": date}) <= 31


def test_concurrency_overlaps_requests():
    dataset = _dataset(8)
    images = [dataset.image(i) for i in range(8)]
    with LoopbackServer(latency=0.25) as server:
        captioner = _captioner(server, concurrency=8)
        captioner.caption(images[:1], ["warm up"])  # the client's first request loads its lazy modules
        start = time.perf_counter()
        captions = captioner.caption(images, ["describe it"] * 8)
        elapsed = time.perf_counter() - start
    assert len(set(captions)) == 8 and elapsed < 1.0  # one at a time would take 2 s


# -- whole runs in other processes -------------------------------------------------------------
def _command(folder: Path, store: Path, server: LoopbackServer, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mmft_kit", "caption", "--dataset", str(folder), "--store", str(store),
            "--captioner", "openai:loopback-vlm", "--base-url", server.base_url, "--concurrency", "4",
            "--characteristics", *CHARACTERISTICS, "--timeout", "5", "--quiet", *extra]


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "OPENAI_BASE_URL")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **extra}


def _caption_in_process(folder: Path, store: Path, server: LoopbackServer) -> None:
    """The uninterrupted single-process run the others are compared with."""
    caption_dataset(get_dataset(str(folder)), _captioner(server), store, characteristics=CHARACTERISTICS,
                    progress=False)


def _content(store: Path) -> collections.Counter:
    return collections.Counter((r["image"], r["prompt"], r["caption"]) for r in _lines(store))


@pytest.mark.slow
def test_sigkilled_run_resumes_to_the_store_of_an_uninterrupted_one(tmp_path):
    folder = write_image_folder(tmp_path / "images", 40)
    killed, whole = tmp_path / "killed.jsonl", tmp_path / "whole.jsonl"
    with LoopbackServer(latency=0.1) as server:
        process = subprocess.Popen(_command(folder, killed, server), env=_env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if killed.exists() and len(killed.read_text().splitlines()) > 20:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        partial = len(_lines(killed))
        assert 20 <= partial < 80
        resumed = subprocess.run(_command(folder, killed, server), env=_env(), capture_output=True, text=True,
                                 timeout=180)
        assert resumed.returncode == 0, resumed.stderr
        _caption_in_process(folder, whole, server)
    assert _content(killed) == _content(whole)
    assert set(_content(killed).values()) == {1} and len(_content(whole)) == 80  # nothing lost, nothing twice


@pytest.mark.slow
def test_two_processes_share_one_store(tmp_path):
    folder = write_image_folder(tmp_path / "images", 30)
    shared, alone = tmp_path / "shared.jsonl", tmp_path / "alone.jsonl"
    with LoopbackServer(latency=0.05) as server:
        processes = [subprocess.Popen(_command(folder, shared, server), env=_env(RANK=str(rank), WORLD_SIZE="2"),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for rank in range(2)]
        outputs = [p.communicate(timeout=180) for p in processes]
        assert [p.returncode for p in processes] == [0, 0], [err for _, err in outputs]
        assert sorted(out.split(" images")[0] for out, _ in outputs) == ["captioned 15", "captioned 15"]
        _caption_in_process(folder, alone, server)
    assert _content(shared) == _content(alone) and set(_content(shared).values()) == {1}
    assert len(_content(shared)) == 60
