"""Command line: `python -m bot ask|serve|feedback`; the only place errors become one-line messages."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import sys
from pathlib import Path

from bot.errors import BadQuestion, BotError
from bot.history import bounded
from bot.history import problem as history_problem
from bot.settings import Settings
from bot.text import clean

FAST_SWITCH_S = 0.0002  # the GIL switch interval while start-up runs two threads (see _load_bot)


def _quiet_env() -> None:
    # Nothing phones home: Chroma telemetry is off in code; these cover Gradio and the HF hub.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _read_history(path: str | None) -> list[dict]:
    if not path:
        return []
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BotError(f"--history {path}: cannot read a JSON list of turns ({exc})") from exc
    if history_problem(data):
        raise BotError(f'--history {path}: expected a JSON list of {{"role": "user"|"assistant", "content": "..."}}')
    return bounded(data)


@contextlib.contextmanager
def _starting():
    """What start-up runs under (`python -m bench` times it), for `ask` and for `serve` until it answers."""
    # Start-up allocates millions of objects and frees almost none, so the collector's passes
    # over them are wasted: about a tenth of the import time.
    gc.disable()
    # The encoder's weights load on another thread in hundreds of small reads, each of which gives
    # up the GIL and then waits out the importing thread's switch interval (5 ms) to get it back:
    # with the default, the first answer waited 0.1-0.2 s for the encoder; at 0.2 ms, not at all.
    switch = sys.getswitchinterval()
    sys.setswitchinterval(FAST_SWITCH_S)
    try:
        yield
    finally:
        sys.setswitchinterval(switch)
        gc.enable()


def _load_bot(settings: Settings):
    """The Bot for one answer, loaded as fast as this process can."""
    with _starting():
        # The encoder starts loading in a background thread before the chain is imported (most
        # of a second of importing LangChain and Chroma), so neither waits for the other.
        from bot.embeddings import make_embeddings, preload

        embeddings = make_embeddings(settings.embeddings)
        preload(embeddings)
        from bot.chain import Bot

        return Bot.from_settings(settings, embeddings)


def cmd_ask(args: argparse.Namespace) -> int:
    # Checked before loading the index (seconds): bytes that are not UTF-8 reach argv as lone
    # surrogates (PEP 383), which we name rather than silently drop.
    if any("\udc80" <= ch <= "\udcff" for ch in args.question):
        raise BadQuestion("the question is not valid UTF-8 text")
    if not clean(args.question):
        raise BadQuestion("the question is empty: ask about a virtualization technology, e.g. “KVM 属于哪一类虚拟化？”")
    history = _read_history(args.history)
    bot = _load_bot(Settings.from_env())
    answer = bot.ask(args.question, history)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(answer.text)
        for n in answer.notices:
            print(f"(note: {n})")
        if answer.citations:
            print()
            for c in answer.citations:
                print(f"[{c.n}] {c.title} — {c.source}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    # The API and Slack answer first; Gradio is imported after that, on the thread that builds the chat.
    with _starting():
        settings = Settings.from_env()
        from bot.embeddings import make_embeddings, preload

        embeddings = make_embeddings(settings.embeddings)
        preload(embeddings)
        from bot.web import create_app, serve

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        app = create_app(settings, defer_ui=True, embeddings=embeddings)
    serve(settings, host=args.host, port=args.port, app=app)
    return 0


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from bot.web.feedback import FeedbackStore

    store = FeedbackStore(Settings.from_env().data_dir / "feedback")
    n = store.export_cases(Path(args.out))
    print(f"exported {n} feedback case(s) to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot", description="Virtualization Q&A bot")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("ask", help="answer one question")
    a.add_argument("question")
    a.add_argument("--json", action="store_true", help="print the Answer object as JSON")
    a.add_argument("--history", help="JSON file with a list of {role, content} turns")
    a.set_defaults(func=cmd_ask)
    s = sub.add_parser("serve", help="web chat, HTTP API and Slack endpoint in one server")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=7860)
    s.set_defaults(func=cmd_serve)
    f = sub.add_parser("feedback", help="work with stored like/dislike feedback")
    fsub = f.add_subparsers(dest="fcmd", required=True)
    e = fsub.add_parser("export", help="export feedback as evaluation cases (JSONL)")
    e.add_argument(
        "--out", default="data/feedback/cases.jsonl", help="JSONL to write (fill in expect before adding it to evals/datasets/)"
    )
    e.set_defaults(func=cmd_feedback_export)
    return p


def main(argv: list[str] | None = None) -> int:
    _quiet_env()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
