"""The web server: Gradio chat at `/`, `POST /api/ask`, `GET /healthz` and Slack, in one FastAPI app."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

import bot as bot_package
from bot.errors import BadQuestion, BotError, public_message
from bot.lexicon import load_lexicon
from bot.ratelimit import RateLimiter
from bot.settings import Settings
from bot.web.doors import Doors, check_body, error_response, read_capped
from bot.web.holder import BotHolder, HeldBot, generation_of
from bot.web.late import LateUi, pages
from bot.web.limits import (
    ASK_TIMEOUT_S,
    MAX_BODY_BYTES,
    MAX_UI_BODY_BYTES,
    SLACK_MAX_BODY_BYTES,
)
from bot.web.schema import ASK_BODY, ASK_RESPONSES, HEALTH, json_response

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    bot=None,
    *,
    timeout_s: float = ASK_TIMEOUT_S,
    defer_ui: bool = False,
    chat: Callable[[], object] | None = None,
    embeddings=None,
) -> FastAPI:
    """Build the whole server; loads the bot now unless one is given (a missing index is reported, not fatal).

    `chat` builds the app served at `/` (default: the Gradio chat); with `defer_ui` it is built on a
    thread once the server has started, so the API and Slack answer while it loads (bot.web.late).
    `embeddings` is an embedder already loading (see `bot serve`), else the holder makes one.
    """
    holder = BotHolder(settings, bot, embeddings=embeddings)
    if bot is None:
        holder._maybe_refresh()
    limiter = RateLimiter(settings.rate_limit)
    held = HeldBot(holder)
    ui = LateUi(chat or (lambda: gradio_chat(holder, settings, timeout_s)), pages(load_lexicon().phrases))
    if not defer_ui:
        ui.build_now()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        await ui.start()
        try:
            yield
        finally:
            await ui.stop()

    app = FastAPI(title="Virtualization Q&A bot", version=bot_package.__version__, lifespan=lifespan)
    app.state.holder = holder
    app.state.ui = ui

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
            response = error_response(429, f"too many requests: the limit is {settings.rate_limit} a minute; retry in {wait} s")
            response.headers["Retry-After"] = str(wait)
            return response
        raw = await read_capped(request, MAX_BODY_BYTES)
        if raw is None:
            return error_response(
                413, f"body over {MAX_BODY_BYTES} bytes; questions are cut to {settings.max_question_chars} characters"
            )
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands of levels deep
            return error_response(400, 'body is not valid JSON; send {"question": "...", "history": []}')
        problem = check_body(body)
        if problem:
            return error_response(422, problem)
        try:
            # The holder is asked in the worker thread: following a new index generation reads Chroma.
            answer = await asyncio.wait_for(asyncio.to_thread(held.ask, body["question"], body.get("history", [])), timeout_s)
        except TimeoutError:
            return error_response(
                504, f"no answer within {timeout_s:g} s; the request was cut off — try again or ask a shorter question"
            )
        except BadQuestion as exc:
            return error_response(400, str(exc))
        except BotError as exc:
            return error_response(503, public_message(str(exc)))
        return answer.to_dict()

    @app.get(
        "/healthz",
        summary="Whether questions can be answered now",
        description="Runs one retrieval against the open index; 503 with the fix when that fails.",
        responses={
            200: json_response(HEALTH, "the index answers"),
            503: json_response(HEALTH, "no question can be answered now"),
        },
    )
    def healthz():
        # Which backends are configured, never their keys or secrets.
        info = {
            "version": bot_package.__version__,
            "embedder": settings.embeddings,
            "llm": settings.llm or "composer",
            "chroma": "server" if settings.chroma_url else "embedded",
            "slack": bool(settings.slack_signing_secret and settings.slack_bot_token),
            "ui": str(ui.state),
        }
        try:
            with holder.using() as current:
                # A real query: the pointer may have moved or the store broken under a loaded bot.
                current.retriever.search("KVM", 1)
                chunks, generation = len(current.retriever.chunks), generation_of(current)
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
    # Mounted last: the chat at "/" would otherwise shadow the routes above.
    app.mount("/", ui)
    limits = {"/api/ask": MAX_BODY_BYTES, "/slack/events": SLACK_MAX_BODY_BYTES}
    app.add_middleware(Doors, methods=methods, limits=limits, default_limit=MAX_UI_BODY_BYTES)
    return app


def gradio_chat(holder: BotHolder, settings: Settings, timeout_s: float) -> FastAPI:
    """The Gradio chat as an app of its own (served at `/` by LateUi)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from bot.web.feedback import FeedbackStore
    from bot.web.ui import CSS, build_ui, theme

    demo = build_ui(holder, settings, FeedbackStore(settings.data_dir / "feedback"), timeout_s=timeout_s)
    demo.queue(default_concurrency_limit=4, max_size=64)
    return gr.mount_gradio_app(FastAPI(), demo, path="/", ssr_mode=False, theme=theme(), css=CSS, footer_links=[])


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


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, app=None) -> None:
    """Run the server (`app`, or one made here) until interrupted; the chat at `/` comes up a few seconds after the API."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = app or create_app(settings, defer_ui=True)
    print(f"serving on http://{host}:{port}", flush=True)
    uvicorn.Server(server_config(settings, app, host, port)).run()
