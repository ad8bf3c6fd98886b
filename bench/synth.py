"""A synthetic corpus N times the real one, for the growth benchmark: every note's text repeated with varied wording.

Each note keeps its id and front matter and gains reworded copies of its body as extra sections
(`## 中文（改写 k）`, `## English (variant k)`): the sentences of each paragraph shuffled and common
connectives swapped for synonyms, so no two copies embed or tokenize alike. The entity count stays
fixed on purpose: copies under new ids would each add aliases, and alias matching costs
chunks x aliases, which would measure the alias matcher rather than the index (see bench README).
The same seed gives the same corpus.
"""

from __future__ import annotations

import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from bot.corpus import load_corpus
from bot.text import split_sentences

# Swapped both ways at random; whole words for English, plain substrings for Chinese.
_EN_SWAPS = [("however", "but"), ("so", "therefore"), ("usually", "typically"), ("also", "as well"), ("unlike", "in contrast to")]
_ZH_SWAPS = [("但", "不过"), ("因此", "所以"), ("通常", "一般"), ("可以", "能够")]
# How a variant section is named, and how to get the original heading back (the benchmark reuses vectors by it).
VARIANT_MARK = re.compile(r"（改写 \d+）| \(variant \d+\)")


@dataclass(frozen=True)
class SynthReport:
    scale: int
    notes: int
    copies_per_note: int


def _swap(text: str, rng: random.Random) -> str:
    for a, b in _EN_SWAPS:
        src, dst = (a, b) if rng.random() < 0.5 else (b, a)
        text = re.sub(rf"\b{src}\b", dst, text)
    for a, b in _ZH_SWAPS:
        if rng.random() < 0.5:
            text = text.replace(a, b)
    return text


def vary(body: str, rng: random.Random) -> str:
    """Reword Markdown: headings and list items stay in place, the sentences of each paragraph are shuffled."""
    out: list[str] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            text = " ".join(para)
            sentences = split_sentences(text)
            rng.shuffle(sentences)
            joiner = "" if re.search(r"[\u4e00-\u9fff]", text) else " "
            out.append(_swap(joiner.join(sentences), rng))
            para.clear()

    for line in body.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "-", "*", "|", ">")) or re.match(r"\s*\d+\.\s", line):
            flush()
            out.append(_swap(line, rng) if line.strip() and not line.startswith("#") else line)
        else:
            para.append(line.strip())
    flush()
    return "\n".join(out)


def _variant(body: str, k: int, rng: random.Random) -> str:
    text = vary(body, rng)
    text = re.sub(r"^## 中文\s*$", f"## 中文（改写 {k}）", text, flags=re.M)
    return re.sub(r"^## English\s*$", f"## English (variant {k})", text, flags=re.M)


def generate_corpus(src: Path, dst: Path, scale: int, seed: int = 0) -> SynthReport:
    """Write the real corpus into dst (replaced if present), its notes carrying enough reworded copies for ~scale x the text."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    corpus = load_corpus(src)  # only a valid corpus is worth multiplying
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    rng = random.Random(seed)
    # Enough copies that the whole corpus (article included, which is not copied) is ~scale times its size.
    total = sum(len(d.body) for d in corpus.documents)
    per_copy = sum(len(n.doc.body) for n in corpus.notes.values())
    n_copies = round((scale - 1) * total / per_copy)
    for note_id in sorted(corpus.notes):
        path = dst / "notes" / f"{note_id}.md"
        raw = path.read_text(encoding="utf-8")
        body = corpus.notes[note_id].doc.body
        head = raw[: len(raw) - len(body)] if raw.endswith(body) else raw.replace(body, "")
        copies = [_variant(body, k, rng) for k in range(1, n_copies + 1)]
        if copies:
            path.write_text(head + body.rstrip("\n") + "\n\n" + "\n\n".join(copies) + "\n", encoding="utf-8")
    return SynthReport(scale, len(corpus.notes), n_copies)
