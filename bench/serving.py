"""`bot serve` under use: its memory after 100 questions and its throughput with 8 clients posting to /api/ask."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bench.startup import start_serve, stop
from evals.scoring import Case, percentile

CONCURRENCY = 8


def measure_serve(data: Path, cases: list[Case], requests: int, warm: int = 100) -> dict:
    """Start `python -m bot serve`, ask `warm` questions, read its VmHWM, then time POSTs from 8 clients."""
    import httpx

    log_path = data.parent / "serve.log"
    # BOT_RATE_LIMIT=0: the limiter would turn most of the load into 429s.
    proc, startup_s = start_serve(data, log_path, BOT_RATE_LIMIT="0")
    try:
        if startup_s is None:
            tail = log_path.read_text()[-600:]
            return {"measured": False, "reason": f"not measured: server not healthy within 180 s ({tail.strip()})"}
        base = proc.base_url  # type: ignore[attr-defined]
        questions = [c.question for c in cases]
        with httpx.Client(timeout=60) as client:
            codes = [
                client.post(f"{base}/api/ask", json={"question": questions[i % len(questions)]}).status_code for i in range(warm)
            ]
        rss_after = {"vmhwm_mb": _vm(proc.pid, "VmHWM"), "vmrss_mb": _vm(proc.pid, "VmRSS")}
        tput = _throughput(base, questions, requests)
        return {
            "measured": True,
            "startup_to_healthy_s": round(startup_s, 2),
            "warm_questions": warm,
            "warm_ok": sum(c == 200 for c in codes),
            "peak_rss_mb": rss_after["vmhwm_mb"],
            "rss_mb": rss_after["vmrss_mb"],
            "peak_rss_after_load_mb": _vm(proc.pid, "VmHWM"),
            **tput,
        }
    finally:
        stop(proc)


def _vm(pid: int, key: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 1024, 1)  # kB -> MB
    except OSError:
        return None
    return None


def _throughput(base: str, questions: list[str], total: int) -> dict:
    import httpx

    lat: list[float] = []
    codes: list[int] = []
    counter = iter(range(total))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=60) as c:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t = time.perf_counter()
                try:
                    code = c.post(f"{base}/api/ask", json={"question": questions[i % len(questions)]}).status_code
                except httpx.HTTPError:
                    code = 0
                with lock:
                    lat.append((time.perf_counter() - t) * 1000)
                    codes.append(code)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ok = sum(c == 200 for c in codes)
    return {
        "concurrency": CONCURRENCY,
        "requests": total,
        "ok": ok,
        "errors": total - ok,
        "requests_per_s": round(ok / wall, 1),
        "latency_p50_ms": percentile(lat, 0.5),
        "latency_p95_ms": percentile(lat, 0.95),
    }
