"""`python -m evals`: reports, exit codes, and dataset validation naming file and line."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(tmp_path, settings, *args):
    env = {
        **os.environ,
        "BOT_DATA_DIR": str(settings.data_dir),
        "BOT_CORPUS_DIR": str(settings.corpus_dir),
        "BOT_EMBEDDINGS": "fake",
    }
    return subprocess.run([sys.executable, "-m", "evals", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _case(**kw):
    base = {
        "id": "c1",
        "question": "KVM 属于哪一类虚拟化？",
        "lang": "zh",
        "kind": "classify",
        "history": [],
        "expect": {"all": [["一型", "type-1"]], "none": [], "refuse": False, "sources": ["kvm"]},
    }
    base.update(kw)
    return json.dumps(base, ensure_ascii=False)


def test_custom_dataset_writes_report_and_passes(tmp_path, settings):
    ds = tmp_path / "mine.jsonl"
    refuse = _case(
        id="c2",
        question="What's the weather in Paris?",
        lang="en",
        kind="refuse",
        expect={"all": [], "none": [], "refuse": True, "sources": []},
    )
    ds.write_text(_case() + "\n" + refuse + "\n", encoding="utf-8")
    out = tmp_path / "out"
    res = _run(tmp_path, settings, "--dataset", str(ds), "--out", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    s = report["summary"]
    for key in ("cases", "passed", "pass_rate", "hit_at_5", "mrr", "refusal_accuracy", "p50_ms", "p95_ms", "by_lang", "by_kind"):
        assert key in s
    assert s["cases"] == 2 and s["passed"] == 2
    case = report["cases"][0]
    for key in ("id", "question", "answer", "refused", "sources", "passed", "failed_groups", "latency_ms"):
        assert key in case
    assert (out / "report.md").exists() and (out / "pass_rate.png").stat().st_size > 1000
    assert "pass_rate" in res.stdout


def test_failing_threshold_exits_1_and_diff_shows_newly_failing(tmp_path, settings):
    ds = tmp_path / "d.jsonl"
    out = tmp_path / "out"
    ds.write_text(_case() + "\n", encoding="utf-8")
    assert _run(tmp_path, settings, "--dataset", str(ds), "--out", str(out)).returncode == 0
    ds.write_text(
        _case(expect={"all": [["no-such-words-anywhere"]], "none": [], "refuse": False, "sources": ["kvm"]}) + "\n",
        encoding="utf-8",
    )
    res = _run(tmp_path, settings, "--dataset", str(ds), "--out", str(out))
    assert res.returncode == 1
    assert "THRESHOLD FAILED" in res.stdout
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["diff"]["newly_failing"] == ["c1"]


def test_bad_dataset_line_exits_2_naming_file_and_line(tmp_path, settings):
    ds = tmp_path / "bad.jsonl"
    ds.write_text(_case() + "\n" + _case(id="c2", kind="poem") + "\n", encoding="utf-8")
    res = _run(tmp_path, settings, "--dataset", str(ds))
    assert res.returncode == 2
    assert f"{ds}:2:" in res.stderr and "kind" in res.stderr
    ds.write_text("{not json\n", encoding="utf-8")
    res = _run(tmp_path, settings, "--dataset", str(ds))
    assert res.returncode == 2 and f"{ds}:1:" in res.stderr


def test_bad_arguments_exit_2(tmp_path, settings):
    assert _run(tmp_path, settings, "--only", "nonsense").returncode == 2
