"""The web server: Gradio chat at `/`, `POST /api/ask`, `GET /healthz` and Slack, in one FastAPI app."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import time
from collections import defaultdict, deque

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import bot as bot_package
from bot.errors import BadQuestion, BotError
from bot.settings import Settings

log = logging.getLogger(__name__)

# A request that takes longer than this is cut off with a message instead of hanging the client.
ASK_TIMEOUT_S = 30.0
# Bodies above this are refused before parsing; the bot itself truncates long questions.
MAX_BODY_BYTES = 1_000_000


class BotHolder:
    """Loads the bot once; while the index is missing it remembers why and retries on later requests."""

    def __init__(self, settings: Settings, bot=None, retry_every_s: float = 5.0) -> None:
        self.settings = settings
        self.bot = bot
        self.error = ""
        self._embeddings = None
        self._lock = threading.Lock()
        self._last_try = 0.0
        self._retry_every_s = retry_every_s

    def get(self):
        """The loaded Bot; raises the BotError that keeps it from loading (e.g. IndexMissingError)."""
        if self.bot is not None:
            return self.bot
        with self._lock:
            if self.bot is None and time.monotonic() - self._last_try >= self._retry_every_s:
                self._load()
        if self.bot is None:
            raise BotError(self.error)
        return self.bot

    def _load(self) -> None:
        from bot.chain import Bot
        from bot.embeddings import make_embeddings

        self._last_try = time.monotonic()
        try:
            # Keep the embedder across retries: loading it is the slow part.
            self._embeddings = self._embeddings or make_embeddings(self.settings.embeddings)
            self.bot = Bot.from_settings(self.settings, self._embeddings)
            self.error = ""
        except BotError as exc:
            self.error = str(exc)
            log.warning("bot not ready: %s", exc)


class _HeldBot:
    """What Slack needs of a Bot, resolved at question time through the holder."""

    def __init__(self, holder: BotHolder) -> None:
        self._holder = holder

    def ask(self, question: str, history: list[dict] | None = None):
        return self._holder.get().ask(question, history)


class RateLimiter:
    """At most `per_minute` requests per client in any 60 s window; 0 disables the limit."""

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, client: str) -> bool:
        if self.per_minute <= 0:
            return True
        now = self.clock()
        seen = self._seen[client]
        while seen and now - seen[0] > 60:
            seen.popleft()
        if len(seen) >= self.per_minute:
            return False
        seen.append(now)
        return True

    def retry_after(self, client: str) -> int:
        """Whole seconds until `client` may ask again (for the Retry-After header)."""
        seen = self._seen.get(client)
        if not seen:
            return 1
        return max(1, math.ceil(60 - (self.clock() - seen[0])))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it passes `limit` bytes (so a huge upload is never held in memory)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            return None
        parts.append(part)
    return b"".join(parts)


def _check_body(body) -> str:
    """Why a parsed /api/ask body is unusable, or "" when it is fine."""
    if not isinstance(body, dict):
        return 'body must be a JSON object: {"question": "...", "history": [...]}'
    if "question" not in body:
        return "missing field `question`"
    if not isinstance(body["question"], str):
        return "`question` must be a string"
    history = body.get("history", [])
    if not isinstance(history, list):
        return "`history` must be a list of {role, content} objects"
    for i, turn in enumerate(history):
        if not (isinstance(turn, dict) and turn.get("role") in ("user", "assistant") and isinstance(turn.get("content"), str)):
            return f'`history[{i}]` must be {{"role": "user" | "assistant", "content": "..."}}'
    return ""


def create_app(settings: Settings, bot=None, *, timeout_s: float = ASK_TIMEOUT_S) -> FastAPI:
    """Build the whole server; loads the bot now unless one is given (a missing index is reported, not fatal)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from bot.feedback import FeedbackStore
    from bot.ui import CSS, build_ui, theme

    holder = BotHolder(settings, bot)
    if bot is None:
        holder._load()
    limiter = RateLimiter(settings.rate_limit)
    app = FastAPI(title="Virtualization Q&A bot", version=bot_package.__version__)
    app.state.holder = holder

    @app.post("/api/ask")
    async def api_ask(request: Request):
        who = request.client.host if request.client else "?"
        if not limiter.allow(who):
            wait = limiter.retry_after(who)
            response = _error(429, f"too many requests: the limit is {settings.rate_limit} a minute; retry in {wait} s")
            response.headers["Retry-After"] = str(wait)
            return response
        raw = await _read_capped(request, MAX_BODY_BYTES)
        if raw is None:
            return _error(413, f"body over {MAX_BODY_BYTES} bytes; questions are cut to {settings.max_question_chars} characters")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands of levels deep
            return _error(400, 'body is not valid JSON; send {"question": "...", "history": []}')
        problem = _check_body(body)
        if problem:
            return _error(422, problem)
        try:
            current = holder.get()
        except BotError as exc:
            return _error(503, str(exc))
        try:
            answer = await asyncio.wait_for(asyncio.to_thread(current.ask, body["question"], body.get("history", [])), timeout_s)
        except TimeoutError:
            return _error(504, f"no answer within {timeout_s:g} s; the request was cut off — try again or ask a shorter question")
        except BadQuestion as exc:
            return _error(400, str(exc))
        except BotError as exc:
            return _error(503, str(exc))
        return answer.to_dict()

    @app.get("/healthz")
    def healthz():
        # Which backends are configured, never their keys or secrets.
        info = {
            "version": bot_package.__version__,
            "embedder": settings.embeddings,
            "llm": settings.llm or "composer",
            "chroma": "server" if settings.chroma_url else "embedded",
            "slack": bool(settings.slack_signing_secret and settings.slack_bot_token),
        }
        try:
            current = holder.get()
        except BotError as exc:
            return JSONResponse({"ok": False, "index": False, "chunks": 0, "error": str(exc), **info}, status_code=503)
        info.update(embedder=current.embedder, llm=current.backend)
        return {"ok": True, "index": True, "chunks": len(current.retriever.chunks), **info}

    try:
        from bot.slack import mount_slack
    except ImportError as exc:
        log.warning("Slack endpoint not mounted: %s", exc)
    else:
        # Slack asks through the holder, so it works once the index appears even if it was missing at start.
        mount_slack(app, settings, _HeldBot(holder))

    demo = build_ui(holder, settings, FeedbackStore(settings.data_dir / "feedback"), timeout_s=timeout_s)
    demo.queue(default_concurrency_limit=4, max_size=64)
    # Mounted last: the Gradio app at "/" would otherwise shadow the routes above.
    return gr.mount_gradio_app(app, demo, path="/", ssr_mode=False, theme=theme(), css=CSS, footer_links=[])


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Run the server until interrupted."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    print(f"serving on http://{host}:{port}", flush=True)
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=5, log_level="warning")
