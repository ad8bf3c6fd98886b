"""All configuration, read from BOT_* environment variables in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    # Where the curated corpus lives (article + notes).
    corpus_dir: Path = REPO_ROOT / "corpus"
    # Index, feedback and Slack state; BOT_DATA_DIR overrides.
    data_dir: Path = REPO_ROOT / "data"
    # Embedding backend: use-multilingual | sentence-transformers:NAME_OR_PATH | fake.
    embeddings: str = "use-multilingual"
    # Chroma server URL (http://host:port); empty means an embedded store under data_dir.
    chroma_url: str = ""
    # Chat model: empty means the offline composer; openai:MODEL uses an OpenAI-compatible endpoint.
    llm: str = ""
    llm_base_url: str = ""
    llm_api_key: str = field(default="", repr=False)
    # Seconds before an LLM call is abandoned and the composer's answer is used.
    llm_timeout: float = 20.0
    # Slack signing secret and bot token; without a secret the Slack endpoint answers 503.
    slack_signing_secret: str = field(default="", repr=False)
    slack_bot_token: str = field(default="", repr=False)
    # Base URL of the Slack Web API (tests point this at a local fake).
    slack_api_url: str = "https://slack.com/api/"
    # Requests per minute per client on /api/ask and Slack; 0 disables the limit.
    rate_limit: int = 120
    # Reverse proxies whose X-Forwarded-For is believed (comma-separated IPs, or "*"); empty means
    # none: clients are told apart by the address the server sees.
    trusted_proxies: str = ""
    # Longest question accepted before truncation, in characters.
    max_question_chars: int = 2000
    # Hits returned by retrieval.
    top_k: int = 8

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from the environment; unset variables keep the defaults above."""
        d = cls()
        return cls(
            corpus_dir=Path(_env("BOT_CORPUS_DIR", str(d.corpus_dir))),
            data_dir=Path(_env("BOT_DATA_DIR", str(d.data_dir))),
            embeddings=_env("BOT_EMBEDDINGS", d.embeddings),
            chroma_url=_env("BOT_CHROMA_URL", d.chroma_url),
            llm=_env("BOT_LLM", d.llm),
            llm_base_url=_env("BOT_LLM_BASE_URL", d.llm_base_url),
            llm_api_key=_env("BOT_LLM_API_KEY", d.llm_api_key),
            llm_timeout=float(_env("BOT_LLM_TIMEOUT", str(d.llm_timeout))),
            slack_signing_secret=_env("BOT_SLACK_SIGNING_SECRET", ""),
            slack_bot_token=_env("BOT_SLACK_BOT_TOKEN", ""),
            slack_api_url=_env("BOT_SLACK_API_URL", d.slack_api_url),
            rate_limit=int(_env("BOT_RATE_LIMIT", str(d.rate_limit))),
            trusted_proxies=_env("BOT_TRUSTED_PROXIES", d.trusted_proxies),
            max_question_chars=int(_env("BOT_MAX_QUESTION_CHARS", str(d.max_question_chars))),
            top_k=int(_env("BOT_TOP_K", str(d.top_k))),
        )
