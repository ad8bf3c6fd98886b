"""The bot the server answers with, following the active index generation (no restart after an ingest)."""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bot.errors import BotError
from bot.history import bounded
from bot.settings import Settings
from bot.store import drop_if_unused, hold, read_pointer
from bot.web.limits import (
    LEASE_RENEW_S,
)

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Loaded:
    """One loaded Bot and the index generation it answers from; `users` counts requests running on it."""

    bot: object
    generation: str
    users: int = 0


def generation_of(bot) -> str:
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

    def __init__(
        self, settings: Settings, bot=None, *, retry_every_s: float = 5.0, check_every_s: float = 1.0, embeddings=None
    ) -> None:
        self.settings = settings
        self.error = ""
        self.reader = uuid.uuid4().hex[:12]  # this process's name on its lease
        self._follow = bot is None
        self._current = _Loaded(bot, generation_of(bot)) if bot is not None else None
        self._old: list[_Loaded] = []  # replaced, with requests still running on them
        self._embeddings = embeddings  # kept across loads: loading the encoder is the slow part
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
        loaded = _Loaded(bot, generation_of(bot))
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


class HeldBot:
    """What Slack and the chat need of a Bot, resolved per question through the holder."""

    def __init__(self, holder: BotHolder) -> None:
        self._holder = holder

    def ask(self, question: str, history: list[dict] | None = None):
        return self._holder.ask(question, history)

    def stream(self, question: str, history: list[dict] | None = None):
        return self._holder.stream(question, history)
