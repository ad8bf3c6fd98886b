"""Hybrid retrieval finds the right notes for Chinese, English and mixed questions."""

from pathlib import Path

import pytest

from bot.corpus import load_corpus
from bot.text import Tokenizer

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("question", "entity"),
    [
        ("半虚拟化需要改客户机内核吗", "paravirtualization"),
        ("what does the BPF verifier check", "ebpf"),
        ("k8s 和 openshift 啥关系", "openshift"),
        ("hyperv是不是裸金属", "hyper-v"),
        ("Wasm outside the browser", "webassembly"),
        ("用户态轮询收包框架", "dpdk"),
        ("Linux 容器 namespaces cgroups", "os-level-virtualization"),
        ("python 虚拟环境 site-packages", "python-venv"),
    ],
)
def test_expected_entity_in_top_five(real_bot, question, entity):
    hits = real_bot.retriever.search(question, k=8)
    top = list(dict.fromkeys(h.chunk.entity for h in hits))[:5]
    assert entity in top, top


def test_hits_report_scores_and_per_leg_ranks(real_bot):
    hits = real_bot.retriever.search("硬件辅助虚拟化是什么", k=8)
    assert all(h.score > 0 for h in hits)
    assert any("bm25" in h.ranks for h in hits) and any("dense" in h.ranks for h in hits)
    named = [h for h in hits if h.chunk.entity == "hardware-assisted-virtualization"]
    others = [h for h in hits if h.chunk.entity != "hardware-assisted-virtualization"]
    assert hits == named + others  # the named entity first, then the rest, each by score
    assert named == sorted(named, key=lambda h: -h.score) and others == sorted(others, key=lambda h: -h.score)


def test_every_entity_the_question_names_comes_before_its_neighbours(real_bot):
    # A post about containers that quotes Docker's website names both; neither Docker's neighbours
    # (rkt, LXD, Proxmox) nor anything else may push the concept itself out of the first places.
    hits = real_bot.retriever.search("What exactly is a container? Docker describes it as a unit of software", k=8)
    first = list(dict.fromkeys(h.chunk.entity for h in hits))[:2]
    assert set(first) == {"docker", "os-level-virtualization"}, first


def test_one_note_cannot_fill_every_slot(real_bot):
    hits = real_bot.retriever.search("KVM KVM KVM kvm 内核虚拟机", k=8)
    per_doc = {}
    for h in hits:
        per_doc[h.chunk.doc_id] = per_doc.get(h.chunk.doc_id, 0) + 1
    assert max(per_doc.values()) <= 3


def test_aliases_stay_whole_tokens_and_map_to_entities():
    corpus = load_corpus(REPO / "corpus")
    tok = Tokenizer(corpus.alias_map())
    tokens = tok.tokens("硬件辅助虚拟化和 Hyper-V、VT-x 的关系；k8s 呢")
    assert {"硬件辅助虚拟化", "hyper-v", "vt-x"} <= set(tokens)
    assert {"ent:hardware-assisted-virtualization", "ent:hyper-v", "ent:intel-vt-x", "ent:kubernetes"} <= set(tokens)


@pytest.mark.parametrize(
    ("question", "on_topic"),
    [
        # Words any Chinese question may use (密集, 为什么, 转速) do not make it about virtualization ...
        ("io密集型为什么 2✖️n", False),
        ("风扇转速慢是什么原因", False),
        # ... while the corpus's own terms do, with no entity named.
        ("什么是影子页表？", True),
        ("宿主机和客户机有什么区别", True),
        ("What is Dom0?", True),
        ("Who won the NBA finals?", False),
        # English words the corpus happens to use (runs, called, data, copy) are everyday words too: how common
        # a word is in general English decides, as jieba's counts do for Chinese.
        ("My component runs twice and the effect is called again on every load", False),
        ("Why do I get a warning when I change a copy of my data frame?", False),
        ("Why does my guest boot so slowly?", True),
        ("What does a shadow page table do?", True),
        # A link's host and path are not the asker's words, and "other programs" is everyday English.
        (
            "Can you add support for this feature? It does not seem to work, see https://developer.mozilla.org/en-US/docs/Web/API/Window",
            False,
        ),
        ("My webcam shows a black picture in one app but works in other programs, any idea why?", False),
        # Typed with full-width letters, as a Chinese input method can: the same words, the same answer.
        ("What does a ｓｈａｄｏｗ ｐａｇｅ ｔａｂｌｅ do?", True),
        # A Latin word jieba cuts into corpus terms ("JavaScript" -> "cri", "description" -> "des") is one
        # unknown word, and a long post needs more than one specific word ("restarting") or a domain
        # word ("kernel") that another field uses too.
        ("The description of my JavaScript form throws an exception on submit, what is wrong?", False),
        (
            "My Jupyter notebook kernel keeps restarting whenever I load a large dataframe, and I lose every variable I had defined.",
            False,
        ),
        (
            "Our guests boot slowly on an old server and I wonder whether shadow page tables or missing nested paging support on that CPU are to blame.",
            True,
        ),
        # General computing words the corpus also uses ("memory", "compile", "pip", "编译") are another
        # subject's when nothing more specific to virtualization comes with them.
        ("How is virtual memory different from swap space on disk?", False),
        ("Why does my program compile fine on Ubuntu but fail on Fedora?", False),
        ("pip 换成国内源以后下载速度还是没变化", False),
        ("代码编译的时候提示找不到头文件怎么办", False),
        ("BIOS 里能关掉虚拟化吗？", True),
    ],
)
def test_a_question_that_names_nothing_is_on_topic_only_with_the_corpus_terms(real_bot, question, on_topic):
    assert real_bot.retriever.on_topic(question) is on_topic
    assert real_bot.ask(question).refused is not on_topic


def test_a_company_named_in_chinese_finds_the_notes_that_use_its_latin_name(real_bot):
    # The notes say "Apple 芯片" and never "苹果": the search words of "苹果" include "apple".
    assert "apple" in real_bot.retriever.tokenizer.query_tokens("苹果电脑能装 Windows 虚拟机吗")
    hits = real_bot.retriever.search("苹果M1芯片能否运行Windows虚拟机?", 5)
    assert "parallels-desktop" in [h.chunk.entity for h in hits]


def test_the_dense_search_ranks_passages_in_exact_similarity_order(real_bot):
    """HNSW is approximate: at Chroma's default search width, a question's passages depended on the build.

    The order is compared by similarity, not by id, so two passages exactly as similar may swap."""
    import numpy as np

    from bot.retrieve import DENSE_CANDIDATES
    from bot.store import chroma_collection
    from evals.scoring import load_dataset

    stored = chroma_collection(real_bot.retriever.index.store).get(include=["embeddings"])
    vectors = np.asarray(stored["embeddings"], dtype=np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    row = {chunk_id: i for i, chunk_id in enumerate(stored["ids"])}
    datasets = sorted((Path(__file__).resolve().parent.parent / "evals" / "datasets").glob("*.jsonl"))
    questions = [c.question for p in datasets for c in load_dataset(p)][::3]
    assert len(questions) >= 100
    for question in questions:
        query = np.asarray(real_bot.retriever.embeddings.embed_query(question), dtype=np.float64)
        similarity = vectors @ (query / np.linalg.norm(query))
        found = real_bot.retriever.index.store.similarity_search_by_vector(query.tolist(), k=DENSE_CANDIDATES)
        exact = np.sort(similarity)[::-1][:DENSE_CANDIDATES]
        assert np.allclose([similarity[row[d.id]] for d in found], exact, atol=1e-6), question


def test_a_long_sections_chunks_are_read_back_in_reading_order(real_bot):
    """A lookup takes a section's first chunk; read back in id order, that was often a middle piece."""
    from bot.chunking import chunk_corpus

    written = [c.chunk_id for c in chunk_corpus(real_bot.corpus)]
    assert [c.chunk_id for c in real_bot.retriever.chunks] == written


@pytest.mark.parametrize(
    ("question", "refused"),
    [
        # An everyday word that is also an alias ("container", "glance", "wine") does not make a long post
        # about something else a question about the corpus.
        (
            "My CSS container query does not fire: the card should turn green when its container is wider than 400px, what am I missing?",
            True,
        ),
        (
            "At a glance the dashboard looks fine, but the chart legend overlaps the labels on small screens, how can I fix that?",
            True,
        ),
        # ... while a short question, a capitalised name or other corpus words keep it on topic.
        ("What is a container?", False),
        (
            "Is this like Wine? I read the whole page twice and still could not understand what the difference is supposed to be.",
            False,
        ),
        (
            "My app runs in a container and the memory limit is ignored; is the cgroup limit set by the runtime or by the kernel?",
            False,
        ),
    ],
)
def test_an_everyday_word_alone_does_not_bring_a_long_post_into_scope(real_bot, question, refused):
    assert real_bot.ask(question).refused is refused


@pytest.mark.parametrize(
    ("question", "refused"),
    [
        # 虚拟 in 虚拟键盘 is another field's word; the subject's own words (虚拟化, 硬件) still bring a short
        # question that names nothing into scope.
        ("手机上的虚拟键盘把输入框挡住了怎么办？", True),
        ("虚拟化有哪几种实现方式？", False),
        ("哪些技术需要硬件支持？", False),
    ],
)
def test_a_short_question_is_in_scope_by_the_subjects_own_words(real_bot, question, refused):
    assert real_bot.ask(question).refused is refused
