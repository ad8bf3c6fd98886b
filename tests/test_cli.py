"""`python -m bot ask`: plain and JSON answers, history files, and one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.embeddings import FakeEmbeddings
from bot.indexing import ingest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(settings):
    ingest(settings, FakeEmbeddings(), "fake")
    return {
        **os.environ,
        "BOT_DATA_DIR": str(settings.data_dir),
        "BOT_CORPUS_DIR": str(settings.corpus_dir),
        "BOT_EMBEDDINGS": "fake",
    }


def _ask(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "bot", "ask", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_ask_prints_answer_and_sources(env):
    out = _ask(env, "VirtualBox 是几型虚拟机监控器？")
    assert out.returncode == 0, out.stderr
    assert "二型" in out.stdout and "corpus/notes/virtualbox.md#" in out.stdout


def test_ask_json_is_the_answer_object_and_history_resolves_follow_ups(env, tmp_path):
    hist = tmp_path / "h.json"
    hist.write_text(
        json.dumps([{"role": "user", "content": "KVM 是什么？"}, {"role": "assistant", "content": "..."}]), encoding="utf-8"
    )
    out = _ask(env, "那它和 Xen 比呢？", "--json", "--history", str(hist))
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["intent"] == "compare" and {"kvm", "xen"} <= set(answer["entities"])
    assert answer["lang"] == "zh" and answer["citations"] and answer["backend"] == "composer"


def test_bad_history_file_is_a_one_line_error(env, tmp_path):
    hist = tmp_path / "h.json"
    hist.write_text('{"role": "user"}', encoding="utf-8")
    out = _ask(env, "KVM?", "--history", str(hist))
    assert out.returncode == 2 and out.stderr.startswith("error: --history") and "Traceback" not in out.stderr


def test_missing_index_says_to_run_ingest(settings):
    env = {**os.environ, "BOT_DATA_DIR": str(settings.data_dir / "empty"), "BOT_EMBEDDINGS": "fake"}
    out = _ask(env, "KVM?")
    assert out.returncode == 2 and "python ingest.py" in out.stderr and "Traceback" not in out.stderr
