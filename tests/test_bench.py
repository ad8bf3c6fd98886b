import json
from pathlib import Path

from bench.growth import measure_growth
from bench.report import plot, write_report
from bench.synth import generate_corpus
from bench.worker import eval_cases
from bot.corpus import load_corpus
from bot.embeddings import FakeEmbeddings
from bot.indexing import ingest


def _files(root: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((root / "notes").glob("*.md"))}


def test_synthetic_corpus_is_valid_deterministic_and_bigger(tmp_path, corpus_copy):
    a = generate_corpus(corpus_copy, tmp_path / "a", 2, seed=7)
    generate_corpus(corpus_copy, tmp_path / "b", 2, seed=7)
    generate_corpus(corpus_copy, tmp_path / "c", 2, seed=8)

    corpus = load_corpus(tmp_path / "a")  # raises on anything the real loader rejects
    assert set(corpus.notes) == set(load_corpus(corpus_copy).notes)  # same entities, more text
    assert a.copies_per_note >= 1
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")
    kvm = (tmp_path / "a" / "notes" / "kvm.md").read_text(encoding="utf-8")
    assert "## 中文（改写 1）" in kvm and "## English (variant 1)" in kvm


def test_growth_rows_and_report_files(tmp_path, settings):
    emb = FakeEmbeddings()
    ingest(settings, emb, emb.name)
    rows = measure_growth(settings, (1, 2), eval_cases(quick=True)[:3], tmp_path / "g", 0.01, embeddings=emb, log=lambda *_: None)

    assert [r["scale"] for r in rows] == [1, 2]
    assert rows[1]["chunks"] > rows[0]["chunks"]
    assert rows[0]["vectors_embedded"] == 0  # 1x is exactly the indexed corpus
    for r in rows:
        assert {"chunks", "ingest_s", "ingest_projected_s", "query_p50_ms", "query_p95_ms"} <= r.keys()

    write_report({"format": 1, "growth": rows}, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "bench.json").read_text())["growth"] == rows
    assert (tmp_path / "out" / "growth.png").stat().st_size > 1000
    plot(rows, tmp_path / "again.png")
