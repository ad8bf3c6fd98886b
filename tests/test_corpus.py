"""The corpus loads, and each way a note can be broken is reported with its file (and line)."""

import re
from pathlib import Path

import pytest

from bot.corpus import REQUIRED_IDS, load_corpus
from bot.errors import CorpusError

REPO = Path(__file__).resolve().parent.parent


def test_real_corpus_loads_every_entity_with_both_languages():
    corpus = load_corpus(REPO / "corpus")
    assert set(REQUIRED_IDS) <= set(corpus.notes)
    assert len(corpus.errata) >= 8
    for note in corpus.notes.values():
        assert note.summary["zh"] and note.summary["en"]
        assert note.category in corpus.categories
        assert note.sources, f"{note.id} has no sources"


def test_every_misconception_says_it_is_one():
    """A reply quotes single sentences: "Another is that rootless means unrestricted: ..." shown alone
    reads as a fact, so a misconception names itself ("Another misconception is that ...")."""
    from bot.text import split_sentences

    unmarked = re.compile(r"^(another|one more)( one)? is\b|^(另一个|还有一个)是", re.I)
    found = [
        (path.name, sentence[:60])
        for path in sorted((REPO / "corpus" / "notes").glob("*.md"))
        for sentence in split_sentences(path.read_text(encoding="utf-8"))
        if unmarked.search(sentence)
    ]
    assert found == []


def test_article_is_clean_markdown_with_headings_and_lists():
    text = (REPO / "corpus" / "article.md").read_text(encoding="utf-8")
    assert "跳至主要內容" not in text and "大约 8 分钟" not in text
    assert "author: LincZero" in text
    assert "Docket" in text  # the author's typo is kept
    assert len(re.findall(r"^## ", text, re.M)) >= 3
    assert len(re.findall(r"^\s*[-*] ", text, re.M)) >= 30


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_missing_note_is_named(corpus_copy):
    (corpus_copy / "notes" / "rkt.md").unlink()
    with pytest.raises(CorpusError, match="rkt"):
        load_corpus(corpus_copy)


def test_duplicate_id_is_reported(corpus_copy):
    _edit(corpus_copy / "notes" / "lxc.md", "id: lxc", "id: docker")
    with pytest.raises(CorpusError, match=r"lxc\.md:\d+: (duplicate id|id `docker` does not match)"):
        load_corpus(corpus_copy)


def test_alias_claimed_by_two_entities(corpus_copy):
    _edit(corpus_copy / "notes" / "xen.md", "aliases: [", "aliases: [KVM, ")
    with pytest.raises(CorpusError, match=r"alias `kvm` is claimed by both"):
        load_corpus(corpus_copy)


def test_category_outside_taxonomy(corpus_copy):
    _edit(corpus_copy / "notes" / "kvm.md", "category: type-1-hypervisor", "category: type-3-hypervisor")
    with pytest.raises(CorpusError, match=r"kvm\.md:\d+: category `type-3-hypervisor` is not in taxonomy"):
        load_corpus(corpus_copy)


def test_relation_to_unknown_id(corpus_copy):
    _edit(corpus_copy / "notes" / "kvm.md", "  runs-on: [", "  runs-on: [qemu-tcg, ")
    with pytest.raises(CorpusError, match="unknown id `qemu-tcg`"):
        load_corpus(corpus_copy)


def test_note_without_english_section(corpus_copy):
    path = corpus_copy / "notes" / "kvm.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.split("## English")[0], encoding="utf-8")
    with pytest.raises(CorpusError, match=r"kvm\.md:\d+: a note needs both"):
        load_corpus(corpus_copy)


def test_malformed_front_matter_names_file_and_line(corpus_copy):
    path = corpus_copy / "notes" / "kvm.md"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = "name: [unclosed\n"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(CorpusError, match=r"kvm\.md:\d+: malformed front matter"):
        load_corpus(corpus_copy)


def test_missing_id_field(corpus_copy):
    _edit(corpus_copy / "notes" / "wine.md", "id: wine\n", "")
    with pytest.raises(CorpusError, match=r"wine\.md:\d+: front matter needs a `id`"):
        load_corpus(corpus_copy)


def test_a_part_that_is_not_an_alias_names_file_and_line(corpus_copy):
    _edit(corpus_copy / "notes" / "qemu.md", "parts: [", "parts: [TCGX, ")
    with pytest.raises(CorpusError, match=r"qemu\.md:\d+: part `TCGX` must also be one of the aliases"):
        load_corpus(corpus_copy)
