"""A small SQLite store of Slack deliveries, so retries and restarts answer each question exactly once.

A delivery's keys are first claimed "in progress" by one process, then marked "done" once the
reply was posted (or posting failed in a way that may have reached Slack). A retry finds "done"
and is dropped; it finds "in progress" and is dropped too, unless the process that claimed it is
gone (it crashed between the claim and the post), in which case the retry takes over and answers.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path

# Slack retries a delivery for about an hour; keep keys a week so a late retry is still recognised.
KEEP_SECONDS = 7 * 24 * 3600
# A claim still "in progress" after this long is abandoned even if its owner can't be checked
# (another host); an answer takes at most 30 s plus posting.
STALE_SECONDS = 300
IN_PROGRESS, DONE = "progress", "done"


class DedupStore:
    """Remembers keys (event ids, channel+ts) in data_dir/slack/dedup.sqlite3; safe across processes."""

    def __init__(self, path: Path, clock=time.time) -> None:
        self.path = path
        self.clock = clock
        # Who claims: host, process and this store's instance (the pid alone can be reused).
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; survives restarts
            with db:
                db.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL)")
                columns = {row[1] for row in db.execute("PRAGMA table_info(seen)")}
                if "state" not in columns:  # stores from before the in-progress state: every key was answered
                    db.execute(f"ALTER TABLE seen ADD COLUMN state TEXT NOT NULL DEFAULT '{DONE}'")
                    db.execute("ALTER TABLE seen ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
                db.execute("DELETE FROM seen WHERE at < ?", (self.clock() - KEEP_SECONDS,))
        finally:
            db.close()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> DedupStore:
        return cls(data_dir / "slack" / "dedup.sqlite3")

    def claim(self, keys: list[str]) -> bool:
        """Claim all keys "in progress" and return True, or return False (changing nothing) if any is
        done or being answered by a live process.

        One transaction, so two deliveries racing (even in two processes) cannot both win.
        """
        now = self.clock()
        db = self._connect()
        try:
            with db:
                db.execute("BEGIN IMMEDIATE")  # take the write lock before reading, so the check and the claim are one step
                for key in keys:
                    row = db.execute("SELECT state, owner, at FROM seen WHERE key = ?", (key,)).fetchone()
                    if row is not None and not self._abandoned(*row, now):
                        return False
                db.executemany(
                    "INSERT OR REPLACE INTO seen (key, at, state, owner) VALUES (?, ?, ?, ?)",
                    [(k, now, IN_PROGRESS, self.owner) for k in keys],
                )
            return True
        finally:
            db.close()

    def done(self, keys: list[str]) -> None:
        """Mark claimed keys answered: no retry answers them again."""
        db = self._connect()
        try:
            with db:
                db.executemany("UPDATE seen SET state = ?, at = ? WHERE key = ?", [(DONE, self.clock(), k) for k in keys])
        finally:
            db.close()

    def seen(self, key: str) -> bool:
        db = self._connect()
        try:
            return db.execute("SELECT 1 FROM seen WHERE key = ?", (key,)).fetchone() is not None
        finally:
            db.close()

    def state(self, key: str) -> str | None:
        """The key's state: "progress", "done", or None if never claimed."""
        db = self._connect()
        try:
            row = db.execute("SELECT state FROM seen WHERE key = ?", (key,)).fetchone()
            return row[0] if row else None
        finally:
            db.close()

    def _abandoned(self, state: str, owner: str, at: float, now: float) -> bool:
        """Whether an existing claim may be taken over: in progress, and its owner is gone or silent too long."""
        if state != IN_PROGRESS or owner == self.owner:
            return False
        if now - at > STALE_SECONDS:
            return True
        host, _, rest = owner.partition(":")
        pid, _, instance = rest.partition(":")
        if host != socket.gethostname() or not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, someone else's
            return False
        return False

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)
