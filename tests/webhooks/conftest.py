"""A real HTTP server on loopback that receives webhooks, and the settings that allow it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class Receiver:
    """Answers each POST with the next planned status (200 once the plan is used up)."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    plan: list[int] = field(default_factory=list)
    delay: float = 0.0
    location: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/dinamis?x=1"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver.received.append(Received(self.path, dict(self.headers.items()), body))
            if receiver.delay:
                time.sleep(receiver.delay)  # a slow receiver (the server side, not the test)
            status = receiver.plan.pop(0) if receiver.plan else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", receiver.location)
            self.send_header("Content-Length", "2")
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up (a timeout test)
                self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def start_receiver() -> Receiver:
    receiver = Receiver(server=ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler))
    receiver.server.server_close()
    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.server.daemon_threads = True
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = start_receiver()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def set_webhook_settings(app, **changes) -> None:
    settings = app.config["DINAMIS_SETTINGS"]
    app.config["DINAMIS_SETTINGS"] = replace(
        settings, webhooks=replace(settings.webhooks, **changes)
    )


@pytest.fixture
def loopback(app) -> Iterator[None]:
    """The development setting that allows loopback, with small retry numbers."""
    saved = app.config["DINAMIS_SETTINGS"]
    set_webhook_settings(
        app, allow_private_addresses=True, timeout=1.0, max_attempts=3, max_failures=4
    )
    try:
        yield
    finally:
        app.config["DINAMIS_SETTINGS"] = saved


@pytest.fixture
def strict(app) -> Iterator[None]:
    """The default: only public addresses."""
    saved = app.config["DINAMIS_SETTINGS"]
    set_webhook_settings(app, allow_private_addresses=False)
    try:
        yield
    finally:
        app.config["DINAMIS_SETTINGS"] = saved
