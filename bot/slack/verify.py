"""Checks on a Slack request before Bolt sees it: the signature headers' shape, the body's shape."""

from __future__ import annotations

import re

from fastapi import Request
from slack_bolt.request.internals import parse_body

# Slack signs with the time of sending; older (or future) requests are replays.
MAX_AGE_S = 5 * 60
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def unsigned(headers, now: float) -> str:
    """Why the signature headers cannot be right, or "" when they are worth checking against the body."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    if not _TIMESTAMP.fullmatch(timestamp):
        return "missing or malformed X-Slack-Request-Timestamp"
    if abs(now - int(timestamp)) > MAX_AGE_S:
        return "X-Slack-Request-Timestamp is more than 5 minutes off"
    if not _SIGNATURE.fullmatch(headers.get("x-slack-signature", "")):
        return "missing or malformed X-Slack-Signature"
    return ""


def replayed(request: Request, raw: bytes) -> Request:
    """The same request with its body already read, for Bolt (which reads it again)."""

    async def receive() -> dict:
        return {"type": "http.request", "body": raw, "more_body": False}

    return Request(request.scope, receive)


def malformed(text: str, content_type: str | None) -> str:
    """Why a signed body is not something Slack sends, or "" when Bolt can take it (parsed as Bolt does)."""
    try:
        body = parse_body(text, (content_type or "").split(";")[0].strip() or None)
    except (ValueError, RecursionError):
        return "body is not JSON or form data"
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("event", {}), dict):
        return "`event` must be an object"
    return ""
