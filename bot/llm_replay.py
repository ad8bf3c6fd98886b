"""Recorded replies of a capable chat model, replayed by the hash of the exact prompt.

CI has no chat model, so the LLM path is scored on recorded replies: `BOT_LLM=replay:FILE` answers a
prompt with the reply recorded for its hash and fails (so the composer answers, as with any LLM
error) for a prompt that was never recorded. Recording:

    python -m bot.llm_replay dump evals/datasets/*.jsonl --out /tmp/prompts.jsonl   # the exact prompts
    # a capable chat model answers each prompt; its replies go to /tmp/replies.jsonl as {"key", "reply"}
    python -m bot.llm_replay merge /tmp/prompts.jsonl /tmp/replies.jsonl --into evals/recorded/llm-replies.jsonl

Any change to the prompt, the passages or the retrieval changes the hashes; tests/test_llm_replay.py
fails until the replies are recorded again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from bot.errors import ConfigError


def prompt_key(messages: list[BaseMessage]) -> str:
    """The hash a reply is recorded under: every message's role and exact text."""
    flat = json.dumps([[m.type, m.content] for m in messages], ensure_ascii=False)
    return hashlib.sha256(flat.encode()).hexdigest()


class ReplayChat(BaseChatModel):
    """A chat model that answers only prompts it has a recorded reply for."""

    path: str
    _replies: dict[str, str] = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        try:
            lines = Path(self.path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"BOT_LLM=replay:{self.path}: cannot read the recorded replies ({exc.strerror})") from exc
        for line in lines:
            if line.strip():
                row = json.loads(line)
                self._replies[row["key"]] = row["reply"]

    @property
    def _llm_type(self) -> str:
        return "replay"

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs) -> ChatResult:
        key = prompt_key(messages)
        if key not in self._replies:
            raise LookupError(f"no recorded reply for prompt {key[:12]}: record again (python -m bot.llm_replay)")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self._replies[key]))])


class _Capture(BaseChatModel):
    """Records the prompts it is sent and fails each call, so the bot falls back and goes on."""

    _seen: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "capture"

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs) -> ChatResult:
        self._seen.append(list(messages))
        raise LookupError("capturing prompts only")


def dump(datasets: list[Path], out: Path) -> int:
    """Write the exact answer prompt for every case of the datasets; returns how many."""
    from bot.chain import Bot
    from bot.llm import LlmAnswerer
    from bot.settings import Settings
    from evals.scoring import load_dataset

    capture = _Capture()
    bot = Bot.from_settings(Settings.from_env())
    bot.llm = LlmAnswerer(capture, "capture")
    rows = []
    for path in datasets:
        for case in load_dataset(path):
            capture._seen.clear()
            bot.ask(case.question, case.history)
            answer_prompts = [m for m in capture._seen if m and m[0].type == "system"]
            for messages in answer_prompts[-1:]:
                rows.append(
                    {
                        "key": prompt_key(messages),
                        "case": case.id,
                        "question": case.question,
                        "lang": case.lang,
                        "system": messages[0].content,
                        "user": messages[1].content,
                    }
                )
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def merge(prompts: Path, replies: Path, into: Path, model: str) -> int:
    """Add replies ({"key", "reply"} lines) for dumped prompts to the recorded file; returns the total.

    A case's new reply replaces its old one: the old prompt is no longer sent, and the replay test
    counts rows whose prompt is not sent today as stale."""
    asked = {json.loads(line)["key"]: json.loads(line) for line in prompts.read_text(encoding="utf-8").splitlines() if line}
    rows = {}
    if into.exists():
        rows = {r["key"]: r for r in (json.loads(line) for line in into.read_text(encoding="utf-8").splitlines() if line)}
    for line in replies.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            if r["key"] in asked:
                p = asked[r["key"]]
                rows = {k: row for k, row in rows.items() if row["case"] != p["case"]}
                rows[r["key"]] = {
                    "key": r["key"],
                    "case": p["case"],
                    "question": p["question"],
                    "model": model,
                    "reply": r["reply"],
                }
    into.parent.mkdir(parents=True, exist_ok=True)
    into.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows.values()), encoding="utf-8")
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="dump the LLM path's prompts, or merge recorded replies")
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("datasets", nargs="+", type=Path)
    d.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("merge")
    m.add_argument("prompts", type=Path)
    m.add_argument("replies", type=Path)
    m.add_argument("--into", type=Path, required=True)
    m.add_argument("--model", default="recorded chat model")
    args = parser.parse_args()
    if args.cmd == "dump":
        print(f"{dump(args.datasets, args.out)} prompts written to {args.out}")
    else:
        print(f"{merge(args.prompts, args.replies, args.into, args.model)} recorded replies in {args.into}")


if __name__ == "__main__":
    main()
