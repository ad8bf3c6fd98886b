"""Ingest builds a whole index, updates it incrementally, and never leaves a half-written one serving."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bot.chain import Bot
from bot.embeddings import FakeEmbeddings
from bot.errors import CorpusError, IndexMissingError
from bot.indexing import ingest
from bot.store import generations, load_index, open_client

REPO = Path(__file__).resolve().parent.parent


def _ingest(settings, emb=None, **kw):
    emb = emb or FakeEmbeddings()
    return ingest(settings, emb, "fake", **kw), emb


def test_first_ingest_indexes_every_chunk_with_metadata(settings):
    report, _ = _ingest(settings)
    assert report.added > 300 and report.unchanged == 0 and report.deleted == 0
    index = load_index(settings, FakeEmbeddings(), "fake")
    assert len(index.chunks) == report.added
    kvm = [c for c in index.chunks if c.doc_id == "notes/kvm"]
    assert {c.lang for c in kvm} == {"zh", "en"}
    assert all(c.entity == "kvm" and c.source.startswith("corpus/notes/kvm.md#") for c in kvm)
    assert any("分类与理由" in c.heading for c in kvm)
    # Chinese sentences keep their end punctuation and are never cut mid-sentence.
    zh_text = [c.text for c in kvm if c.lang == "zh" and c.heading.startswith("中文")]
    assert all(t.endswith(("。", "！", "？", "；", "”", "）", ")")) for t in zh_text)


def test_noop_reingest_embeds_nothing(settings):
    _ingest(settings)
    report, emb = _ingest(settings)
    assert (report.added, report.updated, report.deleted) == (0, 0, 0)
    assert report.unchanged > 300
    assert emb.calls == 0


def test_changed_note_reembeds_only_its_changed_chunks(settings):
    first, _ = _ingest(settings)
    path = settings.corpus_dir / "notes" / "wine.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("## English", "## English\n\nWine was first released in 1993.\n", 1), encoding="utf-8")
    report, emb = _ingest(settings)
    assert report.updated + report.added >= 1
    assert 0 < emb.calls <= 3
    assert report.unchanged >= first.added - 3
    index = load_index(settings, FakeEmbeddings(), "fake")
    assert any("first released in 1993" in c.text for c in index.chunks)


def test_deleted_document_is_removed(settings):
    first, _ = _ingest(settings)
    (settings.corpus_dir / "article.md").write_text(
        "---\nid: article\ntitle: t\nlang: zh\n---\n\n## 问题\n\n短文。\n", encoding="utf-8"
    )
    report, _ = _ingest(settings)
    assert report.deleted > 0 or report.updated > 0
    index = load_index(settings, FakeEmbeddings(), "fake")
    assert len([c for c in index.chunks if c.doc_id == "article"]) == 1


def test_malformed_corpus_stops_ingest_and_old_index_keeps_serving(settings):
    _ingest(settings)
    before = load_index(settings, FakeEmbeddings(), "fake").record["active"]
    (settings.corpus_dir / "notes" / "xen.md").write_text("---\nid: [broken\n---\nbody\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"xen\.md:\d+"):
        _ingest(settings)
    after = load_index(settings, FakeEmbeddings(), "fake")
    assert after.record["active"] == before
    assert any(c.doc_id == "notes/xen" for c in after.chunks)


def test_empty_corpus_is_an_error_not_an_empty_index(tmp_path, settings):
    shutil.rmtree(settings.corpus_dir / "notes")
    with pytest.raises(CorpusError):
        _ingest(settings)
    with pytest.raises(IndexMissingError, match="python ingest.py"):
        load_index(settings, FakeEmbeddings(), "fake")


def test_missing_index_tells_user_to_run_ingest(settings):
    with pytest.raises(IndexMissingError, match=r"run `python ingest.py`"):
        Bot.from_settings(settings, FakeEmbeddings())


def test_cli_ingest_prints_one_line_summary(settings):
    env = {
        **os.environ,
        "BOT_DATA_DIR": str(settings.data_dir),
        "BOT_CORPUS_DIR": str(settings.corpus_dir),
        "BOT_EMBEDDINGS": "fake",
    }
    out = subprocess.run([sys.executable, "ingest.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ingest:") and "added" in lines[0] and "unchanged" in lines[0]
    bad = subprocess.run(
        [sys.executable, "ingest.py"],
        cwd=REPO,
        env={**env, "BOT_CORPUS_DIR": str(settings.data_dir / "nope")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "error:" in bad.stderr and "Traceback" not in bad.stderr


SLOW_EMBED = """
import sys, time
from bot.embeddings import FakeEmbeddings
from bot.indexing import ingest
from bot.settings import Settings
from pathlib import Path

class Slow(FakeEmbeddings):
    def embed_documents(self, texts):
        print("embedding", flush=True)
        time.sleep(0.5)
        return super().embed_documents(texts)

s = Settings(corpus_dir=Path(sys.argv[1]), data_dir=Path(sys.argv[2]), embeddings="fake")
ingest(s, Slow(), "fake", rebuild=True)
"""


def test_ingest_killed_midway_leaves_previous_index_whole(settings, tmp_path):
    first, _ = _ingest(settings)
    script = tmp_path / "slow_ingest.py"
    script.write_text(SLOW_EMBED, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(settings.corpus_dir), str(settings.data_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(3):  # let it write a few batches into the new generation
            assert proc.stdout.readline().startswith("embedding")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    index = load_index(settings, FakeEmbeddings(), "fake")
    assert len(index.chunks) == first.added
    bot = Bot.from_settings(settings, FakeEmbeddings())
    assert bot.ask("KVM 属于哪一类虚拟化？").citations
    # The next ingest completes and removes the orphaned half generation.
    report, _ = _ingest(settings)
    assert report.unchanged == first.added
    assert generations(open_client(settings)) == [index.record["active"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    exe = Path(sys.executable).parent / "chroma"
    if not exe.exists():
        pytest.skip("the chroma CLI is not installed in this environment")
    port = _free_port()
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(tmp_path / "chroma-server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma server did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_ingest_and_answer_through_a_chroma_server(settings, chroma_server):
    s = replace(settings, chroma_url=chroma_server)
    first, _ = _ingest(s)
    again, emb = _ingest(s)
    assert again.unchanged == first.added and emb.calls == 0
    assert not (s.data_dir / "index" / "chroma").exists()  # nothing written locally
    answer = Bot.from_settings(s, FakeEmbeddings()).ask("Docker 和 KVM 有什么区别？")
    assert answer.intent == "compare" and "|" in answer.text and answer.citations


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_warming_the_vector_index_answers_like_a_cold_one_and_survives_a_dropped_collection(settings):
    _ingest(settings)
    emb = FakeEmbeddings()
    cold = load_index(settings, emb, "fake").store.similarity_search("KVM 属于哪一类虚拟化？", k=5)
    index = load_index(settings, emb, "fake")
    index.warm_in_background().join(timeout=30)
    warm = index.store.similarity_search("KVM 属于哪一类虚拟化？", k=5)
    assert [d.page_content for d in warm] == [d.page_content for d in cold] and warm
    # The generation vanishing under it (an ingest by another process) is not the warmer's to report.
    doomed = load_index(settings, emb, "fake")
    doomed.client.delete_collection(doomed.generation)
    thread = doomed.warm_in_background()
    thread.join(timeout=30)
    assert not thread.is_alive()
