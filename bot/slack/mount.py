"""POST /slack/events: Bolt's handler when Slack is configured, else a 503 that says what to set.

Bolt and aiohttp take about a quarter of a second to import, so a server without Slack
credentials never imports them (bot.slack.events is imported only when they are set).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bot.ratelimit import RateLimiter
from bot.settings import Settings


def missing_settings(settings: Settings) -> list[str]:
    """The Slack settings that are not set; empty when Slack is configured."""
    named = (("BOT_SLACK_SIGNING_SECRET", settings.slack_signing_secret), ("BOT_SLACK_BOT_TOKEN", settings.slack_bot_token))
    return [name for name, value in named if not value]


def mount_slack(app: FastAPI, settings: Settings, bot, limiter: RateLimiter | None = None) -> None:
    """Add POST /slack/events to the FastAPI app (503 with the fix when Slack is not configured).

    `limiter` is the server's one rate limiter (Slack users are keyed "slack:USER"); by default a new one.
    """
    missing = missing_settings(settings)
    if not missing:
        from bot.slack.events import mount_configured

        mount_configured(app, settings, bot, limiter)
        return
    message = f"Slack is not configured: set {' and '.join(missing)} (see slack/README.md)"

    @app.post("/slack/events")
    async def slack_not_configured() -> JSONResponse:
        return JSONResponse({"error": message}, status_code=503)
