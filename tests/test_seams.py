"""Each private third-party access the bot relies on (bot/seams.py) still works with the installed versions.

If an upgrade renames one of these, this fails here, by name, rather than as "index corrupt" at run time.
"""

import json
import subprocess
import sys

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma

from bot.embeddings import FakeEmbeddings
from bot.seams import chroma_collection, forget_chroma_client


def _client(path):
    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def test_forget_chroma_client_makes_the_next_open_a_new_client(tmp_path):
    system = _client(tmp_path)._system
    assert _client(tmp_path)._system is system  # chromadb shares one system per path...
    forget_chroma_client(tmp_path)
    assert _client(tmp_path)._system is not system  # ...until it is forgotten


def test_chroma_collection_is_the_collection_behind_the_langchain_store(tmp_path):
    client = _client(tmp_path)
    store = Chroma(client=client, collection_name="seam", embedding_function=FakeEmbeddings())
    coll = chroma_collection(store)
    coll.add(ids=["a"], embeddings=[[0.1] * 256], documents=["precomputed"], metadatas=[{"k": "v"}])
    assert client.get_collection("seam").get(ids=["a"])["documents"] == ["precomputed"]


def test_bm25s_imports_without_scipy_and_scipy_still_imports_after(tmp_path):
    code = (
        "import sys; from bot.seams import import_bm25s; bm25s = import_bm25s();"
        "print('scipy' in sys.modules, bm25s.SCIPY_AVAILABLE);"
        "import importlib.util; print(importlib.util.find_spec('scipy') is None or bool(__import__('scipy.sparse')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "True"]


def test_bm25s_numpy_backend_scores_as_the_scipy_one():
    pytest.importorskip("scipy")
    # In a fresh process with SciPy loaded first, so that bm25s offers both backends.
    code = """
import json, scipy.sparse, bm25s
docs = [["kvm", "内核", "模块"], ["docker", "容器", "内核"], ["xen", "hypervisor"], ["kvm", "qemu", "设备", "模拟"]]
out = {}
for backend in ("numpy", "scipy"):
    bm = bm25s.BM25(csc_backend=backend)
    bm.index(docs, show_progress=False)
    out[backend] = [bm.get_scores(q).tolist() for q in (["kvm"], ["内核", "docker"], ["qemu", "模拟", "kvm"])]
print(json.dumps(out))
"""
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert any(any(row) for row in out["numpy"])
    for got, want in zip(out["numpy"], out["scipy"], strict=True):
        assert got == pytest.approx(want)
