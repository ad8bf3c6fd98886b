"""The chat UI at `/`, mounted when it is ready: the API and Slack answer while Gradio loads.

Importing Gradio and building the chat take about three seconds, longer than everything the first
answer needs. `bot serve` therefore starts answering `/api/ask`, `/healthz` and Slack first and
builds the chat on a thread; until it is ready `/` answers 503 with a page that reloads itself
(and a Retry-After), and `/healthz` says `"ui": "loading"`. A chat that fails to build leaves the
API serving and says so on `/` and in `/healthz`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import threading
from collections.abc import Callable
from enum import StrEnum

log = logging.getLogger(__name__)

RETRY_AFTER_S = 1


class UiState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class LateUi:
    """An ASGI app that passes requests to the app `build` returns, once it has returned."""

    def __init__(self, build: Callable[[], object], pages: dict[UiState, str]) -> None:
        self._build = build
        self._pages = pages  # what `/` says while the chat is not there, by state
        self._app = None
        self._entered: contextlib.AsyncExitStack | None = None
        self.state = UiState.LOADING

    def build_now(self) -> None:
        """Build on this thread; its lifespan is entered by `start` (or never, when no lifespan runs)."""
        self._app = self._build()
        self.state = UiState.READY

    async def start(self) -> None:
        """On the server's event loop at start-up: enter the built app's lifespan, or build it on a thread first."""
        self._entered = contextlib.AsyncExitStack()
        if self._app is not None:
            await self._enter(self._app)
            return
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._build_then_enter, args=(loop,), name="build-chat-ui", daemon=True).start()

    async def stop(self) -> None:
        if self._entered is not None:
            await self._entered.aclose()

    def _build_then_enter(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            app = self._build()
        except Exception:
            log.exception("the chat UI could not be built; the API and Slack keep serving")
            self.state = UiState.FAILED
            return
        try:
            asyncio.run_coroutine_threadsafe(self._enter(app), loop).result()
        except Exception:
            log.exception("the chat UI could not start; the API and Slack keep serving")
            self.state = UiState.FAILED

    async def _enter(self, app) -> None:
        # The app's own start-up (Gradio starts its queue here), as Starlette would run it for a mounted app.
        await self._entered.enter_async_context(app.router.lifespan_context(app))
        self._app = app
        self.state = UiState.READY

    async def __call__(self, scope, receive, send) -> None:
        app = self._app if self.state == UiState.READY else None
        if app is not None:
            await app(scope, receive, send)
            return
        if scope["type"] != "http":  # a websocket before the chat exists: refuse it ("try again later")
            await receive()
            await send({"type": "websocket.close", "code": 1013})
            return
        body = self._pages[self.state].encode()
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")]
        if self.state == UiState.LOADING:
            headers.append((b"retry-after", str(RETRY_AFTER_S).encode()))
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def page(title: str, texts: list[str], *, reload: bool) -> str:
    """A small HTML page for `/` while the chat is not there; `reload` makes it try again every second."""
    refresh = f'<meta http-equiv="refresh" content="{RETRY_AFTER_S}">' if reload else ""
    paragraphs = "".join(f"<p>{html.escape(t)}</p>" for t in texts)
    return f'<!doctype html><html><head><meta charset="utf-8">{refresh}<title>{html.escape(title)}</title></head><body>{paragraphs}</body></html>'


def pages(phrases: dict[str, dict]) -> dict[UiState, str]:
    """The loading and failure pages, in every language of the lexicon's phrases."""
    langs = list(phrases)
    title = " · ".join(phrases[lang]["ui_title"] for lang in langs)
    return {
        UiState.LOADING: page(title, [phrases[lang]["ui_loading"] for lang in langs], reload=True),
        UiState.FAILED: page(title, [phrases[lang]["ui_failed"] for lang in langs], reload=False),
    }
