"""The Gradio chat: streaming answers, a sources panel, like/dislike feedback, and the taxonomy map."""

from __future__ import annotations

import html
import logging
import queue
import threading
import time
from collections.abc import Iterator

import gradio as gr

from bot.answer import Answer
from bot.corpus import Corpus, load_corpus
from bot.errors import BotError, public_message
from bot.lexicon import load_lexicon
from bot.settings import Settings
from bot.web.feedback import FeedbackStore

log = logging.getLogger(__name__)


def examples() -> list[str]:
    """The chat's example questions, Chinese then English (bot/lexicon/phrases.*.toml)."""
    phrases = load_lexicon().phrases
    return [*phrases["zh"]["examples"], *phrases["en"]["examples"]]


CSS = """
.sources details { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 6px 10px; margin: 0 0 8px; }
.sources summary { cursor: pointer; font-weight: 600; }
.sources blockquote { margin: 6px 0; padding-left: 8px; border-left: 3px solid var(--border-color-accent); }
.sources .where { font-family: ui-monospace, monospace; font-size: 0.85em; opacity: 0.75; }
.taxonomy table { border-collapse: collapse; width: 100%; }
.taxonomy th, .taxonomy td { border: 1px solid var(--border-color-primary); padding: 6px 8px; vertical-align: top; text-align: left; }
.taxonomy tr.v-true td.cat { background: rgba(34, 197, 94, 0.15); }
.taxonomy tr.v-partly td.cat { background: rgba(234, 179, 8, 0.18); }
.taxonomy tr.v-false td.cat { background: rgba(148, 163, 184, 0.25); }
.taxonomy .zh { opacity: 0.8; font-size: 0.92em; }
"""

_VERDICT_LABEL = {"true": "yes / 是", "partly": "partly / 部分", "false": "no / 不是"}


def theme() -> gr.themes.Theme:
    """The default theme with system fonts: the stock one fetches Google Fonts, and nothing may call out."""
    return gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def escape_md(text: str) -> str:
    """Make text safe for the Markdown renderers: HTML shows as text, Markdown (tables, quotes) still works.

    Images show as their Markdown text: the browser would fetch `![x](https://any.host/?q=…)` from
    anywhere, which lets a question or an LLM reply send data out (the page's CSP blocks it too).
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("![", "!&#91;")


def render_answer(answer: Answer) -> str:
    """The chat bubble for a finished answer: the text, then any notices (e.g. a truncated question)."""
    notes = "".join(f"\n\n> ℹ️ *{escape_md(n)}*" for n in answer.notices)
    return escape_md(answer.text) + notes


def render_sources(answer: Answer | None) -> str:
    """One collapsible block per citation: [n] title — section, the snippet and where it comes from."""
    if answer is None or not answer.citations:
        return '<div class="sources"><p><em>Sources of the latest answer appear here. / 最新回答的来源显示在这里。</em></p></div>'
    parts = ['<div class="sources">']
    for c in answer.citations:
        section = f" — {html.escape(c.heading)}" if c.heading else ""
        parts.append(
            f'<details class="source" data-n="{c.n}"><summary>[{c.n}] {html.escape(c.title)}{section}</summary>'
            f"<blockquote>{html.escape(c.snippet)}</blockquote>"
            f'<div class="where">{html.escape(c.source)}</div></details>'
        )
    parts.append("</div>")
    return "".join(parts)


def render_taxonomy(corpus: Corpus) -> str:
    """An HTML matrix: one row group per taxonomy category, each entity with what it virtualizes."""
    rows = []
    for cat in corpus.categories.values():
        members = [m for m in cat.members if m in corpus.notes]
        members += [n.id for n in corpus.notes.values() if n.category == cat.id and n.id not in members]
        if not members:
            continue
        verdict = cat.is_virtualization if cat.is_virtualization in _VERDICT_LABEL else "partly"
        for i, entity in enumerate(members):
            note = corpus.notes[entity]
            what = note.axes.get("virtualizes", {})
            cells = ""
            if i == 0:
                span = len(members)
                cells = (
                    f'<td class="cat" rowspan="{span}"><b>{html.escape(cat.name["en"])}</b><br>'
                    f'<span class="zh">{html.escape(cat.name["zh"])}</span></td>'
                    f'<td class="cat" rowspan="{span}">{_VERDICT_LABEL[verdict]}</td>'
                )
            rows.append(
                f'<tr class="v-{verdict}">{cells}<td><b>{html.escape(note.name)}</b><br><code>{html.escape(note.id)}</code></td>'
                f'<td>{html.escape(what.get("en", ""))}<br><span class="zh">{html.escape(what.get("zh", ""))}</span></td></tr>'
            )
    head = (
        "<tr><th>Category / 类别</th><th>Virtualization? / 算虚拟化吗</th><th>Entity / 技术</th>"
        "<th>What it virtualizes / 虚拟化的对象</th></tr>"
    )
    return f'<div class="taxonomy"><table><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'


def stream_with_deadline(bot, question: str, history: list[dict], timeout_s: float) -> Iterator[str | Answer]:
    """bot.stream run in a worker thread, so a slow answer is cut after `timeout_s` (raises TimeoutError)."""
    pieces: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            for piece in bot.stream(question, history):
                pieces.put(("piece", piece))
            pieces.put(("end", None))
        except Exception as exc:  # handed to the consumer, which decides what the user sees
            pieces.put(("error", exc))

    threading.Thread(target=work, daemon=True, name="answer-stream").start()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            kind, value = pieces.get(timeout=max(deadline - time.monotonic(), 0.001))
        except queue.Empty:
            raise TimeoutError from None
        if kind == "end":
            return
        if kind == "error":
            raise value
        yield value


def build_ui(holder, settings: Settings, store: FeedbackStore, timeout_s: float = 30.0) -> gr.Blocks:
    """The Blocks app: a Chat tab (chat, sources, feedback) and a Taxonomy tab.

    `holder` is a web.BotHolder: `stream` answers (history bounded by bot.history), `bot` is the loaded Bot or None.
    """
    limit = settings.max_question_chars

    def take_question(text: str, chat: list, raw: list):
        # An empty message sends nothing; the turn lists stay as they were.
        if not text or not text.strip():
            return "", chat, raw
        shown = text if len(text) <= limit else text[:limit] + f"\n\n… *({len(text)} characters pasted; cut to {limit})*"
        return "", [*chat, {"role": "user", "content": escape_md(shown)}], [*raw, {"role": "user", "content": text}]

    def respond(chat: list, raw: list, answers: dict):
        # Runs after take_question or a retry: answers the last user turn if it has no reply yet.
        if not raw or raw[-1]["role"] != "user":
            yield chat, raw, answers, gr.skip()
            return
        question, history = raw[-1]["content"], raw[:-1]
        chat = [*chat, {"role": "assistant", "content": "…"}]
        yield chat, raw, answers, gr.skip()
        text, answer = "", None
        try:
            # The holder keeps the index generation this answer started on until it is done.
            for piece in stream_with_deadline(holder, question, history, timeout_s):
                if isinstance(piece, Answer):
                    answer = piece
                else:
                    text += piece
                    chat[-1] = {"role": "assistant", "content": escape_md(text)}
                    yield chat, raw, answers, gr.skip()
        except TimeoutError:
            chat[-1] = {
                "role": "assistant",
                "content": f"⏱️ No answer within {timeout_s:g} s; the request was cut off. Please try again.",
            }
        except BotError as exc:
            chat[-1] = {"role": "assistant", "content": f"⚠️ {escape_md(public_message(str(exc)))}"}
        except Exception:
            log.exception("answering failed")
            chat[-1] = {"role": "assistant", "content": "⚠️ Something went wrong while answering; the server log has details."}
        if answer is None:
            yield chat, [*raw, {"role": "assistant", "content": ""}], answers, gr.skip()
            return
        chat[-1] = {"role": "assistant", "content": render_answer(answer)}
        answers = {**answers, len(chat) - 1: answer}
        yield chat, [*raw, {"role": "assistant", "content": answer.text}], answers, render_sources(answer)

    def retry(chat: list, raw: list, answers: dict, data: gr.RetryData):
        keep = data.index + 1  # the user message being retried stays; its answer goes
        return chat[:keep], raw[:keep], {i: a for i, a in answers.items() if i < keep}

    def feedback(answers: dict, raw: list, comment: str, data: gr.LikeData):
        verdict = {True: "like", False: "dislike", "Like": "like", "Dislike": "dislike"}.get(data.liked)
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        answer = answers.get(index)
        if verdict is None or answer is None:
            return gr.skip(), gr.skip()
        store.add(verdict, answer, comment or "", history=raw[: max(index - 1, 0)])
        return f"Thanks — your {verdict} was saved. / 已记录你的反馈。", ""

    with gr.Blocks(title="Virtualization Q&A", analytics_enabled=False) as demo:
        gr.Markdown(
            "## Virtualization Q&A · 虚拟化问答\nAnswers come from a curated corpus; numbers like [1] point to the sources."
        )
        with gr.Tab("Chat / 对话"):
            raw = gr.State([])
            answers = gr.State({})
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(
                        height=560,
                        show_label=False,
                        buttons=["copy", "copy_all"],
                        placeholder="Ask about KVM, Docker, WSL, Wine… / 问我关于虚拟化技术的问题",
                        elem_id="chat",
                        sanitize_html=True,
                    )
                    msg = gr.Textbox(
                        placeholder="Type a question and press Enter / 输入问题后按回车",
                        show_label=False,
                        submit_btn=True,
                        elem_id="question",
                        lines=1,
                        max_lines=6,
                    )
                    gr.Examples(examples(), inputs=msg, label="Examples / 示例")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources / 来源")
                    sources = gr.HTML(render_sources(None), elem_id="sources")
                    comment = gr.Textbox(
                        label="Comment sent with like / dislike (optional) / 评价说明（可选）",
                        lines=2,
                        elem_id="feedback-comment",
                    )
                    status = gr.Markdown("", elem_id="feedback-status")

            msg.submit(take_question, [msg, chat, raw], [msg, chat, raw], queue=False).then(
                respond, [chat, raw, answers], [chat, raw, answers, sources]
            )
            chat.retry(retry, [chat, raw, answers], [chat, raw, answers], queue=False).then(
                respond, [chat, raw, answers], [chat, raw, answers, sources]
            )
            chat.clear(lambda: ([], {}, render_sources(None)), None, [raw, answers, sources], queue=False)
            chat.like(feedback, [answers, raw, comment], [status, comment], queue=False)
        with gr.Tab("Taxonomy / 分类图"):
            gr.Markdown("Every entity in the corpus, placed by its category and by what it virtualizes.")
            gr.HTML(_taxonomy_or_error(holder, settings), elem_id="taxonomy")
    return demo


def _taxonomy_or_error(holder, settings: Settings) -> str:
    try:
        corpus = holder.bot.corpus if holder.bot is not None else load_corpus(settings.corpus_dir)
    except BotError as exc:
        return f"<p>The taxonomy cannot be shown: {html.escape(str(exc))}</p>"
    return render_taxonomy(corpus)
