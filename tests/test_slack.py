"""Slack over real HTTP: our FastAPI app under uvicorn on 127.0.0.1, and a fake Slack Web API on another port.

Requests are signed with slack_sdk's SignatureVerifier exactly as Slack signs them; the fake Web API
records chat.postMessage, conversations.replies and response_url posts, and can answer 429 once.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier
from uvicorn_thread import UvicornThread

from bot.answer import Answer, Citation
from bot.settings import Settings
from bot.slack import mount_slack
from bot.slack.dedup import DedupStore
from bot.slack.events import clean_text, is_ignorable
from bot.slack.format import SECTION_LIMIT, answer_messages, split_text, to_mrkdwn

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_USER = "UBOT"
REPO = Path(__file__).resolve().parent.parent


# --- servers ----------------------------------------------------------------------------------


class FakeSlack:
    """A tiny Slack Web API: records calls; `rate_limit_once` makes the next call to a method answer 429."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.replies: list[dict] = []  # what conversations.replies returns
        self.rate_limit_once: set[str] = set()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                params.update({k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()})
                method = url.path.rsplit("/", 1)[-1] if url.path.startswith("/api/") else url.path
                with fake.lock:
                    limited = method in fake.rate_limit_once
                    fake.rate_limit_once.discard(method)
                    fake.calls.append((method + (" (429)" if limited else ""), params))
                if limited:
                    self._send(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
                elif url.path.startswith("/response/"):
                    self._send(200, "ok")
                elif method == "auth.test":
                    self._send(200, {"ok": True, "user_id": BOT_USER, "bot_id": "BBOT", "team_id": "T1", "user": "vq"})
                elif method == "chat.postMessage":
                    self._send(200, {"ok": True, "channel": params.get("channel"), "ts": f"{time.time():.6f}"})
                elif method == "conversations.replies":
                    self._send(200, {"ok": True, "messages": fake.replies, "has_more": False})
                else:
                    self._send(404, {"ok": False, "error": "unknown_method"})

            def _send(self, status: int, body, headers: dict | None = None) -> None:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def called(self, method: str) -> list[dict]:
        with self.lock:
            return [p for m, p in self.calls if m == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.called(method)) >= count:
                return self.called(method)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} {method} call(s) within {timeout}s, got {self.calls}")


class AppServer(UvicornThread):
    """A FastAPI app with mount_slack, served by uvicorn on a free 127.0.0.1 port in a thread."""

    def __init__(self, settings: Settings, bot) -> None:
        app = FastAPI()
        mount_slack(app, settings, bot)
        super().__init__(app, "/slack/events")


@pytest.fixture(scope="module")
def qa_bot(tmp_path_factory):
    """One bot for the module (ingest takes seconds); each test still gets its own Slack data dir."""
    from bot.chain import Bot
    from bot.embeddings import embeddings_name, make_embeddings
    from bot.indexing import ingest

    s = Settings(corpus_dir=REPO / "corpus", data_dir=tmp_path_factory.mktemp("data"), embeddings="fake")
    emb = make_embeddings("fake")
    ingest(s, emb, embeddings_name(emb))
    return Bot.from_settings(s, emb)


@pytest.fixture
def fake_slack():
    fake = FakeSlack()
    yield fake
    fake.stop()


@pytest.fixture
def slack_settings(settings: Settings, fake_slack: FakeSlack) -> Settings:
    return dataclasses.replace(
        settings, slack_signing_secret=SECRET, slack_bot_token="xoxb-test", slack_api_url=fake_slack.url + "/api/"
    )


@pytest.fixture
def server(slack_settings: Settings, qa_bot):
    srv = AppServer(slack_settings, qa_bot)
    yield srv
    srv.stop()


def post_signed(url: str, body: str, content_type: str = "application/json", secret: str = SECRET, age: int = 0, **headers):
    timestamp = str(int(time.time()) - age)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature, **headers}
    return httpx.post(url, content=body.encode(), headers=headers, timeout=10)


def event_body(event_id: str, ts: str, text: str = f"<@{BOT_USER}> KVM 属于哪一类虚拟化？", **event) -> str:
    event = {"type": "app_mention", "user": "U1", "text": text, "ts": ts, "channel": "C1", "event_ts": ts, **event}
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
    )


def settle() -> None:
    """Give a wrongly-scheduled second reply time to show up before asserting there is none."""
    time.sleep(0.5)


# --- the endpoint -----------------------------------------------------------------------------


def test_url_verification_echoes_challenge(server: AppServer) -> None:
    r = post_signed(
        server.url, json.dumps({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY", "type": "url_verification"})
    )
    assert r.status_code == 200
    assert r.json()["challenge"] == "3eZbrw1aBm2rZgRNFdxV2595E9CY"


@pytest.mark.parametrize("how", ["bad signature", "stale timestamp", "unsigned"])
def test_unverified_requests_get_401(server: AppServer, fake_slack: FakeSlack, how: str) -> None:
    body = event_body("Ev401", "1700000000.000100")
    if how == "bad signature":
        r = post_signed(server.url, body, secret="not-the-secret")
    elif how == "stale timestamp":
        r = post_signed(server.url, body, age=6 * 60)
    else:
        r = httpx.post(server.url, content=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 401
    settle()
    assert fake_slack.called("chat.postMessage") == []


def test_without_signing_secret_the_endpoint_says_how_to_configure(settings: Settings, qa_bot) -> None:
    srv = AppServer(dataclasses.replace(settings, slack_signing_secret="", slack_bot_token="xoxb-test"), qa_bot)
    try:
        r = httpx.post(srv.url, content=b"{}", timeout=10)
    finally:
        srv.stop()
    assert r.status_code == 503
    assert "BOT_SLACK_SIGNING_SECRET" in r.json()["error"]


def test_mention_gets_exactly_one_threaded_reply(server: AppServer, fake_slack: FakeSlack) -> None:
    t0 = time.monotonic()
    r = post_signed(server.url, event_body("Ev1", "1700000000.000100"))
    assert r.status_code == 200
    assert time.monotonic() - t0 < 3
    (post,) = fake_slack.wait_for("chat.postMessage")
    settle()
    assert len(fake_slack.called("chat.postMessage")) == 1
    assert post["channel"] == "C1"
    assert post["thread_ts"] == "1700000000.000100"
    assert "KVM" in post["text"]
    kinds = [b["type"] for b in post["blocks"]]
    assert kinds[0] == "section" and kinds[-1] == "context"
    assert post["blocks"][-1]["elements"][0]["text"].startswith("*Sources*")
    assert all(len(b["text"]["text"]) < 3000 for b in post["blocks"] if b["type"] == "section")
    assert fake_slack.called("conversations.replies") == []  # not in a thread: no history to fetch


def test_reply_in_an_existing_thread_uses_its_earlier_turns(server: AppServer, fake_slack: FakeSlack) -> None:
    fake_slack.replies = [
        {"ts": "1700000000.000100", "user": "U1", "text": f"<@{BOT_USER}> KVM 属于哪一类虚拟化？"},
        {"ts": "1700000001.000100", "user": BOT_USER, "bot_id": "BBOT", "text": "KVM 是硬件辅助的全虚拟化。"},
        {"ts": "1700000002.000100", "user": "U1", "text": f"<@{BOT_USER}> 那 VirtualBox 呢？"},
    ]
    body = event_body("Ev2", "1700000002.000100", text=f"<@{BOT_USER}> 那 VirtualBox 呢？", thread_ts="1700000000.000100")
    assert post_signed(server.url, body).status_code == 200
    (post,) = fake_slack.wait_for("chat.postMessage")
    assert post["thread_ts"] == "1700000000.000100"
    (replies,) = fake_slack.called("conversations.replies")
    assert replies["channel"] == "C1" and replies["ts"] == "1700000000.000100"
    assert "VirtualBox" in post["text"]


def test_same_event_id_is_answered_once_even_after_a_restart(slack_settings: Settings, qa_bot, fake_slack: FakeSlack) -> None:
    body = event_body("EvDup", "1700000000.000200")
    srv = AppServer(slack_settings, qa_bot)
    try:
        assert post_signed(srv.url, body).status_code == 200
        fake_slack.wait_for("chat.postMessage")
        # Slack's retry of the same delivery
        assert post_signed(srv.url, body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}).status_code == 200
        settle()
    finally:
        srv.stop()
    srv = AppServer(slack_settings, qa_bot)  # same data dir, new process state
    try:
        assert post_signed(srv.url, body, **{"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}).status_code == 200
        settle()
        # a retry whose first delivery never arrived is still answered
        retry = event_body("EvLost", "1700000000.000300")
        assert post_signed(srv.url, retry, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"}).status_code == 200
        fake_slack.wait_for("chat.postMessage", 2)
        settle()
    finally:
        srv.stop()
    posts = fake_slack.called("chat.postMessage")
    assert [p["thread_ts"] for p in posts] == ["1700000000.000200", "1700000000.000300"]


def test_dm_mention_arriving_as_app_mention_and_message_is_answered_once(server: AppServer, fake_slack: FakeSlack) -> None:
    ts = "1700000000.000400"
    as_message = event_body("EvA", ts, type="message", channel="D1", channel_type="im")
    as_mention = event_body("EvB", ts, channel="D1")
    assert post_signed(server.url, as_message).status_code == 200
    assert post_signed(server.url, as_mention).status_code == 200
    fake_slack.wait_for("chat.postMessage")
    settle()
    (post,) = fake_slack.called("chat.postMessage")
    assert post["channel"] == "D1" and post["thread_ts"] == ts


def test_bot_messages_are_ignored(server: AppServer, fake_slack: FakeSlack) -> None:
    dm = {"type": "message", "channel": "D1", "channel_type": "im"}
    ignored = [
        event_body("EvBot1", "1700000000.000500", bot_id="BOTHER", **dm),
        event_body("EvBot2", "1700000000.000600", subtype="bot_message", **dm),
        event_body("EvBot3", "1700000000.000700", user=BOT_USER, **dm),
        event_body("EvEdit", "1700000000.000800", subtype="message_changed", **dm),
        event_body("EvChan", "1700000000.000900", type="message", channel_type="channel"),
    ]
    for body in ignored:
        assert post_signed(server.url, body).status_code == 200
    assert post_signed(server.url, event_body("EvHuman", "1700000000.001000", **dm)).status_code == 200
    fake_slack.wait_for("chat.postMessage")
    settle()
    assert [p["thread_ts"] for p in fake_slack.called("chat.postMessage")] == ["1700000000.001000"]


def test_slash_command_is_acked_fast_and_answered_at_response_url(server: AppServer, fake_slack: FakeSlack) -> None:
    form = urllib.parse.urlencode(
        {
            "token": "legacy",
            "team_id": "T1",
            "channel_id": "C1",
            "user_id": "U1",
            "command": "/vq",
            "text": "Docker 和虚拟机有什么区别？",
            "response_url": fake_slack.url + "/response/abc",
            "trigger_id": "1.2.3",
        }
    )
    t0 = time.monotonic()
    r = post_signed(server.url, form, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200
    assert time.monotonic() - t0 < 3
    assert "Docker" in r.text  # the ephemeral ack echoes the question
    (resp,) = fake_slack.wait_for("/response/abc")
    assert resp["response_type"] == "in_channel"
    assert "Docker" in resp["text"]
    assert resp["blocks"][0]["type"] == "context" and "<@U1>" in resp["blocks"][0]["elements"][0]["text"]
    assert fake_slack.called("chat.postMessage") == []


def test_slash_command_without_question_shows_usage(server: AppServer, fake_slack: FakeSlack) -> None:
    form = urllib.parse.urlencode(
        {"command": "/vq", "text": " ", "user_id": "U1", "response_url": fake_slack.url + "/response/x"}
    )
    r = post_signed(server.url, form, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200 and "/vq" in r.text
    settle()
    assert fake_slack.called("/response/x") == []


def test_rate_limited_post_is_retried_after_retry_after(server: AppServer, fake_slack: FakeSlack) -> None:
    fake_slack.rate_limit_once.add("chat.postMessage")
    assert post_signed(server.url, event_body("Ev429", "1700000000.001100")).status_code == 200
    (post,) = fake_slack.wait_for("chat.postMessage", timeout=15)
    settle()
    assert len(fake_slack.called("chat.postMessage (429)")) == 1
    assert len(fake_slack.called("chat.postMessage")) == 1
    assert post["thread_ts"] == "1700000000.001100"


# --- pure parts: message text, splitting, formatting, de-dup ----------------------------------


def test_clean_text_and_ignorable_events() -> None:
    assert clean_text(f"<@{BOT_USER}> is a &lt;VM&gt; &amp; <https://x.org|this> fast?", BOT_USER) == "is a <VM> & this fast?"
    assert is_ignorable({"user": "U1", "bot_id": "B2"}, BOT_USER)
    assert is_ignorable({"user": BOT_USER}, BOT_USER)
    assert not is_ignorable({"user": "U1", "text": "hi"}, BOT_USER)


SENTENCES_ZH = [
    "KVM 是 Linux 内核里的虚拟化模块。",
    "它借助 Intel VT-x 或 AMD-V 运行客户机！",
    "容器共享宿主内核吗？",
    "不共享。",
]


def test_long_chinese_answer_is_split_at_sentence_ends() -> None:
    text = "".join(SENTENCES_ZH[i % 4] * (1 + i % 3) for i in range(400))
    pieces = split_text(text, SECTION_LIMIT)
    assert len(pieces) > 1
    assert "".join(pieces) == text
    for p in pieces:
        assert 0 < len(p) <= SECTION_LIMIT
        assert p[-1] in "。！？"

    answer = Answer(text=text, lang="zh", intent="explain", entities=["kvm"], refused=False)
    ((fallback, blocks),) = answer_messages(answer)
    assert len(blocks) == len(pieces)
    assert all(len(b["text"]["text"]) < 3000 for b in blocks)
    assert len(fallback) < 3000 and fallback.endswith("…")


def test_markdown_becomes_escaped_mrkdwn_with_readable_tables() -> None:
    md = "**KVM** & <QEMU> are [docs](https://linux-kvm.org).\n\n| 维度 | KVM [1] | Docker [2] |\n|---|---|---|\n| 分类 | 一型 | 容器 |\n\n> ⚠️ 注意 a < b\n"
    out = to_mrkdwn(md)
    assert out.startswith("*KVM* &amp; &lt;QEMU&gt; are <https://linux-kvm.org|docs>.")
    assert "*分类*\n• KVM [1]: 一型\n• Docker [2]: 容器" in out
    assert "| 分类" not in out and "|---" not in out
    assert "\n> ⚠️ 注意 a &lt; b" in out

    cited = Answer(
        text=md,
        lang="zh",
        intent="compare",
        entities=["kvm"],
        refused=False,
        citations=[Citation(1, "notes/kvm", "kvm", "KVM", "...", "corpus/notes/kvm.md#概要", heading="概要")],
    )
    ((fallback, blocks),) = answer_messages(cited)
    assert blocks[-1]["elements"][0]["text"] == "*Sources*\n[1] KVM · 概要 (corpus/notes/kvm.md#概要)"
    assert "<" not in fallback.replace("&lt;", "") and "**" not in fallback


TABLE = "| 维度 | KVM | Docker |\n|---|---|---|\n| 分类 | 一型虚拟机监控器 | 操作系统级虚拟化 |\n| 内核 | 自己的内核。 | 共享宿主内核。 |\n"
_units = st.one_of(
    st.sampled_from(SENTENCES_ZH),
    st.sampled_from(["KVM is a kernel module. ", "Is Docker a VM? ", "No! ", "It shares the host kernel [1]. "]),
    st.just("\n\n"),
    st.just("\n\n" + TABLE + "\n"),
)


@hsettings(max_examples=150, deadline=None)
@given(units=st.lists(_units, max_size=60), limit=st.integers(min_value=len(TABLE), max_value=600))
def test_split_property_whole_text_kept_pieces_fit_no_cut_inside_tables_or_sentences(units: list[str], limit: int) -> None:
    text = "".join(units)
    pieces = split_text(text, limit)
    assert "".join(pieces) == text
    assert all(0 < len(p) <= limit for p in pieces)
    inside, offset = set(), 0
    for u in units:  # each unit is a whole sentence, blank line or table: no cut within its visible text
        start = offset + len(u) - len(u.lstrip())
        end = offset + len(u.rstrip())
        inside.update(range(start + 1, end))
        offset += len(u)
    cuts = {sum(len(p) for p in pieces[:i]) for i in range(1, len(pieces))}
    assert not cuts & inside


def test_dedup_store_survives_reopening(tmp_path: Path) -> None:
    store = DedupStore.in_data_dir(tmp_path)
    assert store.claim(["event:E1", "msg:C1:1.0"])
    assert not store.claim(["event:E1", "msg:C1:2.0"])
    assert not store.claim(["event:E2", "msg:C1:1.0"])
    reopened = DedupStore.in_data_dir(tmp_path)
    assert reopened.seen("event:E1") and not reopened.seen("event:E2") and not reopened.seen("msg:C1:2.0")
    assert (tmp_path / "slack" / "dedup.sqlite3").exists()


# --- issue 16: crashes, mentions, invisible characters, bounded history ----------------------------

CLAIM_AND_EXIT = """
import sys, time
from pathlib import Path
from bot.slack.dedup import DedupStore
store = DedupStore.in_data_dir(Path(sys.argv[1]))
assert store.claim(sys.argv[3:])
print("claimed", flush=True)
if sys.argv[2] == "stay":
    time.sleep(60)
"""


def _claim_in_another_process(data_dir: Path, keys: list[str], stay: bool):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", CLAIM_AND_EXIT, str(data_dir), "stay" if stay else "exit", *keys],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "claimed"
    if not stay:
        assert proc.wait(timeout=30) == 0
    return proc


def test_a_retry_after_a_crash_between_claim_and_post_is_answered_once(
    slack_settings: Settings, qa_bot, fake_slack: FakeSlack
) -> None:
    """Item 6: the process that claimed the event died before posting; Slack's retry must be answered."""
    ts = "1700000000.002000"
    _claim_in_another_process(slack_settings.data_dir, ["event:EvCrash", f"msg:C1:{ts}"], stay=False)
    srv = AppServer(slack_settings, qa_bot)
    try:
        retry = event_body("EvCrash", ts)
        assert (
            post_signed(srv.url, retry, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}).status_code == 200
        )
        fake_slack.wait_for("chat.postMessage")
        assert (
            post_signed(srv.url, retry, **{"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}).status_code == 200
        )
        settle()
    finally:
        srv.stop()
    assert [p["thread_ts"] for p in fake_slack.called("chat.postMessage")] == [ts]
    assert DedupStore.in_data_dir(slack_settings.data_dir).state("event:EvCrash") == "done"


def test_a_retry_while_another_live_process_answers_is_dropped(slack_settings: Settings, qa_bot, fake_slack: FakeSlack) -> None:
    ts = "1700000000.002100"
    owner = _claim_in_another_process(slack_settings.data_dir, ["event:EvBusy", f"msg:C1:{ts}"], stay=True)
    srv = AppServer(slack_settings, qa_bot)
    try:
        retry = event_body("EvBusy", ts)
        assert (
            post_signed(srv.url, retry, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}).status_code == 200
        )
        settle()
    finally:
        srv.stop()
        owner.kill()
        owner.wait(timeout=10)
    assert fake_slack.called("chat.postMessage") == []


MENTIONS = ["<!channel>", "<!here>", "<!everyone>", "<@U0123ABC>", "<#C0123|general>", "<!subteam^S0123>", "<!date^1|x>"]


class ScriptedBot:
    """Stands in for a bot whose LLM writes `text` (Markdown, possibly hostile); records the history it is given."""

    def __init__(self, text: str = "ok") -> None:
        self.text = text
        self.histories: list[list[dict]] = []

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        self.histories.append(list(history or []))
        cite = Citation(1, "notes/kvm", "kvm", "KVM <!channel>", "...", "corpus/notes/kvm.md#<!here>", heading="<@U0123ABC>")
        return Answer(text=self.text, lang="en", intent="explain", entities=["kvm"], refused=False, citations=[cite])


def _hostile_markdown() -> str:
    forms = " ".join(MENTIONS)
    return (
        f"# {forms}\n\n**{forms}** and *{forms}* in a sentence. [{forms}](https://example.org/{forms}) "
        f"[x](https://example.org|<!channel>)\n\n> {forms}\n\n- {forms}\n\n"
        f"| {forms} | b |\n|---|---|\n| {forms} | `{forms}` |\n\n"
        f"```{forms}\n{forms}\n```\n\n`{forms}`\n"
    )


def _no_live_mention(text: str) -> bool:
    return not any(m in text for m in ("<!", "<@", "<#"))


def test_every_mention_form_reaches_slack_escaped_in_every_block_and_the_fallback(
    slack_settings: Settings, fake_slack: FakeSlack
) -> None:
    """Item 7: `<!channel>` on a code-fence line went out unescaped, in the blocks and the fallback text."""
    srv = AppServer(slack_settings, ScriptedBot(_hostile_markdown()))
    try:
        assert post_signed(srv.url, event_body("EvMention", "1700000000.002200")).status_code == 200
        (post,) = fake_slack.wait_for("chat.postMessage")
    finally:
        srv.stop()
    assert _no_live_mention(post["text"]), post["text"]
    texts = [b["text"]["text"] for b in post["blocks"] if b["type"] == "section"]
    texts += [e["text"] for b in post["blocks"] if b["type"] == "context" for e in b["elements"]]
    for text in texts:
        assert _no_live_mention(text), text
    assert "&lt;!channel&gt;" in "".join(texts)  # shown, as text


def test_an_llm_reply_with_mentions_in_a_code_fence_is_escaped(slack_settings: Settings, fake_slack: FakeSlack, tmp_path) -> None:
    """Item 7 with the real LLM path: a fake OpenAI endpoint writes the reply."""
    from fake_openai import FakeOpenAI
    from fake_openai import serve as serve_fake_openai

    from bot.chain import Bot
    from bot.embeddings import FakeEmbeddings
    from bot.indexing import ingest

    with serve_fake_openai() as llm:
        s = dataclasses.replace(
            slack_settings, llm="openai:test-model", llm_base_url=f"{llm.url}/v1", llm_api_key="sk-x", llm_timeout=5
        )
        ingest(s, FakeEmbeddings(), "fake")
        bot = Bot.from_settings(s, FakeEmbeddings())
        llm.reply(lambda body: f"{_first_block_sentence(body)} [1]\n\n```<!channel>\n<!here> <@U0123ABC>\n```")
        srv = AppServer(s, bot)
        try:
            assert post_signed(srv.url, event_body("EvLlm", "1700000000.002300")).status_code == 200
            (post,) = fake_slack.wait_for("chat.postMessage", timeout=20)
        finally:
            srv.stop()
        assert isinstance(llm, FakeOpenAI) and llm.requests
    assert post["text"] and _no_live_mention(post["text"]), post["text"]
    texts = [b.get("text", {}).get("text", "") for b in post["blocks"]]
    texts += [e["text"] for b in post["blocks"] for e in b.get("elements", [])]
    assert all(_no_live_mention(t) for t in texts), texts
    assert "&lt;!channel&gt;" in "".join(texts) and "&lt;!channel&gt;" in post["text"]  # the LLM's reply was used, escaped


def _first_block_sentence(body: dict) -> str:
    import re

    from bot.text import split_sentences

    user = body["messages"][-1]["content"]
    ctx = user.split("Passages:\n", 1)[1]
    first = re.split(r"(?:^|\n\n)\[\d+\] \([^\n]*\)\n", ctx)[1]
    return split_sentences(first)[0]


def test_slash_command_echo_drops_bidi_controls_and_invisible_characters(server: AppServer, fake_slack: FakeSlack) -> None:
    """Item 12: a bidi override in the question was echoed into the "asked:" line, reordering it."""
    sneaky = "\u202eKVM\u202c \u2066是\u2069什么\u2060？\u200b\ufeff\u061c\u200e"
    form = urllib.parse.urlencode(
        {"command": "/vq", "text": sneaky, "user_id": "U1", "response_url": fake_slack.url + "/response/bidi"}
    )
    r = post_signed(server.url, form, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200
    (resp,) = fake_slack.wait_for("/response/bidi")
    header = resp["blocks"][0]["elements"][0]["text"]
    assert header.endswith("asked: KVM 是什么？")
    for shown in (r.text, header, resp["text"]):
        assert not any(ch in shown for ch in sneaky if not ch.isalnum() and ch not in " ？")


def test_slack_history_is_bounded_in_turns_and_length(slack_settings: Settings, fake_slack: FakeSlack) -> None:
    """Item 4 on Slack: a thread of huge messages reaches the bot as a bounded history."""
    from bot.history import MAX_TURN_CHARS, MAX_TURNS

    fake_slack.replies = [
        {"ts": f"1700000000.{i:06d}", "user": "U1", "text": "KVM 是什么？" + "\ufdfa" * 40_000} for i in range(1, 60)
    ]
    bot = ScriptedBot()
    srv = AppServer(slack_settings, bot)
    try:
        body = event_body("EvLong", "1700000000.000900", thread_ts="1700000000.000001")
        assert post_signed(srv.url, body).status_code == 200
        fake_slack.wait_for("chat.postMessage")
    finally:
        srv.stop()
    (history,) = bot.histories
    assert 0 < len(history) <= MAX_TURNS and all(len(t["content"]) <= MAX_TURN_CHARS for t in history)
