"""Every use of a third-party library's private internals, in one place.

A routine upgrade inside the pinned ranges may rename these; tests/test_seams.py exercises each one
against the installed versions, so such a change fails the suite by name instead of surfacing at run
time as "index corrupt". Add a function here (and a test) rather than touching `._private` elsewhere.
"""

from __future__ import annotations

import sys
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


def import_bm25s():
    """bm25s without SciPy: importing it pulls in `scipy.sparse` (a tenth of a second of start-up) when
    SciPy is installed (sentence-transformers brings it), though the bot only needs bm25s's numpy path.

    bm25s treats SciPy as optional (its numpy CSC backend builds the same scores), so while it is
    imported SciPy is made unimportable, unless something has loaded it already. Start-up imports
    this on its main thread before any other thread could be importing SciPy.
    """
    if "bm25s" in sys.modules:
        return sys.modules["bm25s"]
    block = "scipy" not in sys.modules
    if block:
        sys.modules["scipy"] = None  # `import scipy.sparse` now raises ImportError at once
    try:
        import bm25s
    finally:
        if block and sys.modules.get("scipy", False) is None:
            del sys.modules["scipy"]
    return bm25s
