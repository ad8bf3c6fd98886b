"""Where chunks live: Chroma (embedded under data/ or a server), with one active generation.

Each ingest writes a complete new collection and only then flips a pointer (the metadata of
the `bot_meta` collection) to it. Readers follow the pointer, so an ingest killed half-way
leaves the previous generation serving, whole; the next ingest removes the orphan.

A server keeps answering from the generation it loaded until the new one is loaded, and
requests already running finish on the old one. So that ingest does not delete a generation
under them, each reading process holds a lease: a `bot_reader-<id>` collection whose metadata
names the generations it uses. Ingest deletes only generations that are neither active nor
leased; the reader that lets go of the last use of an old generation deletes it itself.
Leases live in Chroma, so this works the same with an embedded store and a Chroma server.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from bot.chunking import Chunk
from bot.errors import ConfigError, IndexCorruptError, IndexMissingError
from bot.seams import chroma_collection, forget_chroma_client
from bot.settings import Settings

META_COLLECTION = "bot_meta"
GENERATION_PREFIX = "chunks-"
LEASE_PREFIX = "bot_reader-"
# A lease not renewed for this long belongs to a process that died without letting go; readers
# renew theirs every few minutes while they run.
LEASE_TTL_S = 3600
# Bump when chunk metadata or the collection's settings change; older indexes then need --rebuild.
# 2: the dense search is exhaustive (EXACT_SEARCH_EF below). 3: chunks carry their corpus order ("seq").
FORMAT_VERSION = 3
# HNSW search is approximate. With Chroma's default ef_search (100), the dense top 40 of 77 of 427 eval
# questions differed from exact cosine order, and differed from one fresh build to the next, so the same
# question could get different passages on two machines. An ef_search of at least the collection's size
# visits every vector: the order is exact and the same on every build. The corpus is about 1,200 chunks.
EXACT_SEARCH_EF = 2048

log = logging.getLogger(__name__)


def open_client(settings: Settings):
    """A Chroma client for the configured location; telemetry off, nothing else contacted."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in {"http", "https"} or not url.hostname:
            raise ConfigError(f"BOT_CHROMA_URL must look like http://127.0.0.1:8000, got {settings.chroma_url!r}")
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # the client pings the server on creation
            raise IndexMissingError(f"cannot reach the Chroma server at {settings.chroma_url}: {exc}") from exc
    path = settings.index_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        forget_client(path)  # so a retry, e.g. after `ingest.py --rebuild`, opens the files afresh
        raise IndexCorruptError(f"{path}: {exc}") from exc


def forget_client(path: Path) -> None:
    """Drop chromadb's per-process cached client for an embedded path (it caches broken ones too)."""
    forget_chroma_client(path)


def read_pointer(client) -> dict | None:
    """The active generation's record, or None when no ingest has completed."""
    try:
        names = {getattr(c, "name", c) for c in client.list_collections()}
        if META_COLLECTION not in names:
            return None
        meta = client.get_collection(META_COLLECTION).metadata or {}
    except Exception as exc:
        raise IndexCorruptError(str(exc)) from exc
    return dict(meta) if meta.get("active") else None


def write_pointer(client, record: dict) -> None:
    client.get_or_create_collection(META_COLLECTION).modify(metadata=record)


def generations(client) -> list[str]:
    return sorted(n for n in (getattr(c, "name", c) for c in client.list_collections()) if n.startswith(GENERATION_PREFIX))


def hold(client, reader: str, generations_in_use: set[str]) -> None:
    """Record that process `reader` answers from these generations (an empty set lets go)."""
    name = LEASE_PREFIX + reader
    if not generations_in_use:
        try:
            client.delete_collection(name)
        except Exception:  # already gone
            pass
        return
    meta = {"generations": ",".join(sorted(generations_in_use)), "at": time.time()}
    client.get_or_create_collection(name).modify(metadata=meta)


def leased(client, except_reader: str = "") -> set[str]:
    """Generations some live reader (other than `except_reader`) holds a lease on."""
    held: set[str] = set()
    now = time.time()
    for c in client.list_collections():
        name = getattr(c, "name", c)
        if not name.startswith(LEASE_PREFIX) or name == LEASE_PREFIX + except_reader:
            continue
        meta = getattr(c, "metadata", None) or {}
        if now - float(meta.get("at", 0)) < LEASE_TTL_S:
            held.update(g for g in str(meta.get("generations", "")).split(",") if g)
    return held


def drop_if_unused(client, generation: str, reader: str = "") -> bool:
    """Delete `generation` unless it is active or leased by another reader; True if deleted."""
    record = read_pointer(client)
    if (record and record.get("active") == generation) or generation in leased(client, except_reader=reader):
        return False
    try:
        client.delete_collection(generation)
    except Exception:  # someone else deleted it first
        return False
    return True


def vectorstore(client, collection: str, embeddings: Embeddings, *, size: int = 0) -> Chroma:
    """The LangChain store over `collection`; a new collection of `size` vectors is created for exact search."""
    settings = {"hnsw:space": "cosine", "hnsw:search_ef": max(EXACT_SEARCH_EF, size)}
    return Chroma(client=client, collection_name=collection, embedding_function=embeddings, collection_metadata=settings)


@dataclass
class Index:
    """The active generation, loaded: its vector store and every chunk (for BM25 and lookups)."""

    store: Chroma
    chunks: list[Chunk]
    record: dict
    tokens: list[list[str] | None] | None = None  # BM25 tokens stored at ingest, parallel to chunks
    client: object = None  # the Chroma client it was read with, for following the pointer

    @property
    def generation(self) -> str:
        return self.record["active"]

    def warm_in_background(self) -> threading.Thread:
        """Have Chroma load the vector index's files now, on a thread, instead of in the first question.

        That first load takes 50-70 ms of Chroma's Rust code, which releases the GIL, so at start-up
        it runs beside the rest of loading. A failure here is only logged: the first question then
        loads the files itself, and reports any real problem.
        """

        def warm() -> None:
            try:
                coll = chroma_collection(self.store)
                sample = coll.get(limit=1, include=["embeddings"])["embeddings"]
                if sample is not None and len(sample):
                    coll.query(query_embeddings=[sample[0]], n_results=1, include=[])
            except Exception as exc:  # noqa: BLE001 - warming is an optimisation; the question path reports errors
                log.debug("warming the vector index failed: %s", exc)

        thread = threading.Thread(target=warm, name="warm-chroma", daemon=True)
        thread.start()
        return thread


def chunk_from(chunk_id: str, meta: dict) -> Chunk:
    ents = tuple(e for e in str(meta.get("entities", "")).split(",") if e)
    return Chunk(
        chunk_id,
        meta["doc_id"],
        meta["text"],
        meta["title"],
        meta["heading"],
        meta["lang"],
        meta["source"],
        ents,
        str(meta.get("keywords", "")),
    )


def open_active(settings: Settings, embedder_name: str) -> tuple[object, dict]:
    """The client and the active generation's record; clear errors when it is missing or built by another embedder."""
    if not settings.chroma_url and not (settings.index_dir / "chroma").exists():
        raise IndexMissingError(f"nothing at {settings.index_dir}")
    client = open_client(settings)
    record = read_pointer(client)
    if record is None:
        raise IndexMissingError("no completed ingest found")
    if record.get("embedder") != embedder_name:
        raise IndexCorruptError(f"built with embeddings {record.get('embedder')!r} but BOT_EMBEDDINGS is {embedder_name!r}")
    if int(record.get("format", 0)) != FORMAT_VERSION:
        raise IndexCorruptError(f"index format {record.get('format')} is not {FORMAT_VERSION}")
    return client, record


def load_index(
    settings: Settings,
    embeddings: Embeddings,
    embedder_name: str,
    *,
    opened: tuple[object, dict] | None = None,
    chunks: list[Chunk] | None = None,
) -> Index:
    """Open the active generation (or the one `opened` names) and read its chunks, unless `chunks` are
    already known for it (from the start-up snapshot); clear errors when it is missing or corrupt."""
    client, record = opened or open_active(settings, embedder_name)
    try:
        coll = client.get_collection(record["active"])
        ids, metas = read_all(coll) if chunks is None else ([], [])
    except Exception as exc:
        raise IndexCorruptError(str(exc)) from exc
    tokens = None
    if chunks is None:
        # In corpus order: a lookup of a section split over several chunks then finds its opening first.
        rows = sorted(zip(ids, metas, strict=True), key=lambda r: (int(r[1].get("seq", 0)), r[0]))
        chunks = [chunk_from(i, m) for i, m in rows]
        tokens = [m["bm25"].split("\t") if m.get("bm25") else None for _, m in rows]
    return Index(vectorstore(client, record["active"], embeddings), chunks, record, tokens, client)


READ_PAGE = 2000  # Chroma's SQLite refuses one query with too many variables (seen at ~58k chunks)


def read_all(coll) -> tuple[list[str], list[dict]]:
    """Every id and metadata of a collection, read in pages."""
    ids: list[str] = []
    metas: list[dict] = []
    offset = 0
    while True:
        got = coll.get(include=["metadatas"], limit=READ_PAGE, offset=offset)
        ids += got["ids"]
        metas += got["metadatas"]
        if len(got["ids"]) < READ_PAGE:
            return ids, metas
        offset += READ_PAGE
