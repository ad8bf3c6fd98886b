"""Load the corpus (article, notes, taxonomy, errata) into typed records, validating as we go."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import CorpusError
from bot.qa import QaPair, load_qa
from bot.text import normalize

# The entity ids other tools rely on (shared/INTERFACES.md). More may be added, none removed.
TECHNOLOGY_IDS = (
    "intel-vt-x amd-v wsl jvm webassembly docker kubernetes ebpf dpdk python-venv xen vmware-esxi "
    "hyper-v virtualbox kvm openshift lxc rkt cygwin wine nfv virtual-dom"
).split()
CONCEPT_IDS = (
    "hypervisor full-virtualization paravirtualization hardware-assisted-virtualization "
    "os-level-virtualization process-virtual-machine compatibility-layer"
).split()
# The neighbours people ask about (shared/INTERFACES.md, "notes to add").
NEIGHBOUR_IDS = (
    "qemu emulation libvirt proxmox-ve vmware-workstation parallels-desktop docker-desktop podman "
    "container-runtime-stack gvisor kata-containers firecracker nested-virtualization iommu "
    "windows-hypervisor-platform lxd chroot-jails dotnet-clr conda vagrant openstack"
).split()
REQUIRED_IDS = tuple(TECHNOLOGY_IDS + CONCEPT_IDS + NEIGHBOUR_IDS)
AXES = ("virtualizes isolation host_kernel guest_modification hardware_support performance startup typical_use").split()
RELATION_KINDS = ("runs-on", "uses", "orchestrates", "alternative-to", "enables")
SPECIAL_FILES = {"taxonomy.md", "article-errata.md"}


@dataclass(frozen=True)
class Document:
    """One Markdown file: its front matter and body, with where the body starts."""

    doc_id: str
    path: Path
    meta: dict[str, Any]
    body: str
    body_line: int  # 1-based line number of the body's first line in the file


@dataclass(frozen=True)
class Note:
    id: str
    name: str
    kind: str
    aliases: tuple[str, ...]
    category: str
    techniques: tuple[str, ...]
    is_virtualization: dict[str, str]
    summary: dict[str, str]
    axes: dict[str, dict[str, str]]
    relations: dict[str, tuple[str, ...]]
    sources: tuple[dict[str, str], ...]
    doc: Document
    # Aliases that name a component or feature of the entity, not the whole ("EPT" of Intel VT-x, "TCG" of
    # QEMU): a question that uses one asks about that part.
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Category:
    id: str
    name: dict[str, str]
    is_virtualization: str
    members: tuple[str, ...]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Erratum:
    id: str
    entities: tuple[str, ...]
    quote: str
    title: dict[str, str]
    truth: dict[str, str]
    sources: tuple[dict[str, str], ...]


@dataclass
class Corpus:
    article: Document
    notes: dict[str, Note]
    categories: dict[str, Category]
    axes: dict[str, dict[str, str]]  # axis id -> {"zh": label, "en": label}
    article_groups: list[dict[str, Any]]
    errata: list[Erratum]
    documents: list[Document] = field(default_factory=list)  # everything that gets indexed
    qa: list[QaPair] = field(default_factory=list)  # curated question–answer pairs (corpus/qa/)

    def alias_map(self) -> dict[str, str]:
        """Normalised alias -> entity id (names and ids count as aliases)."""
        out: dict[str, str] = {}
        for note in self.notes.values():
            for alias in (note.id, note.name, *note.aliases):
                out[normalize(alias)] = note.id
        return out


# libyaml's safe loader when PyYAML was built with it: the same data, about ten times faster than
# the pure-Python one (which took 0.14 s of every start for the notes' front matter).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_FRONT = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.S)


def read_document(path: Path, doc_id: str) -> Document:
    """Split a Markdown file into YAML front matter and body; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not valid UTF-8 (byte {exc.start})") from exc
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from exc
    if "\x00" in text:  # a binary or damaged file; indexing it would put garbage in every answer
        line = text[: text.index("\x00")].count("\n") + 1
        raise CorpusError(f"{path}:{line}: contains a NUL byte (a binary or damaged file?)")
    text = text.replace("\r\n", "\n")
    m = _FRONT.match(text)
    if not m:
        raise CorpusError(f"{path}:1: missing YAML front matter (a block between two '---' lines)")
    try:
        meta = yaml.load(m.group(1), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CorpusError(f"{path}:{line}: malformed front matter: {problem}") from exc
    if not isinstance(meta, dict):
        raise CorpusError(f"{path}:2: front matter must be a mapping of keys to values")
    body_line = text[: m.end()].count("\n") + 1
    return Document(doc_id, path, meta, text[m.end() :], body_line)


def _line_of(doc: Document, key: str) -> int:
    """Best-effort line number of a front-matter key, for error messages."""
    lines = doc.path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines[: doc.body_line], start=1):
        if line.startswith(f"{key}:"):
            return i
    return 1


def _bilingual(doc: Document, key: str, value: Any) -> dict[str, str]:
    if not (isinstance(value, dict) and all(isinstance(value.get(k), str) and value.get(k) for k in ("zh", "en"))):
        raise CorpusError(f"{doc.path}:{_line_of(doc, key.split('.')[0])}: `{key}` needs non-empty `zh` and `en` strings")
    return {"zh": value["zh"].strip(), "en": value["en"].strip()}


def _str_list(doc: Document, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise CorpusError(f"{doc.path}:{_line_of(doc, key)}: `{key}` must be a list of strings")
    return tuple(str(v) for v in value)


def _note(doc: Document) -> Note:
    m = doc.meta
    for key in ("id", "name", "category"):
        if not isinstance(m.get(key), str) or not m[key].strip():
            raise CorpusError(f"{doc.path}:{_line_of(doc, key)}: front matter needs a `{key}` string")
    isv = m.get("is_virtualization")
    if not isinstance(isv, dict) or str(isv.get("value")).lower() not in {"true", "partly", "false"}:
        raise CorpusError(
            f"{doc.path}:{_line_of(doc, 'is_virtualization')}: `is_virtualization.value` must be true, partly or false"
        )
    is_virt = {"value": str(isv["value"]).lower(), **_bilingual(doc, "is_virtualization", isv)}
    axes_raw = m.get("axes")
    if not isinstance(axes_raw, dict):
        raise CorpusError(f"{doc.path}:{_line_of(doc, 'axes')}: front matter needs `axes`")
    axes = {}
    for axis in AXES:
        if axis not in axes_raw:
            raise CorpusError(f"{doc.path}:{_line_of(doc, 'axes')}: `axes` is missing `{axis}`")
        axes[axis] = _bilingual(doc, f"axes.{axis}", axes_raw[axis])
    rel_raw = m.get("relations") or {}
    if not isinstance(rel_raw, dict):
        raise CorpusError(f"{doc.path}:{_line_of(doc, 'relations')}: `relations` must be a mapping")
    relations = {}
    for kind, targets in rel_raw.items():
        if kind not in RELATION_KINDS:
            raise CorpusError(
                f"{doc.path}:{_line_of(doc, 'relations')}: unknown relation `{kind}` (use one of {', '.join(RELATION_KINDS)})"
            )
        relations[kind] = _str_list(doc, "relations", targets)
    aliases = _str_list(doc, "aliases", m.get("aliases"))
    sources = m.get("sources") or []
    if not isinstance(sources, list) or not all(isinstance(s, dict) and s.get("title") for s in sources):
        raise CorpusError(f"{doc.path}:{_line_of(doc, 'sources')}: `sources` must be a list of {{title, url}}")
    return Note(
        id=m["id"].strip(),
        name=m["name"].strip(),
        kind=str(m.get("kind", "technology")),
        aliases=aliases,
        category=m["category"].strip(),
        techniques=_str_list(doc, "techniques", m.get("techniques")),
        is_virtualization=is_virt,
        summary=_bilingual(doc, "summary", m.get("summary")),
        axes=axes,
        relations=relations,
        sources=tuple({"title": str(s["title"]), "url": str(s.get("url", ""))} for s in sources),
        doc=doc,
        parts=_parts(doc, aliases),
    )


def _parts(doc: Document, aliases: tuple[str, ...]) -> tuple[str, ...]:
    parts = _str_list(doc, "parts", doc.meta.get("parts"))
    for part in parts:
        if part not in aliases:
            raise CorpusError(f"{doc.path}:{_line_of(doc, 'parts')}: part `{part}` must also be one of the aliases")
    return parts


def _has_sections(body: str) -> tuple[bool, bool]:
    heads = [h.strip().lower() for h in re.findall(r"^##\s+(.+)$", body, re.M)]
    return any("中文" in h for h in heads), any("english" in h for h in heads)


def load_corpus(corpus_dir: Path) -> Corpus:
    """Read and validate the whole corpus; raises CorpusError naming the file (and line)."""
    notes_dir = corpus_dir / "notes"
    article_path = corpus_dir / "article.md"
    if not article_path.is_file() or not notes_dir.is_dir():
        raise CorpusError(f"{corpus_dir}: expected article.md and a notes/ folder; is BOT_CORPUS_DIR right?")
    article = read_document(article_path, "article")

    taxonomy = read_document(notes_dir / "taxonomy.md", "notes/taxonomy")
    categories = {}
    for c in taxonomy.meta.get("categories") or []:
        categories[c["id"]] = Category(
            c["id"],
            {"zh": c["zh"], "en": c["en"]},
            str(c["is_virtualization"]).lower(),
            tuple(c.get("members") or ()),
            tuple(str(a) for a in c.get("aliases") or ()),
        )
    axes = {a["id"]: {"zh": a["zh"], "en": a["en"]} for a in taxonomy.meta.get("axes") or []}
    if not categories or set(axes) != set(AXES):
        raise CorpusError(f"{taxonomy.path}:2: taxonomy needs `categories` and exactly the axes {', '.join(AXES)}")

    errata_doc = read_document(notes_dir / "article-errata.md", "notes/article-errata")
    errata = []
    for i, e in enumerate(errata_doc.meta.get("errata") or [], start=1):
        try:
            errata.append(
                Erratum(
                    id=str(e["id"]),
                    entities=tuple(e.get("entities") or ()),
                    quote=str(e["quote"]),
                    title=_bilingual(errata_doc, "errata.title", e.get("title")),
                    truth=_bilingual(errata_doc, "errata.truth", e.get("truth")),
                    sources=tuple(e.get("sources") or ()),
                )
            )
        except (KeyError, TypeError) as exc:
            raise CorpusError(f"{errata_doc.path}:{_line_of(errata_doc, 'errata')}: erratum #{i} is missing {exc}") from exc

    notes: dict[str, Note] = {}
    documents = [article, taxonomy, errata_doc]
    for path in sorted(notes_dir.glob("*.md")):
        if path.name in SPECIAL_FILES:
            continue
        doc = read_document(path, f"notes/{path.stem}")
        note = _note(doc)
        if note.id in notes:
            raise CorpusError(f"{path}:{_line_of(doc, 'id')}: duplicate id `{note.id}` (also in {notes[note.id].doc.path.name})")
        if note.id != path.stem:
            raise CorpusError(f"{path}:{_line_of(doc, 'id')}: id `{note.id}` does not match the file name `{path.stem}`")
        zh, en = _has_sections(doc.body)
        if not (zh and en):
            raise CorpusError(f"{path}:{doc.body_line}: a note needs both a `## 中文` and a `## English` section")
        notes[note.id] = note
        documents.append(doc)

    corpus = Corpus(article, notes, categories, axes, list(taxonomy.meta.get("article_groups") or []), errata, documents)
    _check_references(corpus)
    corpus.qa = load_qa(corpus_dir / "qa", set(notes))
    return corpus


def _check_references(corpus: Corpus) -> None:
    missing = [i for i in REQUIRED_IDS if i not in corpus.notes]
    if missing:
        raise CorpusError(f"corpus/notes: no note for entity id(s) {', '.join(missing)}")
    for cat in corpus.categories.values():
        unknown = [m for m in cat.members if m not in corpus.notes]
        if unknown:
            raise CorpusError(f"corpus/notes/taxonomy.md: category `{cat.id}` lists unknown member(s) {', '.join(unknown)}")
    placed = {m for cat in corpus.categories.values() for m in cat.members}
    for note in corpus.notes.values():
        if note.id not in placed:
            raise CorpusError(
                f"corpus/notes/taxonomy.md: `{note.id}` is in no category's members (its note says `{note.category}`)"
            )
    owner: dict[str, str] = {}
    for note in corpus.notes.values():
        p = note.doc.path
        if note.category not in corpus.categories:
            raise CorpusError(f"{p}:{_line_of(note.doc, 'category')}: category `{note.category}` is not in taxonomy.md")
        for kind, targets in note.relations.items():
            for t in targets:
                if t not in corpus.notes:
                    raise CorpusError(f"{p}:{_line_of(note.doc, 'relations')}: relation {kind} -> unknown id `{t}`")
        for t in note.techniques:
            if t not in corpus.notes:
                raise CorpusError(f"{p}:{_line_of(note.doc, 'techniques')}: technique `{t}` is not an entity id")
        for alias in {normalize(a) for a in (note.id, note.name, *note.aliases)}:
            other = owner.setdefault(alias, note.id)
            if other != note.id:
                raise CorpusError(
                    f"{p}:{_line_of(note.doc, 'aliases')}: alias `{alias}` is claimed by both `{other}` and `{note.id}`"
                )
    for e in corpus.errata:
        for t in e.entities:
            if t not in corpus.notes:
                raise CorpusError(f"article-errata.md: erratum `{e.id}` names unknown entity `{t}`")
