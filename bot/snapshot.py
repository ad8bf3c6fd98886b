"""The start-up snapshot: what a process builds from the corpus and the active index generation.

Parsing the notes and the Q&A files, reading every chunk back from Chroma, building BM25 and
segmenting the curated phrasings take most of a second at every start, and their results depend
only on the corpus files, the code that builds them and the generation. So the first start after
an ingest or an edit pickles them beside the index (`data/index/startup-<embedder>.pickle`) and
later starts load them in tens of milliseconds.

The key is a hash of every corpus file, of the code and words that build the snapshot (`bot/**/*.py`,
the lexicon) and of the active generation's record and store location: any edit, any ingest and any
other store makes it stale. A stale, damaged or unreadable snapshot is rebuilt, never trusted, and
it is written whole or not at all. It is a pickle, so it is trusted as much as the index folder it
lives in, which only this bot writes.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import pickle
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.chunking import Chunk
from bot.corpus import Corpus
from bot.retrieve import LexicalIndex
from bot.seams import import_bm25s

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the snapshot's shape changes in a way the code hash would not show
CODE_DIR = Path(__file__).resolve().parent
CODE_FILES = ("*.py", "*.toml")


@dataclass
class Snapshot:
    corpus: Corpus
    chunks: list[Chunk]
    lexical: LexicalIndex
    phrasings: list  # bot.qa_match._Phrasing, in the matcher's order
    qa_vectors: np.ndarray


def path_for(index_dir: Path, embedder_name: str) -> Path:
    return index_dir / f"startup-{re.sub(r'[^a-z0-9]+', '-', embedder_name.lower()).strip('-')}.pickle"


def corpus_digest(corpus_dir: Path) -> str:
    """A hash of every file under the corpus folder and of the code that reads it (a few milliseconds)."""
    h = hashlib.sha256(f"format {FORMAT}".encode())
    for root, pattern in [(corpus_dir, "*")] + [(CODE_DIR, p) for p in CODE_FILES]:
        for path in sorted(p for p in root.rglob(pattern) if p.is_file()):
            h.update(str(path.relative_to(root)).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def key(digest: str, record: dict, store: str) -> str:
    """The snapshot's key: corpus and code, the active generation's record, and where the store is."""
    return hashlib.sha256(json.dumps([digest, record, store], sort_keys=True, default=str).encode()).hexdigest()


def load(path: Path, wanted: str) -> Snapshot | None:
    """The snapshot at `path` if it was made for `wanted`; None when absent, stale or unreadable."""
    import_bm25s()  # what the pickled BM25 needs, without SciPy (unpickling would import it whole)
    collecting = gc.isenabled()
    gc.disable()  # a million new objects and no garbage: with the collector on, loading takes 4x as long
    try:
        with path.open("rb") as f:
            if pickle.load(f) != wanted:  # the key comes first, so a stale snapshot is not read at all
                return None
            snapshot = pickle.load(f)
    except Exception:  # missing, truncated, or pickled by code that no longer exists: rebuild it
        return None
    finally:
        if collecting:
            gc.enable()
    return snapshot if isinstance(snapshot, Snapshot) else None


def save(path: Path, made_for: str, snapshot: Snapshot) -> None:
    """Write the snapshot whole or not at all; failing to write (a read-only folder) costs later starts only speed."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        tmp = Path(name)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(made_for, f, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(snapshot, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("start-up snapshot not written to %s: %s", path, exc)
        if tmp is not None:
            tmp.unlink(missing_ok=True)
