"""`python -m evals --judge`: an advisory LLM judge, cached, whose garbage is an error and never a score."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.embeddings import FakeEmbeddings
from bot.indexing import ingest
from evals.judge import parse_verdict

pytest_plugins = ["fake_openai"]
REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("reply", "ok"),
    [
        ('{"faithfulness": 1, "correctness": 0.5, "reason": "fine"}', True),
        ('```json\n{"faithfulness": 0.9, "correctness": 1.0}\n```', True),
        ("The answer looks good, 9/10.", False),
        ('{"faithfulness": 2, "correctness": 1}', False),
        ('{"faithfulness": "high"}', False),
    ],
)
def test_parse_verdict(reply, ok):
    verdict = parse_verdict(reply)
    assert ("error" not in verdict) is ok


def _cases(path: Path) -> None:
    rows = [
        {
            "id": "a",
            "question": "KVM 属于哪一类虚拟化？",
            "lang": "zh",
            "kind": "classify",
            "history": [],
            "expect": {"all": [["一型", "type-1"]], "none": [], "refuse": False, "sources": ["kvm"]},
        },
        {
            "id": "b",
            "question": "Is Docker a virtual machine?",
            "lang": "en",
            "kind": "classify",
            "history": [],
            "expect": {"all": [["OS-level", "container"]], "none": [], "refuse": False, "sources": ["docker"]},
        },
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")


def test_judge_is_advisory_cached_and_counts_garbage_as_errors(settings, tmp_path, fake_openai):
    ingest(settings, FakeEmbeddings(), "fake")
    ds, out = tmp_path / "d.jsonl", tmp_path / "out"
    _cases(ds)
    env = {
        **os.environ,
        "BOT_DATA_DIR": str(settings.data_dir),
        "BOT_CORPUS_DIR": str(settings.corpus_dir),
        "BOT_EMBEDDINGS": "fake",
        "BOT_LLM": "openai:judge-model",
        "BOT_LLM_BASE_URL": f"{fake_openai.url}/v1",
        "BOT_LLM_API_KEY": "sk-judge",
    }
    cmd = [sys.executable, "-m", "evals", "--dataset", str(ds), "--out", str(out), "--judge"]

    fake_openai.reply('{"faithfulness": 1.0, "correctness": 0.5, "reason": "partly"}').reply("looks great to me!")
    first = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr  # the judge never fails a run unless asked
    judge = json.loads((out / "report.json").read_text(encoding="utf-8"))["summary"]["judge"]
    assert judge == {"judged": 1, "judge_errors": 1, "faithfulness": 1.0, "correctness": 0.5}
    assert len(fake_openai.requests) == 2 and fake_openai.requests[0]["temperature"] == 0

    fake_openai.reset()
    again = subprocess.run([*cmd, "--judge-min", "0.9"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert fake_openai.requests == []  # every verdict came from the cache
    assert again.returncode == 1 and "judge correctness" in again.stdout


def test_judge_without_an_llm_is_a_usage_error(settings, tmp_path):
    ds = tmp_path / "d.jsonl"
    _cases(ds)
    env = {**os.environ, "BOT_DATA_DIR": str(settings.data_dir), "BOT_EMBEDDINGS": "fake", "BOT_LLM": ""}
    res = subprocess.run(
        [sys.executable, "-m", "evals", "--dataset", str(ds), "--judge"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "BOT_LLM" in res.stderr
