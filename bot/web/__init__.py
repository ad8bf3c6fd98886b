"""The web front end: one FastAPI process serving the chat, the HTTP API and Slack."""

from bot.web.app import create_app, serve, server_config
from bot.web.doors import read_capped
from bot.web.holder import BotHolder

__all__ = ["BotHolder", "create_app", "read_capped", "serve", "server_config"]
