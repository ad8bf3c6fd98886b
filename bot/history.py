"""Conversation history as the bot takes it: well-formed turns only, and a bounded amount of them.

Every front end (the HTTP API, the web chat, Slack, `python -m bot ask --history`) passes what it
was given through `bounded` before asking, so the work a request causes does not grow with what
it sends: history is normalised and scanned for names, and NFKC can multiply a text's length
(U+FDFA becomes 18 characters). Cutting happens here, before any normalising.
"""

from __future__ import annotations

# The bot resolves follow-ups from the last few turns; older ones are never read.
MAX_TURNS = 10
# Longest turn kept, in characters; an answer is rarely longer, and a question is cut at 2000.
MAX_TURN_CHARS = 4000
ROLES = ("user", "assistant")


def problem(history: object) -> str:
    """Why `history` is not a list of {"role", "content"} turns, or "" when it is (for a 422)."""
    if not isinstance(history, list):
        return "`history` must be a list of {role, content} objects"
    for i, turn in enumerate(history):
        if not is_turn(turn):
            return f'`history[{i}]` must be {{"role": "user" | "assistant", "content": "..."}}'
    return ""


def is_turn(turn: object) -> bool:
    return isinstance(turn, dict) and turn.get("role") in ROLES and isinstance(turn.get("content"), str)


def bounded(history: object, max_turns: int = MAX_TURNS, max_chars: int = MAX_TURN_CHARS) -> list[dict]:
    """The last `max_turns` well-formed turns, each cut to `max_chars`; anything else is dropped."""
    if not isinstance(history, list):
        return []
    turns: list[dict] = []
    # Walk back from the end so a 10,000-turn history costs no more than a 10-turn one.
    for turn in reversed(history):
        if len(turns) == max_turns:
            break
        if is_turn(turn):
            turns.append({"role": turn["role"], "content": turn["content"][:max_chars]})
    turns.reverse()
    return turns
