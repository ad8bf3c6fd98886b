"""Every use of a third-party library's private internals, in one place.

A routine upgrade inside the pinned ranges may rename these; tests/test_seams.py exercises each one
against the installed versions, so such a change fails the suite by name instead of surfacing at run
time as "index corrupt". Add a function here (and a test) rather than touching `._private` elsewhere.
"""

from __future__ import annotations

from pathlib import Path


def forget_chroma_client(path: Path) -> None:
    """Drop chromadb's per-process cache of the embedded client for `path` (it caches broken ones too),
    so the next open reads the files afresh. chromadb has no public call for this."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)


def chroma_collection(store):
    """The chromadb collection behind a LangChain `Chroma` store: LangChain has no public call to add
    precomputed vectors, which ingest needs to re-use unchanged chunks' embeddings."""
    return store._collection
