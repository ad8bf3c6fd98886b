"""Errors the bot raises on purpose; each message says how to fix the problem."""


class BotError(Exception):
    """Base class: the CLI prints these as one line, the web layer turns them into 4xx/503."""


class CorpusError(BotError):
    """A corpus file is missing, unreadable or malformed."""


class IndexMissingError(BotError):
    """No index has been built yet (or it was removed)."""

    def __init__(self, detail: str = "") -> None:
        msg = "the index is missing: run `python ingest.py` first"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class IndexCorruptError(BotError):
    """The index exists but cannot be read."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"the index cannot be read ({detail}): run `python ingest.py --rebuild`")


class StoreUnavailableError(BotError):
    """The vector store stopped answering (e.g. the Chroma server is down)."""


class ConfigError(BotError):
    """A BOT_* setting has a value we cannot use."""


class BadQuestion(BotError):
    """The question is empty or not text."""


class DatasetError(BotError):
    """An evaluation dataset line is invalid; the message names the file and line."""


def public_message(message: str) -> str:
    """An error message fit for anyone who can reach the server: absolute file paths become "…"."""
    import re

    # A path starts at a "/" that does not follow a word character, ":" or "/" (so URLs keep theirs).
    return re.sub(r"(?<![\w:/.])/(?:[\w.@+-]+/)*[\w.@+-]+/?", "…", message)
