"""End to end in a real headless browser: `python -m bot serve` on 127.0.0.1, driven by Playwright.

Uses Debian's chromium (`apt-get install chromium fonts-noto-cjk`); never downloads a browser.
"""

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 30_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real server process with fake embeddings and its own data dir; stopped afterwards."""
    data = tmp_path_factory.mktemp("browser") / "data"
    env = {**os.environ, "BOT_DATA_DIR": str(data), "BOT_EMBEDDINGS": "fake", "GRADIO_ANALYTICS_ENABLED": "False"}
    subprocess.run([sys.executable, "ingest.py"], cwd=REPO, env=env, check=True, timeout=300, capture_output=True)
    port = _free_port()
    log = (data.parent / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"server exited early; see {log.name}"
            try:
                health = httpx.get(f"{url}/healthz", timeout=2)
                if health.status_code == 200 and health.json()["ui"] == "ready":  # the chat follows the API
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not become healthy within 120 s"
            time.sleep(0.5)
        yield url, data
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            pg.set_default_timeout(WAIT_MS)
            pg.goto(server[0])
            pg.wait_for_selector("#question textarea")
            yield pg
        finally:
            browser.close()


def _ask(page, question: str) -> None:
    before = page.locator("#chat [data-testid='bot']").count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#chat [data-testid=\"bot\"]').length > n", arg=before, timeout=WAIT_MS
    )
    # Answers stream in; call it finished when the last bubble has held the same text for a moment.
    last, deadline = None, time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        text = page.locator("#chat [data-testid='bot']").last.inner_text()
        if text == last and text.strip() not in ("", "…"):
            return
        last = text
        time.sleep(0.5)
    raise AssertionError(f"the answer did not settle within {WAIT_MS / 1000:g} s")


def test_compare_question_table_sources_and_dislike(page, server, tmp_path):
    _, data = server
    _ask(page, "Docker 和 KVM 有什么区别？")
    page.wait_for_selector("#chat table")
    assert "[1]" in page.inner_text("#chat")
    assert "KVM" in page.inner_text("#chat table")

    # Open a source: its snippet and note path become visible.
    first = page.locator("#sources details").first
    first.locator("summary").click()
    assert "[1]" in first.locator("summary").inner_text()
    assert first.locator("blockquote").is_visible()
    assert "corpus/notes/" in first.locator(".where").inner_text()

    page.fill("#feedback-comment textarea", "wants a startup-time row")
    page.locator("#chat button[aria-label='Dislike']").last.click()
    page.wait_for_function("() => document.querySelector('#feedback-status').innerText.includes('saved')")
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)

    db = data / "feedback" / "feedback.sqlite3"
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT verdict, question, answer, retrieved, comment FROM feedback").fetchall()
    finally:
        con.close()
    assert len(rows) == 1
    verdict, question, answer, retrieved, comment = rows[0]
    assert verdict == "dislike" and "Docker" in question and "KVM" in answer
    assert '"docker"' in retrieved and comment == "wants a startup-time row"


def test_empty_message_sends_nothing_and_html_shows_as_text(page, tmp_path):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.press("#question textarea", "Enter")
    page.fill("#question textarea", "   ")
    page.press("#question textarea", "Enter")
    time.sleep(1)
    assert page.locator("#chat [data-testid='user']").count() == 0

    _ask(page, "<img src=x onerror=alert(1)><script>alert(2)</script> KVM 是什么？")
    assert "<img src=x onerror=alert(1)>" in page.inner_text("#chat")
    assert page.locator("#chat img[src='x']").count() == 0
    assert dialogs == []

    _ask(page, "KVM 是什么？" + "虚" * 100_000)
    assert "truncated" in page.inner_text("#chat")
    page.screenshot(path=str(tmp_path / "bad-input.png"), full_page=True)


def test_taxonomy_tab_shows_the_matrix(page, tmp_path):
    page.get_by_role("tab", name="Taxonomy / 分类图").click()
    page.wait_for_selector("#taxonomy table")
    text = page.inner_text("#taxonomy")
    for word in ("Type-1 (bare-metal) hypervisor", "KVM", "Docker", "Wine", "Python venv"):
        assert word in text
    page.screenshot(path=str(tmp_path / "taxonomy.png"), full_page=True)


def test_retry_replaces_the_answer(page):
    _ask(page, "What does Wine virtualize?")
    page.locator("#chat button[aria-label='Retry']").last.click()
    time.sleep(1)
    page.wait_for_function("() => document.querySelectorAll('#chat [data-testid=\"bot\"]').length === 1")
    page.wait_for_function("() => document.querySelector('#chat [data-testid=\"bot\"]').innerText.includes('[1]')")
    assert page.locator("#chat [data-testid='user']").count() == 1
    assert "Wine" in page.locator("#chat [data-testid='bot']").inner_text()


def test_markdown_images_are_never_fetched(page):
    """Issue 16, item 8: `![x](http://other.host/...)` in a question was rendered and fetched by the browser."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits = []

    class Pixel(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.end_headers()
            self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

    other = ThreadingHTTPServer(("127.0.0.1", 0), Pixel)  # another origin: another port
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{other.server_address[1]}"
        _ask(page, f"KVM 是什么？ ![leak]({url}/q.png?secret=1) ![ref][r]\n\n[r]: {url}/r.png")
        time.sleep(1)
        assert "![leak]" in page.inner_text("#chat")  # shown as the text that was typed
        assert page.locator(f"#chat img[src^='{url}']").count() == 0
        # The page's CSP would block such an image even if one were rendered.
        page.evaluate(
            f"() => {{ const i = document.createElement('img'); i.src = '{url}/csp.png'; document.body.appendChild(i); }}"
        )
        time.sleep(1)
    finally:
        other.shutdown()
        other.server_close()
    assert hits == []
