"""Every request passes here first: body caps, header checks, closed routes, 405s, error bodies."""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from bot.history import problem as history_problem
from bot.web.limits import (
    CLOSED_GRADIO_ROUTES,
    CSP,
)


def error_response(status: int, message: str) -> JSONResponse:
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


def check_body(body) -> str:
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
