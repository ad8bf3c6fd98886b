"""Slack: mentions, direct messages and the /vq slash command on POST /slack/events (Bolt, in FastAPI).

Protocol details Bolt takes care of, and that the tests check:
- Every request carries X-Slack-Signature = "v0=" + HMAC-SHA256(signing secret, "v0:{timestamp}:{raw body}")
  and X-Slack-Request-Timestamp; Bolt compares in constant time and rejects timestamps more than
  5 minutes off, answering 401.
- Slack expects the HTTP answer within 3 s, or it retries the delivery (same event_id, header
  X-Slack-Retry-Num). Listeners run after the ack, so answering happens in the background.

What this module adds: the headers are checked, and the body read up to a cap, before anything
else (a malformed timestamp or signature is a 401, a body over the cap a 413, so no unsigned
request can make the server hold more than the cap); de-duplication by event_id and by
channel+ts (a mention in a DM can arrive as both app_mention and message) in SQLite, so a retry
or a restart never answers twice, while a retry whose first delivery never arrived, or whose
first answer died with its process, is still answered; replies in the thread with the thread's
earlier turns as history; the slash command answered through its response_url.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import unicodedata

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.answer import Answer
from bot.errors import BadQuestion, BotError, public_message
from bot.history import bounded
from bot.lexicon import load_lexicon
from bot.ratelimit import RateLimiter
from bot.settings import Settings
from bot.slack.dedup import DedupStore
from bot.slack.format import answer_messages, escape
from bot.slack.verify import malformed, replayed, unsigned
from bot.web import read_capped

log = logging.getLogger(__name__)

# Earlier thread messages handed to the bot as history.
MAX_HISTORY_TURNS = 10
# 429 answers are retried after the Retry-After the server asks for, this many times. Nothing
# else is retried: a post that may have reached Slack must not be sent again.
MAX_RATE_LIMIT_RETRIES = 3


def _say(key: str, **slots: str) -> str:
    """The Slack app's own words (bot/lexicon/phrases.en.toml; the app speaks English, answers follow the asker)."""
    return load_lexicon().phrases["en"][key].format(**slots)


_ACCEPTED_SUBTYPES = (None, "file_share", "thread_broadcast")
# Bigger bodies are refused before they are read; Slack's are a few kB.
MAX_BODY_BYTES = 1_000_000


def mount_configured(app: FastAPI, settings: Settings, bot, limiter: RateLimiter | None = None) -> None:
    """Add POST /slack/events, served by Bolt, to the FastAPI app (Slack is configured: see bot.slack.mount)."""
    handler = AsyncSlackRequestHandler(build_slack_app(settings, bot, limiter=limiter))
    verifier = SignatureVerifier(settings.slack_signing_secret)

    @app.post(
        "/slack/events",
        summary="Slack Events API and the /vq slash command",
        description="Every request must carry Slack's signature headers; see slack/README.md.",
        responses={
            200: {"description": "acknowledged; the answer follows in the thread"},
            **{code: {"description": why, "content": {"application/json": {"schema": _ERROR_SCHEMA}}} for code, why in _ERRORS},
        },
    )
    async def slack_events(request: Request):
        problem = unsigned(request.headers, time.time())
        if problem:  # checked before a byte of the body is read
            return JSONResponse({"error": problem}, status_code=401)
        raw = await read_capped(request, MAX_BODY_BYTES)
        if raw is None:
            return JSONResponse({"error": f"body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:  # Slack always sends UTF-8
            return JSONResponse({"error": "body is not UTF-8"}, status_code=400)
        if not verifier.is_valid_request(text, dict(request.headers)):
            return JSONResponse({"error": "invalid Slack signature or timestamp"}, status_code=401)
        problem = malformed(text, request.headers.get("content-type"))
        if problem:  # Bolt would fail on these with a 500 (and Slack would retry them)
            return JSONResponse({"error": problem}, status_code=400)
        return await handler.handle(replayed(request, raw))


_ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
_ERRORS = [
    (400, "signed, but not something Slack sends"),
    (401, "missing, malformed, stale or wrong signature headers"),
    (413, f"body over {MAX_BODY_BYTES} bytes"),
    (503, "Slack is not configured on this server"),
]


def build_slack_app(settings: Settings, bot, store: DedupStore | None = None, limiter: RateLimiter | None = None) -> AsyncApp:
    """The Bolt app with our listeners; its Web API client talks to settings.slack_api_url."""
    client = AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=MAX_RATE_LIMIT_RETRIES)],
    )
    slack = AsyncApp(signing_secret=settings.slack_signing_secret, client=client)
    responder = SlackResponder(
        bot, store or DedupStore.in_data_dir(settings.data_dir), limiter or RateLimiter(settings.rate_limit)
    )
    slack.event("app_mention")(responder.on_mention)
    slack.event("message")(responder.on_message)
    slack.command("/vq")(responder.on_command)
    return slack


class SlackResponder:
    """The listeners: decide whether to answer, ask the bot off the event loop, post the reply."""

    def __init__(self, bot, store: DedupStore, limiter: RateLimiter) -> None:
        self.bot = bot
        self.store = store
        self.limiter = limiter

    async def on_mention(self, body: dict, event: dict, context, client: AsyncWebClient) -> None:
        await self._on_event(body, event, context, client)

    async def on_message(self, body: dict, event: dict, context, client: AsyncWebClient) -> None:
        # Only direct messages; in channels the bot answers when mentioned (app_mention).
        if event.get("channel_type") == "im":
            await self._on_event(body, event, context, client)

    async def _on_event(self, body: dict, event: dict, context, client: AsyncWebClient) -> None:
        if is_ignorable(event, context.bot_user_id, context.bot_id) or not _well_formed(event):
            return
        channel, ts = event["channel"], event["ts"]
        keys = [f"msg:{channel}:{ts}"]
        if body.get("event_id"):
            keys.insert(0, f"event:{body['event_id']}")
        if not self.store.claim(keys):
            log.info("slack: already answered or being answered: %s", " / ".join(keys))
            return
        # From here until `done`, a crash leaves the keys "in progress": a retry then answers.
        thread_ts = event.get("thread_ts") or ts
        question = clean_text(event.get("text", ""), context.bot_user_id)
        if not self.limiter.allow(f"slack:{event.get('user', '')}"):
            answer = _notice(_say("slack_too_fast"))
        else:
            history = await self._history(client, channel, event.get("thread_ts"), ts, context.bot_user_id, context.bot_id)
            answer = await self._ask(question, history)
        for text, blocks in answer_messages(answer):
            try:
                await client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
                )
            except Exception:  # logged, never retried: the post may have reached Slack
                log.exception("slack: chat.postMessage to %s failed", channel)
                break
        self.store.done(keys)

    async def on_command(self, ack, command: dict) -> None:
        question = clean_text(command.get("text", ""), None)
        if not question:
            await ack(text=_say("slack_usage"))
            return
        if not self.limiter.allow(f"slack:{command.get('user_id', '')}"):
            await ack(text=_say("slack_too_fast"))
            return
        await ack(text=_say("slack_looking", question=escape(question)))
        answer = await self._ask(question, [])
        header = _say("slack_asked", user=f"<@{command.get('user_id', '')}>", question=escape(question))
        webhook = AsyncWebhookClient(
            command["response_url"], retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=MAX_RATE_LIMIT_RETRIES)]
        )
        for text, blocks in answer_messages(answer, header):
            try:
                resp = await webhook.send(text=text, blocks=blocks, response_type="in_channel", replace_original=False)
            except Exception:
                log.exception("slack: posting to response_url failed")
                return
            if resp.status_code != 200:
                log.warning("slack: response_url answered %s: %s", resp.status_code, resp.body)
                return

    async def _ask(self, question: str, history: list[dict]) -> Answer:
        if not question:
            return _notice(_say("slack_usage"))
        try:
            return await asyncio.to_thread(self.bot.ask, question, bounded(history))
        except BadQuestion as e:
            return _notice(f"{e}. {_say('slack_usage')}")
        except BotError as e:  # e.g. the index is missing: say so instead of a generic apology
            return _notice(public_message(str(e)))
        except Exception:
            log.exception("slack: answering %r failed", question)
            return _notice(_say("slack_failed"))

    async def _history(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str | None,
        before_ts: str,
        bot_user_id: str | None,
        bot_id: str | None,
    ) -> list[dict]:
        """The thread's earlier messages as {"role", "content"} turns (none outside a thread)."""
        if not thread_ts or thread_ts == before_ts:
            return []
        try:
            resp = await client.conversations_replies(channel=channel, ts=thread_ts, limit=100)
        except Exception:  # history is a nicety: answer without it
            log.warning("slack: conversations.replies failed for %s/%s", channel, thread_ts, exc_info=True)
            return []
        turns = []
        for m in resp.get("messages") or []:
            if _ts_key(m.get("ts", "0")) >= _ts_key(before_ts):
                continue
            ours = (bot_user_id and m.get("user") == bot_user_id) or (bot_id and m.get("bot_id") == bot_id)
            if m.get("bot_id") and not ours:
                continue  # other bots' chatter is not part of the conversation with us
            text = clean_text(m.get("text", ""), bot_user_id)
            if text:
                turns.append({"role": "assistant" if ours else "user", "content": text})
        return turns[-MAX_HISTORY_TURNS:]


def is_ignorable(event: dict, bot_user_id: str | None, bot_id: str | None = None) -> bool:
    """True for bot messages (ours or others'), edits, joins and other non-question events."""
    if event.get("bot_id") or event.get("subtype") not in _ACCEPTED_SUBTYPES:
        return True
    return not event.get("user") or event.get("user") == bot_user_id


def _well_formed(event: dict) -> bool:
    """Slack always sends these as strings; anything else is garbage that would fail after the ack."""
    return all(isinstance(event.get(k), str) for k in ("channel", "ts")) and isinstance(event.get("text", ""), str)


def clean_text(text: str, bot_user_id: str | None) -> str:
    """Slack message text -> the question: drop the bot's mention, unwrap links, unescape &amp; etc.

    Invisible format characters (bidi overrides, zero-width joiners, word joiners: Unicode's Cf)
    go too, so the question echoed in "asked:" reads as what the user sees.
    """
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    text = re.sub(r"<@([A-Z0-9]+)\|([^>]+)>", r"@\2", text)
    text = re.sub(r"<#[A-Z0-9]+\|([^>]+)>", r"#\1", text)
    text = re.sub(r"<(?:https?|mailto):[^|>]*\|([^>]+)>", r"\1", text)
    text = re.sub(r"<((?:https?|mailto):[^>]+)>", r"\1", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"\s+", " ", text).strip()


def _notice(text: str) -> Answer:
    return Answer(text=text, lang="en", intent="chat", entities=[], refused=False)


def _ts_key(ts: str) -> tuple[int, ...]:
    # Slack timestamps like "1700000000.000100" are ids; compare them exactly, not as floats.
    try:
        return tuple(int(part) for part in ts.split("."))
    except ValueError:
        return (0,)
