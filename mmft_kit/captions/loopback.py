"""A local OpenAI-compatible chat-completions server, for dry runs of a captioning pipeline, tests and
throughput benchmarks: it answers ``POST /v1/chat/completions`` on a loopback port.

By default every reply is a caption computed from the request's image and prompt (the same request
always gets the same caption), after ``latency`` seconds. ``respond`` replaces that: it gets the
request's JSON and returns a :class:`Reply` (status, headers, body, delay, or a dropped connection),
which is how tests inject faults.

Example::

    with LoopbackServer(latency=0.2) as server:
        captioner = OpenAICaptioner("loopback", base_url=server.base_url)
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    """One answer of the server. ``body=None`` drops the connection without answering."""

    status: int = 200
    body: bytes | None = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def request_parts(request: dict) -> tuple[str, str]:
    """The prompt text and the image URL of a chat-completions request (one user message)."""
    text, image = "", ""
    for message in request.get("messages", []):
        content = message.get("content")
        for part in content if isinstance(content, list) else [{"type": "text", "text": content or ""}]:
            if part.get("type") == "text":
                text += part.get("text", "")
            elif part.get("type") == "image_url":
                image = part.get("image_url", {}).get("url", "")
    return text, image


def completion(text: str | None, model: str = "loopback", finish_reason: str = "stop",
               refusal: str | None = None) -> bytes:
    """A chat-completions reply body holding ``text``."""
    return json.dumps({
        "id": "chatcmpl-loopback", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": finish_reason,
                     "message": {"role": "assistant", "content": text, "refusal": refusal}}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }).encode()


def echo_caption(request: dict) -> str:
    """A caption that depends only on the request's image and prompt."""
    text, image = request_parts(request)
    digest = hashlib.sha256(f"{image}\n{text}".encode()).hexdigest()
    return f"a picture {digest[:12]} answering {len(text.split())} words"


class LoopbackServer:
    """A threaded chat-completions server on ``host`` (a free port unless ``port`` is given).

    Args:
        respond: request JSON → :class:`Reply`; None: :func:`echo_caption` after ``latency``.
        latency: seconds added to every default reply.
        host, port: where to listen.
    """

    def __init__(self, respond: Callable[[dict], Reply] | None = None, latency: float = 0.0,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.latency = latency
        self.respond = respond or self.echo
        self.requests = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server._lock:
                    server.requests += 1
                try:
                    reply = server.respond(json.loads(body))
                except ValueError:
                    reply = Reply(400, json.dumps({"error": {"message": "body is not JSON"}}).encode())
                time.sleep(reply.delay)
                if reply.body is None:
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (time-out) leaves a broken pipe: not the server's problem

        self.httpd = Server((host, port), Handler)
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def echo(self, request: dict) -> Reply:
        """The default answer: :func:`echo_caption` after ``latency`` seconds."""
        return Reply(body=completion(echo_caption(request), request.get("model", "loopback")), delay=self.latency)

    @property
    def base_url(self) -> str:
        """The URL to give the openai client (``.../v1``)."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
