"""The server follows the index through ingests (issue 16, items 1 and 11).

A real server (create_app under uvicorn, on 127.0.0.1) answers a steady stream of questions while
`python ingest.py` replaces the index under it, with an embedded store and with a real Chroma
server (`chroma run`). No request may fail, the server must move to the new generation without a
restart, and the old generation must go once nothing uses it. /healthz runs a real query, so it
fails when the open generation is gone.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from test_robustness import REPO, ChromaServer, ThreadServer, _env, ask

from bot.embeddings import FakeEmbeddings
from bot.indexing import ingest
from bot.settings import Settings
from bot.store import generations, open_client, read_pointer


def _ingest_cli(settings: Settings, *args: str) -> None:
    extra = {"BOT_CORPUS_DIR": str(settings.corpus_dir)}
    if settings.chroma_url:
        extra["BOT_CHROMA_URL"] = settings.chroma_url
    out = subprocess.run(
        [sys.executable, "ingest.py", *args],
        cwd=REPO,
        env=_env(settings.data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr


class Stream:
    """Asks questions back to back in a thread (and checks /healthz between them), keeping every failure."""

    def __init__(self, url: str) -> None:
        self.url, self.failures, self.answered = url, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                r = client.post(self.url + "/api/ask", json={"question": "KVM 属于哪一类虚拟化？"})
                if r.status_code != 200 or "一型" not in r.json()["text"]:
                    self.failures.append(f"ask: {r.status_code} {r.text[:200]}")
                else:
                    self.answered += 1
                h = client.get(self.url + "/healthz")
                if h.status_code != 200:
                    self.failures.append(f"healthz: {h.status_code} {h.text[:200]}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def _wait_for_generation(url: str, generation: str) -> dict:
    deadline = time.monotonic() + 30
    while (h := httpx.get(url + "/healthz", timeout=10).json()).get("generation") != generation:
        assert time.monotonic() < deadline, f"the server still answers from {h.get('generation')}, not {generation}"
        time.sleep(0.2)
    return h


@pytest.mark.parametrize("store", ["embedded", "chroma server"])
def test_ingests_under_a_steady_stream_of_questions_lose_no_request(settings: Settings, tmp_path: Path, store: str) -> None:
    chroma = None
    if store == "chroma server":
        chroma = ChromaServer(tmp_path / "chroma-server")
        chroma.start()
        settings = dataclasses.replace(settings, chroma_url=chroma.url)
    settings = dataclasses.replace(settings, rate_limit=0)
    ingest(settings, FakeEmbeddings(), "fake")
    srv = ThreadServer(settings)
    stream = None
    try:
        stream = Stream(srv.url)
        # A changed note (a new generation that reuses vectors), then a full rebuild.
        note = settings.corpus_dir / "notes" / "wine.md"
        note.write_text(
            note.read_text(encoding="utf-8").replace("## English", "## English\n\nWine was first released in 1993.\n", 1),
            encoding="utf-8",
        )
        for args in ((), ("--rebuild",)):
            before = stream.answered
            _ingest_cli(settings, *args)
            active = read_pointer(open_client(settings))["active"]
            _wait_for_generation(srv.url, active)
            deadline = time.monotonic() + 30
            while stream.answered < before + 3:  # answered across the swap, not only before it
                assert time.monotonic() < deadline and not stream.failures, stream.failures[:3]
                time.sleep(0.05)
        stream.stop()
        assert stream.failures == []
        # The new text is served without a restart...
        served = srv.server.config.app.state.holder.bot
        assert any("first released in 1993" in c.text for c in served.retriever.chunks)
        # ...and the old generations are gone once nothing answers from them.
        deadline = time.monotonic() + 30
        while (left := generations(open_client(settings))) != [active]:
            assert time.monotonic() < deadline, left
            ask(srv.url, "KVM?")  # the last request on an old generation deletes it
            time.sleep(0.2)
    finally:
        if stream:
            stream.stop()
        srv.stop()
        if chroma:
            chroma.stop()


def test_a_generation_in_use_by_another_server_is_kept_by_ingest(settings: Settings) -> None:
    ingest(settings, FakeEmbeddings(), "fake")
    first = read_pointer(open_client(settings))["active"]
    srv = ThreadServer(settings)  # holds a lease on `first`
    try:
        assert ask(srv.url, "KVM 属于哪一类虚拟化？").status_code == 200
        srv.server.should_exit = True  # stop serving, but the process (and its lease) stays, like a server mid-request
        srv.thread.join(10)
        ingest(settings, FakeEmbeddings(), "fake", rebuild=True)
        assert first in generations(open_client(settings))  # leased: not deleted under its reader
    finally:
        srv.stop()


def test_healthz_fails_when_the_open_generation_is_gone(settings: Settings) -> None:
    ingest(settings, FakeEmbeddings(), "fake")
    srv = ThreadServer(dataclasses.replace(settings, rate_limit=0))
    try:
        assert httpx.get(srv.url + "/healthz", timeout=10).status_code == 200
        # What an older ingest did: delete the generation a running server reads from.
        client = open_client(settings)
        client.delete_collection(read_pointer(client)["active"])
        h = httpx.get(srv.url + "/healthz", timeout=10)
        assert h.status_code == 503 and h.json()["ok"] is False
        assert "ingest.py" in h.json()["error"]
        assert ask(srv.url, "KVM?").status_code == 503  # healthz says what questions get
    finally:
        srv.stop()


def test_healthz_fails_when_the_store_is_corrupted_under_a_running_server(settings: Settings, tmp_path: Path) -> None:
    ingest(settings, FakeEmbeddings(), "fake")
    srv = ThreadServer(dataclasses.replace(settings, rate_limit=0))
    try:
        assert httpx.get(srv.url + "/healthz", timeout=10).status_code == 200
        db = settings.index_dir / "chroma" / "chroma.sqlite3"
        db.write_bytes(b"this is not a database " * 4000)
        for seg in (settings.index_dir / "chroma").iterdir():
            if seg.is_dir():
                shutil.rmtree(seg)
        h = httpx.get(srv.url + "/healthz", timeout=10)
        assert h.status_code == 503 and h.json()["ok"] is False
    finally:
        srv.stop()
