"""`bot serve` answers the API while the chat is still being built (bot.web.late), then serves the chat.

The chat builder is passed in: one that waits for the test to let it finish, one that fails. The
server runs under uvicorn with its lifespan, as `bot serve` runs it.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from bot.chain import Bot
from bot.embeddings import embeddings_name, make_embeddings
from bot.indexing import ingest
from bot.settings import Settings
from bot.web import create_app
from tests.uvicorn_thread import UvicornThread


@pytest.fixture(scope="module")
def fake_bot(tmp_path_factory):
    s = Settings(data_dir=tmp_path_factory.mktemp("late") / "data", embeddings="fake")
    emb = make_embeddings("fake")
    ingest(s, emb, embeddings_name(emb))
    return Bot.from_settings(s, emb)


def _chat_app() -> FastAPI:
    chat = FastAPI()

    @chat.get("/")
    def home():
        return HTMLResponse("<p>the chat</p>")

    return chat


def _serve(app) -> UvicornThread:
    return UvicornThread(app, config=uvicorn.Config(app, log_level="warning", lifespan="on"))


def _wait_for(url: str, state: str) -> dict:
    deadline = time.monotonic() + 10
    while (health := httpx.get(url + "/healthz", timeout=5).json())["ui"] != state:
        assert time.monotonic() < deadline, health
        time.sleep(0.02)
    return health


def test_the_api_answers_while_the_chat_loads_and_the_chat_follows(fake_bot) -> None:
    release = threading.Event()

    def slow_chat():
        assert release.wait(10)
        return _chat_app()

    srv = _serve(create_app(fake_bot.settings, fake_bot, defer_ui=True, chat=slow_chat))
    try:
        health = httpx.get(srv.url + "/healthz", timeout=5)
        assert health.status_code == 200 and health.json()["ui"] == "loading" and health.json()["ok"]
        answer = httpx.post(srv.url + "/api/ask", json={"question": "KVM 属于哪一类虚拟化？"}, timeout=30)
        assert answer.status_code == 200 and answer.json()["citations"]
        page = httpx.get(srv.url + "/", timeout=5)
        assert page.status_code == 503 and page.headers["retry-after"] == "1"
        assert 'http-equiv="refresh"' in page.text and "/api/ask" in page.text and "聊天界面正在启动" in page.text

        release.set()
        _wait_for(srv.url, "ready")
        page = httpx.get(srv.url + "/", timeout=5)
        assert page.status_code == 200 and "the chat" in page.text
    finally:
        release.set()
        srv.stop()


def test_a_chat_that_cannot_be_built_leaves_the_api_serving(fake_bot) -> None:
    def broken_chat():
        raise RuntimeError("no gradio today")

    srv = _serve(create_app(fake_bot.settings, fake_bot, defer_ui=True, chat=broken_chat))
    try:
        _wait_for(srv.url, "failed")
        page = httpx.get(srv.url + "/", timeout=5)
        assert page.status_code == 503 and "retry-after" not in page.headers and "refresh" not in page.text
        assert "could not be started" in page.text
        answer = httpx.post(srv.url + "/api/ask", json={"question": "Docker vs a VM?"}, timeout=30)
        assert answer.status_code == 200 and answer.json()["citations"]
    finally:
        srv.stop()


def test_the_default_chat_is_the_gradio_app_once_ready(fake_bot) -> None:
    srv = _serve(create_app(fake_bot.settings, fake_bot, defer_ui=True))
    try:
        _wait_for(srv.url, "ready")
        page = httpx.get(srv.url + "/", timeout=10)
        assert page.status_code == 200 and "gradio" in page.text.lower()
        config = httpx.get(srv.url + "/config", timeout=10)
        assert config.status_code == 200 and config.json()["components"]  # the chat's own routes are served too
    finally:
        srv.stop()
