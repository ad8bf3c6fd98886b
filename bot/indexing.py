"""Ingest: corpus -> chunks -> a new Chroma generation, re-embedding only what changed."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings

from bot.chunking import Chunk, chunk_corpus
from bot.corpus import load_corpus
from bot.errors import CorpusError, IndexCorruptError
from bot.seams import chroma_collection
from bot.settings import Settings
from bot.store import (
    FORMAT_VERSION,
    GENERATION_PREFIX,
    forget_client,
    generations,
    leased,
    open_client,
    read_all,
    read_pointer,
    vectorstore,
    write_pointer,
)
from bot.text import Tokenizer, alias_fingerprint

BATCH = 64


@dataclass
class IngestReport:
    added: int
    updated: int
    unchanged: int
    deleted: int
    seconds: float
    generation: str

    def line(self) -> str:
        return (
            f"ingest: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.deleted} deleted chunks in {self.seconds:.1f} s"
        )


def _diff_counts(old: dict[str, str], new: list[Chunk]) -> tuple[int, int, int, int]:
    """(added, updated, unchanged, deleted); a changed chunk in a document that still exists is 'updated'."""
    new_ids = {c.chunk_id for c in new}
    unchanged = len(new_ids & old.keys())
    fresh = Counter(c.doc_id for c in new if c.chunk_id not in old)
    gone = Counter(doc for cid, doc in old.items() if cid not in new_ids)
    updated = sum(min(fresh[d], gone[d]) for d in fresh)
    return sum(fresh.values()) - updated, updated, unchanged, sum(gone.values()) - updated


def ingest(
    settings: Settings, embeddings: Embeddings, embedder_name: str, *, rebuild: bool = False, progress: bool = False
) -> IngestReport:
    """Build or update the index from the corpus; the previous index serves until this one is whole."""
    start = time.perf_counter()
    corpus = load_corpus(settings.corpus_dir)  # a bad file stops here, before the index is touched
    chunks = chunk_corpus(corpus)
    if not chunks:
        raise CorpusError(f"{settings.corpus_dir}: the corpus produced no text to index")

    try:
        client = open_client(settings)
        record = read_pointer(client)
    except IndexCorruptError:
        if not rebuild or settings.chroma_url:
            raise
        client, record = _set_aside_corrupt(settings), None
    vocab = alias_fingerprint(corpus.alias_map())
    reusable = (
        record is not None
        and not rebuild
        and record.get("embedder") == embedder_name
        and int(record.get("format", 0)) == FORMAT_VERSION
    )
    old: dict[str, str] = {}
    old_coll = None
    if reusable:
        old_coll = client.get_collection(record["active"])
        ids, metas = read_all(old_coll)
        old = {i: m["doc_id"] for i, m in zip(ids, metas, strict=True)}

    added, updated, unchanged, deleted = _diff_counts(old, chunks)
    if reusable and not (added or updated or deleted) and record.get("aliases") == vocab:
        _drop_orphans(client, keep=record["active"])
        return IngestReport(0, 0, unchanged, 0, time.perf_counter() - start, record["active"])

    gen = f"{GENERATION_PREFIX}{time.time_ns()}"
    store = vectorstore(client, gen, embeddings, size=len(chunks))
    coll = chroma_collection(store)  # to add precomputed vectors
    # BM25 tokens are stored with each chunk so a server starts without re-segmenting the corpus.
    tokenizer = Tokenizer(corpus.alias_map())
    # "seq" is the chunk's place in the corpus, so readers get a long section's chunks in reading order.
    meta = {
        c.chunk_id: {**c.metadata(), "bm25": "\t".join(tokenizer.tokens(c.embed_text())), "seq": n} for n, c in enumerate(chunks)
    }
    keep = [c for c in chunks if c.chunk_id in old]
    for i in range(0, len(keep), 256):
        ids = [c.chunk_id for c in keep[i : i + 256]]
        got = old_coll.get(ids=ids, include=["embeddings", "documents"])
        coll.add(
            ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"], metadatas=[meta[i] for i in got["ids"]]
        )

    todo = [c for c in chunks if c.chunk_id not in old]
    bar = None
    if progress and len(todo) > BATCH:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="embedding", unit="chunk", leave=False)
    for i in range(0, len(todo), BATCH):
        batch = todo[i : i + BATCH]
        store.add_texts(
            [c.embed_text() for c in batch], metadatas=[meta[c.chunk_id] for c in batch], ids=[c.chunk_id for c in batch]
        )
        if bar:
            bar.update(len(batch))
    if bar:
        bar.close()

    if coll.count() != len(chunks):  # never point readers at a partial generation
        client.delete_collection(gen)
        raise CorpusError(f"index write incomplete ({coll.count()} of {len(chunks)} chunks); nothing was changed")
    write_pointer(
        client,
        {
            "active": gen,
            "embedder": embedder_name,
            "format": FORMAT_VERSION,
            "chunks": len(chunks),
            "aliases": vocab,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )
    _drop_orphans(client, keep=gen)
    return IngestReport(added, updated, unchanged, deleted, time.perf_counter() - start, gen)


def _set_aside_corrupt(settings: Settings):
    """--rebuild over an unreadable embedded store: keep it as chroma.corrupt-NNN and start an empty one."""
    path = settings.index_dir / "chroma"
    forget_client(path)
    path.rename(path.with_name(f"chroma.corrupt-{time.time_ns()}"))
    return open_client(settings)


def _drop_orphans(client, keep: str) -> None:
    """Remove generations that are not active and that no running server holds a lease on: the
    previous one once nothing answers from it (else that server deletes it when done), and any
    left by a killed ingest."""
    held = leased(client)
    for name in generations(client):
        if name != keep and name not in held:
            client.delete_collection(name)
