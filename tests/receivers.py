"""Loopback endpoints the notification tests send to: an HTTP receiver (webhooks, apprise's
json:// and form:// targets) and an SMTP server (aiosmtpd), each started by the test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What an HTTP receiver took in, answered 2xx (`ok`) or not (`refused`); `fail_first`
    requests are answered 500; once `hold_after` were answered 2xx, a request is `held`:
    never answered until `release` is set, then dropped (the test kills the sender
    meanwhile)."""

    url: str
    fail_first: int = 0
    hold_after: int | None = None
    ok: list[Received] = field(default_factory=list)
    refused: list[Received] = field(default_factory=list)
    held: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def http_receiver(fail_first: int = 0, hold_after: int | None = None) -> Iterator[Receiver]:
    """A receiver on a free loopback port; every POST is recorded."""
    box: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            r = box["r"]
            got = Received(
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(int(self.headers.get("Content-Length", 0))),
            )
            with r.lock:
                if r.hold_after is not None and len(r.ok) >= r.hold_after:
                    r.held.append(got)
                    held = True
                else:
                    held = False
                    failing = len(r.refused) < r.fail_first
                    (r.refused if failing else r.ok).append(got)
            if held:
                r.release.wait(60)
                return  # never answered: the connection closes unanswered
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}", fail_first, hold_after)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box["r"]
    finally:
        box["r"].release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """aiosmtpd on a free loopback port; every message delivered is parsed and kept."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox("127.0.0.1", port)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
