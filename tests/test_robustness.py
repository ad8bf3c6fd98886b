"""Robustness (issue 9): bad input at every door, load without cross-talk, faults, and secrets.

Servers are real and local: `python -m bot serve` in a subprocess (built by `python ingest.py`), or
create_app under uvicorn in a thread, on 127.0.0.1 with fake embeddings. Slack's Web API is the
FakeSlack of test_slack, so nothing leaves the machine. The whole module takes about a minute.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from test_slack import BOT_USER, SECRET, FakeSlack, event_body
from uvicorn_thread import UvicornThread

from bot.settings import Settings
from bot.text import clean

REPO = Path(__file__).resolve().parent.parent
LLM_KEY = "sk-test-DO-NOT-LEAK-4f1c9e"
BOT_TOKEN = "xoxb-test-DO-NOT-LEAK-77aa"

# Questions whose answers tell each other apart: (question, first entity, a phrase only its answer has).
QUESTIONS = [
    ("KVM 属于哪一类虚拟化？", "kvm", "一型"),
    ("VirtualBox 属于哪一类虚拟化？", "virtualbox", "二型"),
    ("Docker 属于哪一类虚拟化？", "docker", "操作系统级"),
    ("Is KVM a type-1 or a type-2 hypervisor?", "kvm", "Type-1"),
    ("Is VirtualBox a type-1 or a type-2 hypervisor?", "virtualbox", "Type-2"),
    ("What kind of virtualization is Docker?", "docker", "OS-level"),
    ("What does Wine virtualize?", "wine", "compatibility layer"),
    ("What is the JVM?", "jvm", "process (language) virtual machine"),
    ("Is Python venv a kind of virtualization?", "python-venv", "not virtualization"),
    ("What is WebAssembly?", "webassembly", "binary instruction format"),
]


# --- servers ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without any BOT_* variable, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    return {**env, "BOT_DATA_DIR": str(data_dir), "BOT_EMBEDDINGS": "fake", **extra}


class ServerProcess:
    """`python -m bot serve` on a free port; stdout and stderr go to one log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(port)], cwd=REPO, env=env, stdout=self._log, stderr=self._log
        )
        deadline = time.monotonic() + 120  # imports take ~10 s, more on a loaded machine
        while True:
            assert self.proc.poll() is None, f"server exited:\n{self.log()}"
            try:
                # Up, with or without an index, and the chat at / built (it comes a few seconds after the API).
                if httpx.get(self.url + "/healthz", timeout=2).json().get("ui") != "loading":
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"server did not start:\n{self.log()}"
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._log.close()


class ThreadServer(UvicornThread):
    """create_app(settings) under uvicorn in a thread, on a free 127.0.0.1 port."""

    def __init__(self, settings: Settings) -> None:
        from bot.web import create_app

        super().__init__(create_app(settings))


def ask(url: str, question: str, **kw) -> httpx.Response:
    return httpx.post(url + "/api/ask", json={"question": question, **kw}, timeout=30)


def sign(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """Slack's signature over the raw bytes (slack_sdk's helper only takes text)."""
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@pytest.fixture(scope="module")
def index_template(tmp_path_factory) -> Path:
    """A data dir indexed once by `python ingest.py` (real corpus, fake embeddings); tests copy it."""
    data = tmp_path_factory.mktemp("template") / "data"
    out = subprocess.run([sys.executable, "ingest.py"], cwd=REPO, env=_env(data), capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return data


@pytest.fixture
def data_copy(index_template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(index_template, dst)
    return dst


@pytest.fixture(scope="module")
def fake_slack():
    fake = FakeSlack()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def served(index_template: Path, tmp_path_factory, fake_slack: FakeSlack):
    """One `bot serve` for the module: no rate limit, Slack on (to the fake), an LLM key set but no LLM."""
    data = tmp_path_factory.mktemp("served") / "data"
    shutil.copytree(index_template, data)
    env = _env(
        data,
        BOT_RATE_LIMIT="0",
        BOT_LLM_API_KEY=LLM_KEY,
        BOT_SLACK_SIGNING_SECRET=SECRET,
        BOT_SLACK_BOT_TOKEN=BOT_TOKEN,
        BOT_SLACK_API_URL=fake_slack.url + "/api/",
        GRADIO_TEMP_DIR=str(data.parent / "gradio-tmp"),
    )
    srv = ServerProcess(env, data.parent / "server.log")
    yield srv
    srv.stop()


def assert_alive(url: str) -> None:
    r = httpx.get(url + "/healthz", timeout=10)
    assert r.status_code == 200 and r.json()["ok"] is True


# --- 1. bad input -----------------------------------------------------------------------------

_NESTED = b"[" * 10_000 + b"]" * 10_000


def _j(obj) -> bytes:
    return json.dumps(obj).encode()


BAD_BODIES = [
    ("empty body", b"", 400, "JSON"),
    ("whitespace body", b" \n\t ", 400, "JSON"),
    ("whitespace question", _j({"question": " \t\n\u3000 "}), 400, "empty"),
    ("over 1 MB", _j({"question": "x" * 1_000_001}), 413, "bytes"),
    ("invalid UTF-8", b'{"question": "\xff\xfe KVM?"}', 400, "JSON"),
    ("only NUL and control chars", _j({"question": "\x00\x01\x1b\x7f\u200b"}), 400, "empty"),
    ("only bidi controls and word joiners", _j({"question": "\u202e\u2066\u2069\u2060\u00ad\ufe0f\u3164"}), 400, "empty"),
    ("10k nested lists", _NESTED, 400, "JSON"),
    ("question nested 10k deep", b'{"question": ' + _NESTED + b"}", 400, "JSON"),
    ("10k nested objects", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 400, "JSON"),
    ("not an object", b'["KVM?"]', 422, "object"),
    ("question is null", _j({"question": None}), 422, "string"),
    ("question is a list", _j({"question": ["KVM?"]}), 422, "string"),
    ("question is NaN", b'{"question": NaN}', 422, "string"),
    ("a 5000-digit number", b'{"question": 1' + b"0" * 5000 + b"}", 400, "JSON"),
    ("history is a dict", _j({"question": "KVM?", "history": {"role": "user"}}), 422, "history"),
    ("history content not text", _j({"question": "KVM?", "history": [{"role": "user", "content": 5}]}), 422, "history[0]"),
    ("form instead of JSON", b"question=KVM", 400, "JSON"),
]


@pytest.mark.parametrize(("name", "body", "status", "words"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_api_input_gets_a_clear_4xx_and_the_server_lives(served: ServerProcess, name, body, status, words) -> None:
    r = httpx.post(served.url + "/api/ask", content=body, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == status, r.text[:300]
    assert words in r.json()["error"]
    assert_alive(served.url)


ODD_BUT_FINE = [
    ("control chars and NUL inside", {"question": "KVM\x00 属于\x1b[31m哪一类\x7f虚拟化？\u200b"}, "kvm"),
    ("lone surrogate escape", {"question": "\ud800 KVM 属于哪一类虚拟化？"}, "kvm"),
    ("emoji and mixed scripts", {"question": "🐳 Docker и виртуализация؟ مرحبا 和 KVM 有什么区别？🚀"}, "docker"),
    ("unknown fields", {"question": "What is the JVM?", "stream": True, "extra": {"a": [1, 2]}}, "jvm"),
    ("10k history turns", {"question": "它呢？", "history": [{"role": "user", "content": "KVM 是什么？"}] * 10_000}, "kvm"),
    ("just under 1 MB", {"question": "What is the JVM? " + "x" * 900_000}, "jvm"),
]


@pytest.mark.parametrize(("name", "body", "entity"), ODD_BUT_FINE, ids=[b[0] for b in ODD_BUT_FINE])
def test_odd_but_usable_input_gets_a_normal_answer(served: ServerProcess, name, body, entity) -> None:
    r = httpx.post(served.url + "/api/ask", content=json.dumps(body), headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    answer = r.json()
    assert answer["text"] and entity in answer["entities"]
    assert not any(ch < " " and ch not in "\n\t" for ch in answer["question"])
    assert_alive(served.url)


def test_a_huge_chunked_body_is_refused_without_reading_it_all(served: ServerProcess) -> None:
    def body():  # no Content-Length: the server has to count
        for _ in range(64):
            yield b"x" * 65_536

    r = httpx.post(served.url + "/api/ask", content=body(), timeout=30)
    assert r.status_code == 413 and "bytes" in r.json()["error"]
    assert_alive(served.url)


SLACK_GARBAGE = [
    ("empty", b"", "application/json"),
    ("not UTF-8", b"\xff\xfe\x00garbage", "application/json"),
    ("not JSON", b"{not json", "application/json"),
    ("a list", b"[1, 2]", "application/json"),
    ("null", b"null", "application/json"),
    ("10k nested lists", _NESTED, "application/json"),
    ("event is a string", b'{"type": "event_callback", "event": "x"}', "application/json"),
    ("event fields of the wrong type", _j({"type": "event_callback", "event_id": 5, "event": {"type": "app_mention", "user": "U1", "text": 5, "ts": 1, "channel": None}}), "application/json"),
    ("event without channel", _j({"type": "event_callback", "event_id": "EvG1", "event": {"type": "app_mention", "user": "U1", "text": "KVM?"}}), "application/json"),
    ("NUL-only mention", _j({"type": "event_callback", "event_id": "EvG2", "event": {"type": "app_mention", "user": "U1", "text": "\x00\x00", "ts": "1700000009.000001", "channel": "CG"}}), "application/json"),
    ("form with bad payload", b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
    ("form garbage", b"%%%&&&==", "application/x-www-form-urlencoded"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "ctype"), SLACK_GARBAGE, ids=[g[0] for g in SLACK_GARBAGE])
def test_signed_garbage_to_slack_never_gets_a_500(served: ServerProcess, name, body, ctype) -> None:
    r = httpx.post(served.url + "/slack/events", content=body, headers={"Content-Type": ctype, **sign(body)}, timeout=30)
    assert r.status_code < 500, r.text[:300]
    assert_alive(served.url)


def test_unsigned_slack_garbage_is_401(served: ServerProcess) -> None:
    r = httpx.post(served.url + "/slack/events", content=b"{not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("arg", "words"),
    [
        (b"", "empty"),
        (b"   \t ", "empty"),
        (b"\x01\x02\x1b\x7f", "empty"),
        (b"\xff\xfe", "UTF-8"),
        (b"KVM \xff\xfe?", "UTF-8"),
    ],
    ids=["empty", "whitespace", "control chars", "invalid UTF-8", "KVM + invalid UTF-8"],
)
def test_cli_ask_with_a_bad_argument_exits_2_with_one_line(arg: bytes, words: str, tmp_path: Path) -> None:
    # argv cannot carry a NUL byte at all (the OS ends the string there); control chars stand in for it.
    out = subprocess.run(
        [sys.executable.encode(), b"-m", b"bot", b"ask", arg], cwd=REPO, env=_env(tmp_path), capture_output=True, timeout=60
    )
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode == 2, err
    assert err.startswith("error:") and words in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and out.stdout == b""


@pytest.mark.parametrize(
    ("damage", "words"),
    [(b"Xen\x00\x00 is odd.\n\n", "NUL byte"), (b"Xen \xff\xfe is odd.\n\n", "not valid UTF-8")],
    ids=["NUL bytes", "invalid UTF-8"],
)
def test_ingest_of_a_damaged_note_names_it_and_the_old_index_keeps_serving(
    data_copy: Path, tmp_path: Path, damage, words
) -> None:
    from bot.embeddings import FakeEmbeddings
    from bot.store import load_index

    corpus = tmp_path / "corpus"
    shutil.copytree(REPO / "corpus", corpus)
    note = corpus / "notes" / "xen.md"
    raw = note.read_bytes()
    at = raw.index(b"## English")
    note.write_bytes(raw[:at] + damage + raw[at:])
    settings = Settings(corpus_dir=corpus, data_dir=data_copy, embeddings="fake")
    before = load_index(settings, FakeEmbeddings(), "fake").record["active"]

    out = subprocess.run(
        [sys.executable, "ingest.py"],
        cwd=REPO,
        env=_env(data_copy, BOT_CORPUS_DIR=str(corpus)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert out.stderr.startswith("error:") and "xen.md" in out.stderr and words in out.stderr
    assert "Traceback" not in out.stderr
    after = load_index(settings, FakeEmbeddings(), "fake")
    assert after.record["active"] == before and any(c.doc_id == "notes/xen" for c in after.chunks)


# --- 2. every door is bounded before a body is read (issue 16) --------------------------------


def _raw_post(url: str, path: str, headers: dict[str, str], body_bytes: int, chunked: bool) -> tuple[int, int]:
    """POST `body_bytes` of junk over a raw socket, stopping when the server answers or hangs up.

    Returns (HTTP status, bytes sent): the server's answer is read as soon as it comes, so a
    server that refuses early is seen refusing early.
    """
    host, port = url.removeprefix("http://").split(":")
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {body_bytes}")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sent, piece = 0, b"x" * (1 << 20)
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.setblocking(False)
        reply, pending = b"", b""
        while sent < body_bytes or pending:
            try:
                reply += sock.recv(65536)
                if reply:
                    break
            except BlockingIOError:
                pass
            if not pending:
                pending = (b"%x\r\n" % len(piece) + piece + b"\r\n") if chunked else piece
                sent += len(piece)
            # A non-blocking send may take part of a frame: send the rest next, never the frame again
            # (re-sending a whole chunk after a partial one corrupts the chunked encoding: a 400).
            try:
                pending = pending[sock.send(pending) :]
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:  # the server closed the connection: it stopped reading
                break
        sock.setblocking(True)
        while b"\r\n" not in reply:
            more = sock.recv(65536)
            if not more:
                break
            reply += more
    finally:
        sock.close()
    return int(reply.split(b" ", 2)[1]), sent


def test_a_400_mb_unsigned_slack_post_is_refused_before_it_is_read(served: ServerProcess) -> None:
    """Item 2: the body used to be read whole before the signature check (442 MB -> 2.09 GB)."""
    before = served.rss_kb()
    bogus = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64}
    results = [
        _raw_post(served.url, "/slack/events", {}, 400_000_000, chunked=False),  # unsigned, declared size
        _raw_post(served.url, "/slack/events", {}, 400_000_000, chunked=True),  # unsigned, no size given
        _raw_post(served.url, "/slack/events", bogus, 400_000_000, chunked=True),  # well-formed but wrong signature
    ]
    after = served.rss_kb()
    print(f"\nRSS before {before / 1024:.1f} MB, after three 400 MB posts {after / 1024:.1f} MB; (status, bytes sent): {results}")
    assert [status for status, _ in results] == [413, 401, 413]
    # Reading stopped within a few MB of the start (socket buffers), far from 400 MB.
    assert all(sent <= 64_000_000 for _, sent in results), results
    assert after - before < 50 * 1024
    assert_alive(served.url)


@pytest.mark.parametrize("timestamp", ["abc", "1e9", "", "1700000000.5", "0x10", "9" * 40, "-1"])
def test_a_malformed_slack_timestamp_is_401_without_a_traceback(served: ServerProcess, timestamp: str) -> None:
    """Item 5: int() of the header used to raise, a 500 with a traceback in the log each time."""
    body = event_body("EvTs", "1700003000.000001").encode()
    headers = {"Content-Type": "application/json", "X-Slack-Signature": "v0=" + "a" * 64}
    r = httpx.post(
        served.url + "/slack/events", content=body, headers={**headers, "X-Slack-Request-Timestamp": timestamp}, timeout=10
    )
    assert r.status_code == 401 and "timestamp" in r.json()["error"].lower()
    assert "Traceback" not in served.log()


@pytest.mark.parametrize("signature", ["", "v0=", "v1=" + "a" * 64, "v0=" + "g" * 64, "v0=" + "a" * 63, "x" * 5000])
def test_a_malformed_slack_signature_is_401(served: ServerProcess, signature: str) -> None:
    body = event_body("EvSig", "1700003000.000002").encode()
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": str(int(time.time()))}
    r = httpx.post(served.url + "/slack/events", content=body, headers={**headers, "X-Slack-Signature": signature}, timeout=10)
    assert r.status_code == 401
    assert "Traceback" not in served.log()


@pytest.mark.parametrize("path", ["/gradio_api/upload", "/upload", "/gradio_api/process_recording"])
def test_no_upload_route_is_open(served: ServerProcess, path: str) -> None:
    """Item 3: Gradio's upload route took files of any size from anyone and kept them on disk."""
    marker = b"UPLOADED-" + os.urandom(8).hex().encode()
    r = httpx.post(served.url + path, files={"files": ("a.txt", marker * 1000, "text/plain")}, timeout=30)
    assert r.status_code == 404
    tmp = served.log_path.parent / "gradio-tmp"
    stored = [p for p in tmp.rglob("*") if p.is_file() and marker in p.read_bytes()] if tmp.exists() else []
    assert stored == []


def test_gradio_routes_are_capped_too(served: ServerProcess) -> None:
    status, sent = _raw_post(served.url, "/gradio_api/queue/join", {}, 400_000_000, chunked=False)
    assert status == 413 and sent <= 64_000_000
    status, sent = _raw_post(served.url, "/gradio_api/queue/join", {}, 400_000_000, chunked=True)
    assert status == 413 and sent <= 64_000_000
    assert_alive(served.url)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("GET", "/api/ask", "POST"), ("PUT", "/api/ask", "POST"), ("DELETE", "/api/ask", "POST"),
     ("POST", "/healthz", "GET"), ("GET", "/slack/events", "POST"), ("PATCH", "/slack/events", "POST")],
)  # fmt: skip
def test_unsupported_methods_get_405_with_allow(served: ServerProcess, method: str, path: str, allow: str) -> None:
    """Item 10: these answered 404 (Gradio's mount at "/" took them)."""
    r = httpx.request(method, served.url + path, timeout=10)
    assert r.status_code == 405 and r.headers["allow"] == allow
    assert "not allowed" in r.json()["error"]


def test_the_page_may_load_images_only_from_the_server(served: ServerProcess) -> None:
    """Item 8 (second line of defence, the first is in bot.web.ui.escape_md): the chat page's CSP."""
    r = httpx.get(served.url + "/", timeout=10)
    assert r.status_code == 200 and "img-src 'self'" in r.headers["content-security-policy"]


def test_a_huge_history_is_bounded_before_it_is_normalised(served: ServerProcess) -> None:
    """Item 4: 1 MB of U+FDFA in history turns (18x under NFKC) used to cost seconds of CPU.

    The answer still uses the latest turns; what the bot did with the rest is shown by
    tests/test_web.py::test_history_is_bounded_at_every_door. Here: the request is served.
    """
    turn = "\ufdfa" * 30_000
    history = [{"role": "user", "content": "KVM 是什么？"}] + [{"role": "assistant", "content": turn}] * 10
    history.append({"role": "user", "content": "KVM 是什么？" + turn})
    r = ask(served.url, "它需要硬件支持吗？", history=history)
    assert r.status_code == 200 and "kvm" in r.json()["entities"]


def test_unauthenticated_errors_show_no_server_paths(tmp_path: Path) -> None:
    """Item 12: 503 bodies named absolute paths on the server (nothing at /srv/…/data/index)."""
    srv = ThreadServer(Settings(data_dir=tmp_path / "nothing-here", embeddings="fake", rate_limit=0))
    try:
        bodies = [ask(srv.url, "KVM?").text, httpx.get(srv.url + "/healthz", timeout=10).text]
    finally:
        srv.stop()
    for body in bodies:
        assert "python ingest.py" in body
        assert str(tmp_path) not in body and "/tmp" not in body and str(REPO) not in body


# --- 3. load ----------------------------------------------------------------------------------


def _check_answer(r: httpx.Response, question: str, entity: str, phrase: str) -> str:
    """'' when the answer is right for its question, else what is wrong."""
    if r.status_code != 200:
        return f"{question!r}: HTTP {r.status_code} {r.text[:200]}"
    a = r.json()
    # The phrase in any case: "Type 1: ... a type-1 (bare-metal) hypervisor" answers "type-1 or type-2?".
    if a["question"] != clean(question) or a["entities"][:1] != [entity] or phrase.lower() not in a["text"].lower():
        return f"{question!r} got an answer to {a['question']!r} ({a['entities']}): {a['text'][:120]!r}"
    return ""


def test_500_concurrent_asks_and_slack_events_no_errors_no_crosstalk_no_growth(served: ServerProcess, fake_slack) -> None:
    t0 = time.monotonic()
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=20)) as client:

        def one(i: int) -> str:
            q, entity, phrase = QUESTIONS[i % len(QUESTIONS)]
            return _check_answer(client.post(served.url + "/api/ask", json={"question": q}), q, entity, phrase)

        def slack(i: int) -> str:
            q = QUESTIONS[i % len(QUESTIONS)][0]
            body = event_body(f"EvLoad{i}", f"1700001000.{i:06d}", text=f"<@{BOT_USER}> {q}").encode()
            r = client.post(
                served.url + "/slack/events", content=body, headers={"Content-Type": "application/json", **sign(body)}
            )
            return "" if r.status_code == 200 else f"slack event {i}: HTTP {r.status_code}"

        with ThreadPoolExecutor(max_workers=20) as pool:
            assert [e for e in pool.map(one, range(50)) if e] == []  # warm-up: every code path touched once
            rss_warm = served.rss_kb()
            jobs = [pool.submit(one, i) for i in range(500)]
            jobs += [pool.submit(slack, i) for i in range(40)]
            errors = [e for e in (j.result(timeout=120) for j in jobs) if e]
    assert errors == []

    # The fake records posts from earlier tests too: wait for this run's 40 threads, not any 40 posts.
    deadline = time.monotonic() + 60
    while True:
        posts = [p for p in fake_slack.called("chat.postMessage") if p["thread_ts"].startswith("1700001000.")]
        if len(posts) >= 40 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    by_thread = {p["thread_ts"]: p["text"] for p in posts}
    assert len(posts) == len(by_thread) == 40  # one reply per event, in its own thread, none twice
    for i in range(40):
        phrase = QUESTIONS[i % len(QUESTIONS)][2]
        assert phrase.lower() in by_thread[f"1700001000.{i:06d}"].lower(), (i, by_thread[f"1700001000.{i:06d}"][:200])

    rss_after = served.rss_kb()
    assert rss_after <= rss_warm * 1.3, f"RSS grew from {rss_warm} kB to {rss_after} kB"
    assert time.monotonic() - t0 < 120
    assert_alive(served.url)


def test_rate_limit_answers_429_with_retry_after(data_copy: Path) -> None:
    srv = ThreadServer(Settings(data_dir=data_copy, embeddings="fake", rate_limit=5))
    try:
        codes = [ask(srv.url, "KVM 属于哪一类虚拟化？").status_code for _ in range(5)]
        limited = ask(srv.url, "KVM 属于哪一类虚拟化？")
    finally:
        srv.stop()
    assert codes == [200] * 5
    assert limited.status_code == 429 and "limit is 5" in limited.json()["error"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


# --- 4. faults --------------------------------------------------------------------------------


def _break(data: Path, how: str) -> None:
    if how == "corrupt":
        (data / "index" / "chroma" / "chroma.sqlite3").write_bytes(b"this is not a database " * 400)
    else:
        shutil.rmtree(data / "index")


@pytest.mark.parametrize("how", ["corrupt", "missing"])
def test_a_broken_index_is_reported_with_the_fix_and_the_server_stays_up(data_copy: Path, how: str) -> None:
    _break(data_copy, how)
    srv = ThreadServer(Settings(data_dir=data_copy, embeddings="fake", rate_limit=0))
    try:
        for _ in range(2):  # asked twice: the server is still there after the first failure
            h = httpx.get(srv.url + "/healthz", timeout=10)
            assert h.status_code == 503 and h.json()["index"] is False
            assert "python ingest.py" in h.json()["error"]
            r = ask(srv.url, "KVM 属于哪一类虚拟化？")
            assert r.status_code == 503 and "python ingest.py" in r.json()["error"]
        assert httpx.get(srv.url + "/", timeout=10).status_code == 200
    finally:
        srv.stop()


def test_the_fix_named_for_a_corrupt_index_works_while_the_server_runs(data_copy: Path) -> None:
    _break(data_copy, "corrupt")
    srv = ThreadServer(Settings(data_dir=data_copy, embeddings="fake", rate_limit=0))
    try:
        fix = ask(srv.url, "KVM?").json()["error"]
        assert "python ingest.py --rebuild" in fix
        out = subprocess.run(
            [sys.executable, "ingest.py", "--rebuild"], cwd=REPO, env=_env(data_copy), capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        assert list((data_copy / "index").glob("chroma.corrupt-*"))  # the damaged store is kept aside, not deleted
        deadline = time.monotonic() + 30  # the server retries loading every 5 s
        while (r := ask(srv.url, "KVM 属于哪一类虚拟化？")).status_code != 200:
            assert time.monotonic() < deadline, r.text
            time.sleep(0.5)
        assert "一型" in r.json()["text"]
    finally:
        srv.stop()


class ChromaServer:
    """`chroma run` on a fixed path and port, so it can be stopped and started again."""

    def __init__(self, path: Path) -> None:
        self.exe = Path(sys.executable).parent / "chroma"
        if not self.exe.exists():
            pytest.skip("the chroma CLI is not installed in this environment")
        self.path, self.port, self.proc = path, _free_port(), None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(self.exe), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.url + "/api/v2/heartbeat", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                assert self.proc.poll() is None and time.monotonic() < deadline, "chroma server did not start"
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def test_chroma_server_going_away_gives_503_and_coming_back_is_survived(settings: Settings, tmp_path: Path) -> None:
    from bot.embeddings import FakeEmbeddings
    from bot.indexing import ingest

    chroma = ChromaServer(tmp_path / "chroma-server")
    chroma.start()
    srv = None
    try:
        s = dataclasses.replace(settings, chroma_url=chroma.url, rate_limit=0)
        ingest(s, FakeEmbeddings(), "fake")
        srv = ThreadServer(s)
        assert "一型" in ask(srv.url, "KVM 属于哪一类虚拟化？").json()["text"]

        chroma.stop()
        r = ask(srv.url, "KVM 属于哪一类虚拟化？")
        assert r.status_code == 503 and "Chroma server" in r.json()["error"]
        assert httpx.get(srv.url + "/", timeout=10).status_code == 200  # the server itself is fine

        chroma.start()  # same path and port
        r = ask(srv.url, "VirtualBox 属于哪一类虚拟化？")
        assert r.status_code == 200 and "二型" in r.json()["text"]
    finally:
        if srv:
            srv.stop()
        chroma.stop()


WRITER = """
import sys, time
from pathlib import Path
from bot.answer import Answer
from bot.slack.dedup import DedupStore
from bot.web.feedback import FeedbackStore

data = Path(sys.argv[1])
feedback, dedup = FeedbackStore(data / "feedback"), DedupStore.in_data_dir(data)
for i in range(100_000):
    answer = Answer(text="KVM 是一型虚拟机监控器。" * 50, lang="zh", intent="classify", entities=["kvm"], refused=False,
                    retrieved=[{"chunk_id": f"c{i}", "entity": "kvm"}], question=f"question {i}")
    feedback.add("like", answer, comment=f"row {i}")
    dedup.claim([f"event:E{i}", f"msg:C1:{i}.0"])
    print(i, flush=True)  # printed only after both commits
"""


def test_feedback_and_dedup_stores_survive_sigkill_mid_write(tmp_path: Path) -> None:
    from bot.slack.dedup import DedupStore
    from bot.web.feedback import FeedbackStore

    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, str(script), str(data)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        done = [int(proc.stdout.readline()) for _ in range(40)]
        time.sleep(0.05)  # land the kill somewhere inside the next writes
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        done += [int(line) for line in proc.stdout.read().split()]
    finally:
        if proc.poll() is None:
            proc.kill()
    last = done[-1]
    for db in (data / "feedback" / "feedback.sqlite3", data / "slack" / "dedup.sqlite3"):
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        con.close()
    rows = FeedbackStore(data / "feedback").all()
    assert [r.comment for r in rows[: last + 1]] == [f"row {i}" for i in range(last + 1)]
    assert len(rows) <= last + 2  # at most the one in flight when killed
    dedup = DedupStore.in_data_dir(data)
    assert all(dedup.seen(f"event:E{i}") and dedup.seen(f"msg:C1:{i}.0") for i in range(last + 1))
    assert dedup.claim([f"event:E{last + 5}"])  # still writable


# --- 5. secrets -------------------------------------------------------------------------------


def test_healthz_names_configured_backends_but_never_their_secrets(served: ServerProcess) -> None:
    h = httpx.get(served.url + "/healthz", timeout=10)
    assert h.status_code == 200
    assert h.json()["slack"] is True and h.json()["llm"] == "composer" and h.json()["chroma"] == "embedded"
    for secret in (LLM_KEY, SECRET, BOT_TOKEN):
        assert secret not in h.text


def test_secrets_never_appear_in_errors_or_the_server_log(served: ServerProcess) -> None:
    # Requests that make the server talk: a bad signature, a stale one, errors and answers.
    body = event_body("EvSecret", "1700002000.000001").encode()
    bad = httpx.post(
        served.url + "/slack/events", content=body, headers={"Content-Type": "application/json", **sign(body, "wrong")}
    )
    assert bad.status_code == 401
    texts = [bad.text, ask(served.url, "").text, ask(served.url, "KVM?").text]
    texts.append(httpx.post(served.url + "/api/ask", content=b"{", timeout=10).text)
    log = served.log()
    assert "serving on http://127.0.0.1" in log  # the log is really captured
    for secret in (LLM_KEY, SECRET, BOT_TOKEN):
        assert secret not in log
        assert all(secret not in t for t in texts)
    # Everything this module sent the server, garbage included, and not one unhandled exception.
    assert "Exception in ASGI application" not in log


def test_settings_repr_hides_keys_and_secrets(monkeypatch) -> None:
    monkeypatch.setenv("BOT_LLM_API_KEY", LLM_KEY)
    monkeypatch.setenv("BOT_SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("BOT_SLACK_BOT_TOKEN", BOT_TOKEN)
    s = Settings.from_env()
    assert s.llm_api_key == LLM_KEY and s.slack_signing_secret == SECRET  # read from the environment...
    for shown in (repr(s), str(s), f"{s}"):
        for secret in (LLM_KEY, SECRET, BOT_TOKEN):
            assert secret not in shown  # ...and never shown


def test_an_llm_key_stays_out_of_logs_and_answers_when_the_llm_is_down(data_copy: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    dead = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens: every call fails at once
    s = Settings(
        data_dir=data_copy, embeddings="fake", rate_limit=0, llm="openai:test-model", llm_base_url=dead, llm_api_key=LLM_KEY
    )
    srv = ThreadServer(s)
    try:
        r = ask(srv.url, "KVM 属于哪一类虚拟化？")
        h = httpx.get(srv.url + "/healthz", timeout=10)
    finally:
        srv.stop()
    assert r.status_code == 200 and "一型" in r.json()["text"]
    assert any("LLM unavailable" in n for n in r.json()["notices"])
    assert h.json()["llm"] == "openai:test-model"
    assert LLM_KEY not in r.text and LLM_KEY not in h.text
    assert LLM_KEY not in caplog.text
