"""Curated question–answer pairs (corpus/qa/<entity>.yaml), loaded into typed records and validated.

Each pair holds the ways people ask one question (2–4 phrasings per language), a direct answer of one
to three sentences in each language, optional supporting detail, and the note sections it rests on.
Errors name the file and line, like the notes'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.errors import CorpusError

LANGS = ("zh", "en")
ASK_KINDS = ("what", "how", "why", "yesno", "which", "compare", "history", "confusion", "practice")
SECTIONS = ("summary", "what", "how", "classification", "compare", "misconceptions", "practice")
PHRASINGS = (2, 4)  # fewest and most phrasings per language
# libyaml's safe loader when PyYAML has it: the same data, many times faster than the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class QaPair:
    id: str
    about: tuple[str, ...]  # entity ids the pair is about
    ask: str  # the kind of question (ASK_KINDS)
    cites: tuple[tuple[str, str], ...]  # (entity id, note section) the answer rests on
    questions: dict[str, tuple[str, ...]]  # lang -> phrasings
    answer: dict[str, str]  # lang -> the direct answer
    more: dict[str, str]  # lang -> supporting detail ({} when there is none)
    path: Path
    line: int


def load_qa(folder: Path, entity_ids: set[str]) -> list[QaPair]:
    """Every pair in `folder`/*.yaml (none when the folder is missing), checked against the corpus's entity ids."""
    pairs: list[QaPair] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        for pair in _read(path, entity_ids):
            where = f"{path.name}:{pair.line}"
            if pair.id in seen:
                raise CorpusError(f"{path}:{pair.line}: duplicate pair id `{pair.id}` (also at {seen[pair.id]})")
            seen[pair.id] = where
            pairs.append(pair)
    return pairs


def _read(path: Path, entity_ids: set[str]) -> list[QaPair]:
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read ({exc})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise CorpusError(f"{path}:{mark.line + 1 if mark else 1}: malformed YAML: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        return []
    if not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
        raise CorpusError(f"{path}:1: a Q&A file is a YAML list of pairs (lines starting with `- id:`)")
    return [_pair(path, item, node, entity_ids) for item, node in zip(data, root.value, strict=True)]


def _pair(path: Path, d, node: yaml.Node, entity_ids: set[str]) -> QaPair:
    line = node.start_mark.line + 1
    keys = {k.value: k.start_mark.line + 1 for k, _ in node.value} if isinstance(node, yaml.MappingNode) else {}

    def fail(key: str, msg: str) -> CorpusError:
        return CorpusError(f"{path}:{keys.get(key, line)}: {msg}")

    if not isinstance(d, dict):
        raise CorpusError(f"{path}:{line}: each pair is a mapping with id, about, ask, cites, q and a")
    if not isinstance(d.get("id"), str) or not d["id"].strip():
        raise fail("id", "a pair needs an `id` string")
    pid = d["id"].strip()
    about = d.get("about")
    if not isinstance(about, list) or not about or not all(isinstance(e, str) for e in about):
        raise fail("about", f"`{pid}`: `about` must be a list of entity ids")
    unknown = [e for e in about if e not in entity_ids]
    if unknown:
        raise fail("about", f"`{pid}`: `about` names unknown entity id(s) {', '.join(unknown)}")
    if d.get("ask") not in ASK_KINDS:
        raise fail("ask", f"`{pid}`: `ask` must be one of {', '.join(ASK_KINDS)}, got {d.get('ask')!r}")
    cites = []
    for c in d.get("cites") or []:
        entity, _, section = str(c).partition("#")
        if entity not in entity_ids or section not in SECTIONS:
            raise fail("cites", f"`{pid}`: cite `{c}` must be <entity id>#<section>, a section of {', '.join(SECTIONS)}")
        cites.append((entity, section))
    if not cites:
        raise fail("cites", f"`{pid}`: `cites` must name at least one note section")
    questions = {}
    q = d.get("q")
    for lang in LANGS:
        items = q.get(lang) if isinstance(q, dict) else None
        if not isinstance(items, list) or not all(isinstance(s, str) and s.strip() for s in items):
            raise fail("q", f"`{pid}`: `q.{lang}` must be a list of phrasings")
        if not PHRASINGS[0] <= len(items) <= PHRASINGS[1]:
            raise fail("q", f"`{pid}`: `q.{lang}` has {len(items)} phrasings; give {PHRASINGS[0]} to {PHRASINGS[1]}")
        questions[lang] = tuple(s.strip() for s in items)
    answer = _bilingual(d.get("a"), lambda msg: fail("a", f"`{pid}`: `a` {msg}"))
    more = _bilingual(d["more"], lambda msg: fail("more", f"`{pid}`: `more` {msg}")) if d.get("more") else {}
    return QaPair(pid, tuple(about), d["ask"], tuple(cites), questions, answer, more, path, line)


def _bilingual(value, fail) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(value.get(lang), str) and value[lang].strip() for lang in LANGS):
        raise fail("needs non-empty `zh` and `en` strings")
    return {lang: " ".join(value[lang].split()) for lang in LANGS}
