"""The one rate limiter: a rolling 60 s window per key (a client address on the API, a user on Slack)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

# Above this many keys, keys with no request in the last minute are forgotten.
SWEEP_ABOVE = 10_000


class RateLimiter:
    """At most `per_minute` requests per key in any 60 s window; 0 disables the limit. Thread-safe."""

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        if self.per_minute <= 0:
            return True
        now = self.clock()
        with self._lock:
            if len(self._seen) > SWEEP_ABOVE:
                self._seen = {k: v for k, v in self._seen.items() if v and now - v[-1] <= 60}
            seen = self._seen.setdefault(key, deque())
            while seen and now - seen[0] > 60:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return False
            seen.append(now)
            return True

    def retry_after(self, key: str) -> int:
        """Whole seconds until `key` may ask again (for the Retry-After header)."""
        with self._lock:
            seen = self._seen.get(key)
            if not seen:
                return 1
            return max(1, math.ceil(60 - (self.clock() - seen[0])))
