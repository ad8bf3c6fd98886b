"""The web server: Gradio chat at `/`, `POST /api/ask`, `GET /healthz` and Slack, in one FastAPI app."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

import bot as bot_package
from bot.errors import BadQuestion, BotError, public_message
from bot.history import MAX_TURN_CHARS, MAX_TURNS, bounded
from bot.history import problem as history_problem
from bot.ratelimit import RateLimiter
from bot.settings import Settings
from bot.store import drop_if_unused, hold, read_pointer

log = logging.getLogger(__name__)

# A request that takes longer than this is cut off with a message instead of hanging the client.
ASK_TIMEOUT_S = 30.0
# Bodies above this are refused before parsing; the bot itself truncates long questions.
MAX_BODY_BYTES = 1_000_000
# Slack's payloads are a few kB; a message is at most 40,000 characters.
SLACK_MAX_BODY_BYTES = 1_000_000
# The chat's requests carry the conversation shown so far (a 100,000-character paste is 300 kB).
MAX_UI_BODY_BYTES = 4_000_000
# Gradio routes that take files; the chat has no file input, so they are closed.
CLOSED_GRADIO_ROUTES = {"upload", "process_recording"}
# Images (and everything else) load only from this server.
CSP = "img-src 'self' data: blob:"
# A reader renews its lease on the generation it answers from this often (bot.store.LEASE_TTL_S is 1 h).
LEASE_RENEW_S = 300


@dataclass(eq=False)
class _Loaded:
    """One loaded Bot and the index generation it answers from; `users` counts requests running on it."""

    bot: object
    generation: str
    users: int = 0


def _generation_of(bot) -> str:
    index = getattr(getattr(bot, "retriever", None), "index", None)
    return index.record.get("active", "") if index is not None and index.record else ""


class BotHolder:
    """The Bot the server answers with, following the index's active generation.

    It checks the generation pointer at most every `check_every_s` (on a request) and, when an
    ingest moved it, loads a new Bot from the new generation. Requests that started on the old
    Bot finish on it; once the last one has, this process lets go of its lease on the old
    generation and deletes it (see bot.store). While no Bot can be loaded (index missing or
    broken) it remembers why and retries every `retry_every_s`. A Bot passed in is kept as is.
    """

    def __init__(self, settings: Settings, bot=None, *, retry_every_s: float = 5.0, check_every_s: float = 1.0) -> None:
        self.settings = settings
        self.error = ""
        self.reader = uuid.uuid4().hex[:12]  # this process's name on its lease
        self._follow = bot is None
        self._current = _Loaded(bot, _generation_of(bot)) if bot is not None else None
        self._old: list[_Loaded] = []  # replaced, with requests still running on them
        self._embeddings = None
        self._lock = threading.Lock()  # guards _current, _old and the users counts
        self._loading = threading.Lock()  # one check or load at a time; others go on with what is loaded
        self._last_try = -math.inf
        self._last_lease = -math.inf
        self._retry_every_s = retry_every_s
        self._check_every_s = check_every_s

    @property
    def bot(self):
        """The current Bot, or None while none could be loaded."""
        current = self._current
        return current.bot if current is not None else None

    def get(self):
        """The current Bot; raises the BotError that keeps it from loading (e.g. IndexMissingError)."""
        self._maybe_refresh()
        current = self._current
        if current is None:
            raise BotError(self.error)
        return current.bot

    @contextmanager
    def using(self) -> Iterator:
        """The current Bot, kept (with its index generation) until the block ends."""
        self._maybe_refresh()
        with self._lock:
            loaded = self._current
            if loaded is None:
                raise BotError(self.error)
            loaded.users += 1
        try:
            yield loaded.bot
        finally:
            with self._lock:
                loaded.users -= 1
                retire = loaded in self._old and loaded.users == 0
                if retire:
                    self._old.remove(loaded)
            if retire:
                self._retire(loaded)

    def ask(self, question: str, history=None):
        with self.using() as bot:
            return bot.ask(question, bounded(history))

    def stream(self, question: str, history=None) -> Iterator:
        with self.using() as bot:
            yield from bot.stream(question, bounded(history))

    def _maybe_refresh(self) -> None:
        if not self._follow and self._current is not None:
            return
        every = self._check_every_s if self._current is not None else self._retry_every_s
        if time.monotonic() - self._last_try < every or not self._loading.acquire(blocking=False):
            return
        try:
            self._last_try = time.monotonic()
            if self._current is None:
                self._load()
            else:
                self._follow_pointer()
        finally:
            self._loading.release()

    def _follow_pointer(self) -> None:
        client = self._current.bot.retriever.index.client
        try:
            record = read_pointer(client)
        except BotError as exc:  # the store is unreachable: keep what is loaded; /healthz reports it
            log.warning("cannot read the index pointer: %s", exc)
            return
        if record is not None and record.get("active") != self._current.generation:
            log.info("index generation changed to %s; loading it", record["active"])
            self._lease(also=record["active"])  # before reading it, so no ingest deletes it meanwhile
            self._load()
        elif time.monotonic() - self._last_lease > LEASE_RENEW_S:
            self._lease()

    def _load(self) -> None:
        from bot.chain import Bot
        from bot.embeddings import make_embeddings

        try:
            # Keep the embedder across loads: loading it is the slow part.
            self._embeddings = self._embeddings or make_embeddings(self.settings.embeddings)
            bot = Bot.from_settings(self.settings, self._embeddings)
        except BotError as exc:
            self.error = str(exc)
            log.warning("bot not ready: %s", exc)
            return
        loaded = _Loaded(bot, _generation_of(bot))
        with self._lock:
            old, self._current = self._current, loaded
            if old is not None and old.users:
                self._old.append(old)
                old = None
        self.error = ""
        self._lease()
        if old is not None:
            self._retire(old)

    def _lease(self, also: str = "") -> None:
        with self._lock:
            in_use = {g.generation for g in [self._current, *self._old] if g is not None and g.generation}
            client = self._current.bot.retriever.index.client if self._current is not None else None
        if client is None:
            return
        try:
            hold(client, self.reader, in_use | ({also} if also else set()))
            self._last_lease = time.monotonic()
        except Exception as exc:
            log.warning("cannot renew the index lease: %s", exc)

    def _retire(self, old: _Loaded) -> None:
        """Nothing runs on `old` any more: let go of its generation, and delete it if no one else holds it."""
        with self._lock:
            if any(g.generation == old.generation for g in [self._current, *self._old] if g is not None):
                return
        self._lease()
        try:
            if drop_if_unused(old.bot.retriever.index.client, old.generation, self.reader):
                log.info("deleted index generation %s", old.generation)
        except Exception as exc:  # it stays an orphan; the next ingest removes it
            log.warning("cannot delete index generation %s: %s", old.generation, exc)


class _HeldBot:
    """What Slack and the chat need of a Bot, resolved per question through the holder."""

    def __init__(self, holder: BotHolder) -> None:
        self._holder = holder

    def ask(self, question: str, history: list[dict] | None = None):
        return self._holder.ask(question, history)

    def stream(self, question: str, history: list[dict] | None = None):
        return self._holder.stream(question, history)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it passes `limit` bytes (so a huge upload is never held in memory)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    parts, size = [], 0
    try:
        async for part in request.stream():
            size += len(part)
            if size > limit:
                return None
            parts.append(part)
    except ClientDisconnect:  # the Doors middleware cut it off (or the client left): treat as too big
        return None
    return b"".join(parts)


def _check_body(body) -> str:
    """Why a parsed /api/ask body is unusable, or "" when it is fine."""
    if not isinstance(body, dict):
        return 'body must be a JSON object: {"question": "...", "history": [...]}'
    if "question" not in body:
        return "missing field `question`"
    if not isinstance(body["question"], str):
        return "`question` must be a string"
    return history_problem(body.get("history", []))


# --- every request passes here first ------------------------------------------------------------


class Doors:
    """ASGI middleware in front of the whole app, run before any route reads a body.

    - A method a route of ours does not take gets 405 with Allow (Gradio's mount at "/" would
      answer 404 for anything it does not know).
    - Upload routes of Gradio's are closed: the chat has no file input, so nothing may write files.
    - Bodies are capped per path: a Content-Length over the cap gets 413 at once; a body without
      one is counted as it arrives and cut off at the cap.
    - Every response carries a Content-Security-Policy that lets the page load images only from
      this server, so Markdown in a question or an LLM reply cannot make the browser call out.
    """

    def __init__(self, app, methods: dict[str, set[str]], limits: dict[str, int], default_limit: int) -> None:
        self.app = app
        self.methods = methods
        self.limits = limits
        self.default_limit = default_limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        allowed = self.methods.get(path)
        if allowed is not None and method not in allowed:
            await _send_json(send, 405, f"{method} is not allowed on {path}; use {', '.join(sorted(allowed))}", allowed)
            return
        if method in ("POST", "PUT", "PATCH") and path.rstrip("/").rsplit("/", 1)[-1] in CLOSED_GRADIO_ROUTES:
            await _send_json(send, 404, "not found")
            return
        limit = self.limits.get(path, self.default_limit)
        lengths = [v for k, v in scope["headers"] if k == b"content-length"]
        if lengths:
            if len(lengths) > 1 or not lengths[0].isdigit():
                await _send_json(send, 400, "bad Content-Length header")
                return
            if int(lengths[0]) > limit:
                await _send_json(send, 413, f"body over {limit} bytes")
                return

        received = 0
        refused = False  # the 413 was sent; whatever the app answers afterwards is dropped

        async def capped_receive():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await _send_json(send, 413, f"body over {limit} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if refused:
                return
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"content-security-policy", CSP.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, capped_receive, guarded_send)


async def _send_json(send, status: int, message: str, allow: set[str] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if allow:
        headers.append((b"allow", ", ".join(sorted(allow)).encode()))
    headers.append((b"content-security-policy", CSP.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --- the OpenAPI description of /api/ask and /healthz ------------------------------------------

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "what was wrong and how to fix it"}},
}
_TURN = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {"role": {"type": "string", "enum": ["user", "assistant"]}, "content": {"type": "string"}},
}
ASK_BODY = {
    "type": "object",
    "required": ["question"],
    "properties": {
        "question": {"type": "string", "description": "cut to BOT_MAX_QUESTION_CHARS characters, with a notice"},
        "history": {
            "type": "array",
            "items": _TURN,
            "default": [],
            "description": f"earlier turns, oldest first; only the last {MAX_TURNS} are used, each cut to {MAX_TURN_CHARS} characters",
        },
    },
}
_STR_LIST = {"type": "array", "items": {"type": "string"}}
ANSWER = {
    "type": "object",
    "required": ["text", "lang", "intent", "entities", "refused", "citations", "retrieved", "backend", "timings_ms"],
    "properties": {
        "text": {"type": "string", "description": "Markdown with [n] citation markers"},
        "lang": {"type": "string"},
        "intent": {"type": "string", "description": "classify | compare | explain | list | correct | refuse | chat"},
        "entities": _STR_LIST,
        "refused": {"type": "boolean"},
        "citations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["n", "doc_id", "entity", "title", "snippet", "source"],
                "properties": {
                    "n": {"type": "integer"},
                    **{k: {"type": "string"} for k in ("doc_id", "entity", "title", "snippet", "source", "chunk_id", "heading")},
                },
            },
        },
        "retrieved": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["chunk_id", "doc_id", "entity"],
                "properties": {
                    "chunk_id": {"type": "string"},
                    "doc_id": {"type": "string"},
                    "entity": {"type": "string"},
                    "score": {"type": "number"},
                },
            },
        },
        "backend": {"type": "string", "description": "composer | openai:MODEL"},
        "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}},
        "notices": _STR_LIST,
        "question": {"type": "string", "description": "the question as understood (cleaned, maybe cut)"},
        "standalone": {"type": "string"},
    },
}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ASK_RESPONSES = {
    200: _json(ANSWER, "the answer (the Answer object of INTERFACES.md)"),
    400: _json(_ERROR, "the body is not JSON, or the question is empty"),
    413: _json(_ERROR, f"the body is over {MAX_BODY_BYTES} bytes"),
    422: _json(_ERROR, "the JSON does not have the shape of the request body"),
    429: _json(_ERROR, "over BOT_RATE_LIMIT requests a minute from this client; see Retry-After"),
    503: _json(_ERROR, "the index is missing or unreadable, or the Chroma server is down; the error says the fix"),
    504: _json(_ERROR, f"no answer within {ASK_TIMEOUT_S:g} s"),
}
HEALTH = {
    "type": "object",
    "required": ["ok", "index", "chunks"],
    "properties": {
        "ok": {"type": "boolean"},
        "index": {"type": "boolean"},
        "chunks": {"type": "integer"},
        "generation": {"type": "string"},
        "error": {"type": "string"},
        **{k: {"type": "string"} for k in ("version", "embedder", "llm", "chroma")},
        "slack": {"type": "boolean"},
    },
}


def create_app(settings: Settings, bot=None, *, timeout_s: float = ASK_TIMEOUT_S) -> FastAPI:
    """Build the whole server; loads the bot now unless one is given (a missing index is reported, not fatal)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from bot.feedback import FeedbackStore
    from bot.ui import CSS, build_ui, theme

    holder = BotHolder(settings, bot)
    if bot is None:
        holder._maybe_refresh()
    limiter = RateLimiter(settings.rate_limit)
    held = _HeldBot(holder)
    app = FastAPI(title="Virtualization Q&A bot", version=bot_package.__version__)
    app.state.holder = holder

    @app.post(
        "/api/ask",
        summary="Answer one question",
        description="Takes the question and the conversation so far; answers with citations. Bad input gets a 4xx with "
        '{"error": ...}, never a 500.',
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": ASK_BODY}}}},
        responses=ASK_RESPONSES,
    )
    async def api_ask(request: Request):
        who = request.client.host if request.client else "?"
        if not limiter.allow(f"ip:{who}"):
            wait = limiter.retry_after(f"ip:{who}")
            response = _error(429, f"too many requests: the limit is {settings.rate_limit} a minute; retry in {wait} s")
            response.headers["Retry-After"] = str(wait)
            return response
        raw = await read_capped(request, MAX_BODY_BYTES)
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
            # The holder is asked in the worker thread: following a new index generation reads Chroma.
            answer = await asyncio.wait_for(asyncio.to_thread(held.ask, body["question"], body.get("history", [])), timeout_s)
        except TimeoutError:
            return _error(504, f"no answer within {timeout_s:g} s; the request was cut off — try again or ask a shorter question")
        except BadQuestion as exc:
            return _error(400, str(exc))
        except BotError as exc:
            return _error(503, public_message(str(exc)))
        return answer.to_dict()

    @app.get(
        "/healthz",
        summary="Whether questions can be answered now",
        description="Runs one retrieval against the open index; 503 with the fix when that fails.",
        responses={200: _json(HEALTH, "the index answers"), 503: _json(HEALTH, "no question can be answered now")},
    )
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
            with holder.using() as current:
                # A real query: the pointer may have moved or the store broken under a loaded bot.
                current.retriever.search("KVM", 1)
                chunks, generation = len(current.retriever.chunks), _generation_of(current)
                info.update(embedder=current.embedder, llm=current.backend)
        except BotError as exc:
            return JSONResponse(
                {"ok": False, "index": False, "chunks": 0, "error": public_message(str(exc)), **info}, status_code=503
            )
        return {"ok": True, "index": True, "chunks": chunks, "generation": generation, **info}

    try:
        from bot.slack import mount_slack
    except ImportError as exc:
        log.warning("Slack endpoint not mounted: %s", exc)
    else:
        # Slack asks through the holder, so it works once the index appears even if it was missing at start.
        mount_slack(app, settings, held, limiter)

    methods = {r.path: set(r.methods) for r in app.routes if isinstance(r, APIRoute)}
    demo = build_ui(holder, settings, FeedbackStore(settings.data_dir / "feedback"), timeout_s=timeout_s)
    demo.queue(default_concurrency_limit=4, max_size=64)
    # Mounted last: the Gradio app at "/" would otherwise shadow the routes above.
    app = gr.mount_gradio_app(app, demo, path="/", ssr_mode=False, theme=theme(), css=CSS, footer_links=[])
    limits = {"/api/ask": MAX_BODY_BYTES, "/slack/events": SLACK_MAX_BODY_BYTES}
    app.add_middleware(Doors, methods=methods, limits=limits, default_limit=MAX_UI_BODY_BYTES)
    return app


def server_config(settings: Settings, app, host: str = "127.0.0.1", port: int = 7860):
    """uvicorn's configuration for `serve`: X-Forwarded-For is believed only from BOT_TRUSTED_PROXIES."""
    import uvicorn

    trusted = settings.trusted_proxies
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        timeout_graceful_shutdown=5,
        log_level="warning",
        # uvicorn's default trusts the header from 127.0.0.1, so anyone on this host could pick
        # a new address per request and never be rate limited.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Run the server until interrupted."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    print(f"serving on http://{host}:{port}", flush=True)
    uvicorn.Server(server_config(settings, app, host, port)).run()
