"""A small SQLite store of Slack deliveries already handled, so retries and restarts never answer twice."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

# Slack retries a delivery for about an hour; keep keys a week so a late retry is still recognised.
KEEP_SECONDS = 7 * 24 * 3600


class DedupStore:
    """Remembers keys (event ids, channel+ts) in data_dir/slack/dedup.sqlite3; safe across processes."""

    def __init__(self, path: Path, clock=time.time) -> None:
        self.path = path
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; survives restarts
            with db:
                db.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL)")
                db.execute("DELETE FROM seen WHERE at < ?", (self.clock() - KEEP_SECONDS,))
        finally:
            db.close()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> DedupStore:
        return cls(data_dir / "slack" / "dedup.sqlite3")

    def claim(self, keys: list[str]) -> bool:
        """Record all keys and return True, or return False (recording nothing) if any was seen before.

        One transaction, so two deliveries racing (even in two processes) cannot both win.
        """
        db = self._connect()
        try:
            with db:
                db.executemany("INSERT INTO seen (key, at) VALUES (?, ?)", [(k, self.clock()) for k in keys])
            return True
        except sqlite3.IntegrityError:
            return False
        finally:
            db.close()

    def seen(self, key: str) -> bool:
        db = self._connect()
        try:
            return db.execute("SELECT 1 FROM seen WHERE key = ?", (key,)).fetchone() is not None
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)
