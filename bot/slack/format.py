"""Turn an Answer into Slack messages: Markdown -> mrkdwn, split at sentence ends, Block Kit blocks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from bot.answer import Answer

# Slack rejects a section whose text is 3,000 characters or more; keep a margin.
SECTION_LIMIT = 2900
# A message holds at most 50 blocks; leave room for the context blocks.
SECTIONS_PER_MESSAGE = 40
# The notification / fallback `text` of a message.
FALLBACK_LIMIT = 2900

_TABLE_LINE = re.compile(r"^[ \t]*\|.*(?:\n|$)", re.M)
_TABLE_SEP_CELL = re.compile(r"^:?-{2,}:?$")
_FENCE = "```"
# A sentence ends at Chinese 。！？ (always), at English . ! ? followed by space or the end (not in
# "e.g." or "vs."), or at a line end. Closing quotes/brackets and citation markers such as " [3]"
# stay with their sentence, and so does the whitespace after it, so that every piece starts with
# the next sentence's first word.
_SENTENCE_END = re.compile(
    r"""(?:[。！？]+|(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bcf)[.!?]+(?=[\s"'”’)\]]|$)|…+)
        [”’"'」』)）\]]*
        (?:[ \t]*\[\d+\])*
        \s*
      |\n\s*""",
    re.X,
)


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control characters in message text.

    Every mention form (<!channel>, <!here>, <@U…>, <#C…>, <!subteam^…>) starts with "<", so
    escaped text can mention no one; everything sent to Slack passes through here.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- splitting --------------------------------------------------------------------------------


def split_text(text: str, limit: int = SECTION_LIMIT, measure: Callable[[str], int] = len) -> list[str]:
    """Split text into pieces with measure(piece) <= limit, cutting only between blocks or sentences.

    Blocks are paragraphs, Markdown tables and fenced code; a block that fits is never cut, a
    paragraph that does not fit is cut at sentence ends, and only a single sentence (or table row)
    longer than the limit is cut inside (at a space if possible). "".join(pieces) == text.
    """
    pieces: list[str] = []
    current = ""
    for unit in _units(text, limit, measure):
        if current and measure(current + unit) > limit:
            pieces.append(current)
            current = unit
        else:
            current += unit
    if current:
        pieces.append(current)
    return pieces


def _units(text: str, limit: int, measure: Callable[[str], int]) -> Iterator[str]:
    for whole in _blocks(text):
        block = whole.rstrip()
        tail = whole[len(block) :]  # trailing newlines go on their own, so they never push a block over
        if tail:
            block += tail[: tail.find("\n") + 1]  # but a table or line keeps its own line end
            tail = whole[len(block) :]
        if measure(block) <= limit:
            yield block
            if tail:
                yield tail
            continue
        parts = block.splitlines(keepends=True) if block.lstrip().startswith(("|", _FENCE)) else _sentences(block)
        for part in parts:
            if measure(part) <= limit:
                yield part
            else:
                yield from _hard_split(part, limit, measure)
        if tail:
            yield tail


def _blocks(text: str) -> list[str]:
    """Paragraphs (with their trailing blank lines), whole tables and whole fenced code blocks."""
    blocks: list[str] = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        start = i
        if lines[i].lstrip().startswith("|"):
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                i += 1
        elif lines[i].lstrip().startswith(_FENCE):
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(_FENCE):
                i += 1
            i = min(i + 1, len(lines))
        else:
            while i < len(lines) and lines[i].strip() and not lines[i].lstrip().startswith(("|", _FENCE)):
                i += 1
        while i < len(lines) and not lines[i].strip():  # blank lines stay with the block above
            i += 1
        blocks.append("".join(lines[start:i]))
    return blocks


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() > start:
            out.append(text[start : m.end()])
            start = m.end()
    if start < len(text):
        out.append(text[start:])
    return out


def _hard_split(text: str, limit: int, measure: Callable[[str], int]) -> Iterator[str]:
    while text:
        if measure(text) <= limit:
            yield text
            return
        lo, hi = 1, len(text)  # the longest prefix that fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if measure(text[:mid]) <= limit:
                hi, lo = hi, mid
            else:
                hi = mid - 1
        cut = lo
        space = text.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space + 1
        yield text[:cut]
        text = text[cut:]


# --- Markdown -> Slack mrkdwn -----------------------------------------------------------------


def to_mrkdwn(md: str) -> str:
    """Convert the bot's Markdown to Slack mrkdwn; tables become one bullet list per row."""
    out: list[str] = []
    in_fence = False
    table: list[str] = []
    for line in md.splitlines(keepends=True):
        if not in_fence and line.lstrip().startswith("|"):
            table.append(line)
            continue
        if table:
            out.append(_table_to_lines(table))
            table = []
        if line.lstrip().startswith(_FENCE):
            in_fence = not in_fence
            out.append(escape(line))  # "```<!channel>" is text after the fence, and Slack would act on it
        elif in_fence:
            out.append(escape(line))
        else:
            out.append(_inline(line))
    if table:
        out.append(_table_to_lines(table))
    return "".join(out)


def to_plain(md: str) -> str:
    """A plain-text rendering for notifications and the message fallback (still escaped)."""
    text = to_mrkdwn(md)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    return text.replace("*", "").replace("`", "")


def _inline(line: str) -> str:
    body = line.rstrip("\n")
    newline = line[len(body) :]
    quote = ""
    m = re.match(r"^([ \t]*>[ \t]?)", body)
    if m:  # Slack quotes a line that starts with a literal ">", so keep that one unescaped
        quote, body = "> ", body[m.end() :]
    heading = re.match(r"^#{1,6}\s+(.*)$", body)
    if heading:
        body = f"**{heading.group(1).strip()}**"
    body = re.sub(r"^(\s*)[-*+]\s+", r"\1• ", body)
    body = escape(body)
    # A link's URL may not hold "|" or an escaped "<" / ">", so it cannot smuggle in a second label or a mention.
    body = re.sub(r"\[([^\]]+)\]\((https?://[^)\s|]+)\)", lambda m: _link(m.group(2), m.group(1)), body)
    body = re.sub(r"\*\*(.+?)\*\*", "\x00\\1\x00", body)
    body = re.sub(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])", r"_\1_", body)
    body = body.replace("\x00", "*")
    return quote + body + newline


def _link(url: str, label: str) -> str:
    if "&lt;" in url or "&gt;" in url:
        return f"{label} ({url})"
    return f"<{url}|{label}>"


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [c.strip() for c in line.split("|")]


def _table_to_lines(lines: list[str]) -> str:
    """Slack has no tables and a monospaced block breaks on CJK widths, so each row becomes a list."""
    rows = [_cells(line) for line in lines if not all(_TABLE_SEP_CELL.match(c) for c in _cells(line) if c)]
    if not rows:
        return ""
    header, body = rows[0], rows[1:]
    if not body:
        return _inline(" · ".join(header)) + "\n"
    groups = []
    for row in body:
        if len(header) <= 2:
            value = row[1] if len(row) > 1 else ""
            groups.append(_inline(f"- **{row[0]}**: {value}"))
            continue
        parts = [_inline(f"**{row[0]}**")]
        for name, value in zip(header[1:], row[1:], strict=False):
            parts.append(_inline(f"- {name}: {value}"))
        groups.append("\n".join(parts))
    joiner = "\n" if len(header) <= 2 else "\n\n"
    return joiner.join(groups) + "\n"


# --- Block Kit --------------------------------------------------------------------------------


def sources_text(answer: Answer, limit: int = 1900) -> str:
    """One line per citation: "[1] KVM · 概要 (corpus/notes/kvm.md#概要)"."""
    lines = ["*Sources*"]
    for c in answer.citations:
        heading = f" · {c.heading}" if c.heading else ""
        lines.append(escape(f"[{c.n}] {c.title}{heading} ({c.source})"))
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def answer_messages(answer: Answer, header: str = "") -> list[tuple[str, list[dict]]]:
    """The (fallback text, blocks) of each message needed to post an answer, in order.

    `header` is already-escaped mrkdwn shown as a context line first (the slash command's question).
    """
    pieces = [p for p in split_text(answer.text, SECTION_LIMIT, lambda s: len(to_mrkdwn(s).strip())) if p.strip()]
    if not pieces:
        pieces = ["…"]
    messages = []
    for start in range(0, len(pieces), SECTIONS_PER_MESSAGE):
        group = pieces[start : start + SECTIONS_PER_MESSAGE]
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": to_mrkdwn(p).strip()}} for p in group]
        if start == 0 and header:
            blocks.insert(0, _context(header))
        if start + SECTIONS_PER_MESSAGE >= len(pieces) and answer.citations:
            blocks.append(_context(sources_text(answer)))
        text = to_plain("".join(group))
        messages.append((_fallback(text), blocks))
    return messages


def _context(mrkdwn: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn}]}


def _fallback(text: str) -> str:
    text = text.strip() or "…"
    if len(text) <= FALLBACK_LIMIT:
        return text
    return split_text(text, FALLBACK_LIMIT - 1)[0].rstrip() + "…"
