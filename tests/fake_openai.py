"""A fake OpenAI-compatible chat endpoint: a real HTTP server on 127.0.0.1 with scripted replies.

Tests queue behaviours (`reply`, `slow`, `error`, `malformed`); each POST to /v1/chat/completions
takes the next one (or an empty reply when the queue is empty) and every request body is recorded
so tests can read the prompt the bot sent. A reply may be a function of the request body, so a test
can answer with a sentence copied from the context blocks it was actually sent. Replies honour `stream: true` with SSE
chunks (`data: {...}` lines, ending `data: [DONE]`), split into several pieces so streaming
callers see more than one.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

Reply = str | Callable[[dict], str]


@dataclass
class Behaviour:
    kind: str  # reply | slow | error | malformed
    text: Reply = ""
    seconds: float = 0.0
    status: int = 500


@dataclass
class FakeOpenAI:
    url: str = ""
    requests: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    script: deque[Behaviour] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)  # cuts `slow` sleeps short at teardown

    def reply(self, text: Reply) -> FakeOpenAI:
        self.script.append(Behaviour("reply", text))
        return self

    def slow(self, seconds: float, text: Reply = "too late") -> FakeOpenAI:
        self.script.append(Behaviour("slow", text, seconds))
        return self

    def error(self, status: int = 500) -> FakeOpenAI:
        self.script.append(Behaviour("error", status=status))
        return self

    def malformed(self) -> FakeOpenAI:
        self.script.append(Behaviour("malformed"))
        return self

    def reset(self) -> None:
        """Forget the script and the recorded requests (between tests sharing one server)."""
        with self.lock:
            self.script.clear()
            self.requests.clear()
            self.headers.clear()

    def next(self) -> Behaviour:
        with self.lock:
            return self.script.popleft() if self.script else Behaviour("reply", "")

    def prompt(self, i: int = -1) -> str:
        """All message contents of request i joined, system prompt first."""
        return "\n".join(str(m.get("content", "")) for m in self.requests[i]["messages"])


def _pieces(text: str, n: int = 4) -> list[str]:
    """Split text into about n non-empty pieces (at least one piece per character for short text)."""
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _completion(model: str, text: str) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(model: str, delta: dict, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep pytest output quiet
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, b'{"error": {"message": "not found"}}')
                return
            with fake.lock:
                fake.requests.append(body)
                fake.headers.append(dict(self.headers))
            b = fake.next()
            model = body.get("model", "fake")
            text = b.text(body) if callable(b.text) else b.text
            try:
                if b.kind == "slow":
                    fake.closing.wait(b.seconds)
                if b.kind == "error":
                    self._send(b.status, b'{"error": {"message": "scripted failure", "type": "server_error"}}')
                elif b.kind == "malformed":
                    bad = b'data: {"choices": [{"delta": {"content": "oops' if body.get("stream") else b'{"choices": [ {"mess'
                    self._send(200, bad, "text/event-stream" if body.get("stream") else "application/json")
                elif body.get("stream"):
                    self._stream(model, text)
                else:
                    self._send(200, json.dumps(_completion(model, text)).encode())
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): that is the point of `slow`

        def _stream(self, model: str, text: str) -> None:
            events = [_chunk(model, {"role": "assistant", "content": ""})]
            events += [_chunk(model, {"content": p}) for p in _pieces(text)]
            events.append(_chunk(model, {}, "stop"))
            payload = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
            self._send(200, payload.encode(), "text/event-stream")

    return Handler


@contextmanager
def serve() -> Iterator[FakeOpenAI]:
    """Run a FakeOpenAI on a free port of 127.0.0.1 in a thread; `.url` is the server root (add /v1 for base_url)."""
    fake = FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="fake-openai")
    thread.start()
    try:
        yield fake
    finally:
        fake.closing.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """One fake endpoint per test module (a bot pointed at it is costly to build)."""
    with serve() as fake:
        yield fake


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> FakeOpenAI:
    """The module's fake endpoint with an empty script and no recorded requests."""
    fake_openai_server.reset()
    return fake_openai_server
