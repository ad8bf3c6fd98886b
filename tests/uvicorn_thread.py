"""Serve an ASGI app with uvicorn in a thread on a free 127.0.0.1 port, for tests that need real HTTP."""

import socket
import threading
import time

import uvicorn


class UvicornThread:
    def __init__(self, app, path: str = "", config: uvicorn.Config | None = None) -> None:
        """`config` replaces the default test configuration (e.g. the one `bot serve` uses)."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}{path}"
        self.server = uvicorn.Server(config or uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive()
