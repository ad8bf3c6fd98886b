"""The start-up snapshot (bot.snapshot): later starts load what the first one built, answer exactly as a
fresh build does, and never use a snapshot made for other files, another generation or a damaged one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import snapshot
from bot.chain import Bot
from bot.embeddings import embeddings_name, make_embeddings
from bot.indexing import ingest
from bot.settings import Settings
from evals.scoring import load_dataset

REPO = Path(__file__).resolve().parent.parent


def _questions() -> list[str]:
    return [case.question for path in sorted((REPO / "evals" / "datasets").glob("*.jsonl")) for case in load_dataset(path)]


@pytest.fixture
def indexed(settings: Settings):
    emb = make_embeddings(settings.embeddings)
    ingest(settings, emb, embeddings_name(emb))
    return settings, emb


def _snapshot_file(settings: Settings, emb) -> Path:
    return snapshot.path_for(settings.index_dir, embeddings_name(emb))


def test_a_start_from_the_snapshot_answers_every_eval_question_as_a_fresh_build(real_bot) -> None:
    """The real encoder and corpus: the session's bot was built (and wrote the snapshot); a second start loads it."""
    again = Bot.from_settings(real_bot.settings, real_bot.retriever.embeddings)
    assert again.from_snapshot and not real_bot.from_snapshot
    questions = _questions()
    assert len(questions) > 400
    for q in questions:
        fresh, loaded = real_bot.ask(q), again.ask(q)
        assert loaded.text == fresh.text, q
        assert [c.doc_id for c in loaded.citations] == [c.doc_id for c in fresh.citations], q


def test_an_edited_note_is_seen_at_the_next_start(indexed) -> None:
    settings, emb = indexed
    first = Bot.from_settings(settings, emb)
    assert not first.from_snapshot and _snapshot_file(settings, emb).exists()
    assert Bot.from_settings(settings, emb).from_snapshot

    note = settings.corpus_dir / "notes" / "kvm.md"
    note.write_text(note.read_text(encoding="utf-8").replace("aliases: [", "aliases: [KayVeeEm, ", 1), encoding="utf-8")
    edited = Bot.from_settings(settings, emb)
    assert not edited.from_snapshot
    assert edited.corpus.alias_map()["kayveeem"] == "kvm"
    assert "kvm" in edited.ask("What is KayVeeEm?").entities


def test_a_new_index_generation_makes_the_snapshot_stale(indexed) -> None:
    settings, emb = indexed
    Bot.from_settings(settings, emb)
    ingest(settings, emb, embeddings_name(emb), rebuild=True)
    after = Bot.from_settings(settings, emb)
    assert not after.from_snapshot
    assert after.retriever.index.generation == after.retriever.index.record["active"]


@pytest.mark.parametrize("damage", [b"", b"not a pickle at all", None])
def test_a_damaged_snapshot_is_rebuilt_not_trusted(indexed, damage: bytes | None) -> None:
    settings, emb = indexed
    Bot.from_settings(settings, emb)
    path = _snapshot_file(settings, emb)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2] if damage is None else damage)  # None: cut off half-way
    rebuilt = Bot.from_settings(settings, emb)
    assert not rebuilt.from_snapshot
    assert rebuilt.ask("KVM 属于哪一类虚拟化？").citations
    assert Bot.from_settings(settings, emb).from_snapshot  # written whole again


def test_a_snapshot_that_cannot_be_written_costs_only_speed(indexed, caplog) -> None:
    settings, emb = indexed
    _snapshot_file(settings, emb).mkdir(parents=True)  # a folder where the file should go: the write fails
    bot = Bot.from_settings(settings, emb)
    assert bot.ask("Docker vs a VM?").citations
    assert "snapshot not written" in caplog.text
    assert not list(settings.index_dir.glob("*.tmp"))  # no half-written file left behind
