"""The dead-letter file: every rejection as one JSON line, so nothing is silently lost."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import orjson

from ingest.decoded import Rejection

MAX_BYTES = 64 * 1024 * 1024


def payload_text(payload: bytes) -> str:
    """The payload as UTF-8 text, or ``base64:...`` when it is not valid UTF-8.

    >>> payload_text(b'{"v": 1}'), payload_text(b"\\xff")
    ('{"v": 1}', 'base64:/w==')
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(payload).decode("ascii")
    if text.startswith("base64:"):  # keep the encoding unambiguous
        return "base64:" + base64.b64encode(payload).decode("ascii")
    return text


class DeadLetter:
    """Appends one JSON line per rejection to `path`; rotates to `path.1` past `max_bytes`.

    Lines: ``{"received", "topic", "reason", "detail", "row", "payload"}``. Call `flush()`
    after each message (the Ingestor does) so a kill -9 loses at most the last one.
    """

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = None
        self._size = 0
        self._open()

    def _open(self) -> None:
        self._file = open(self.path, "ab")
        self._size = self._file.tell()

    def write(self, rejection: Rejection, received: float) -> None:
        """Buffer one line; it reaches the file on `flush()` or when the buffer fills."""
        if self._file is None:
            raise ValueError(f"dead letter {self.path} is closed")
        record: dict[str, Any] = {
            "received": received,
            "topic": rejection.topic,
            "reason": str(rejection.reason),
            "detail": rejection.detail,
            "row": rejection.row,
            "payload": payload_text(rejection.payload),
        }
        try:
            line = orjson.dumps(record) + b"\n"
        except (TypeError, orjson.JSONEncodeError):
            # lone surrogates in a topic or detail: the stdlib escapes them
            line = json.dumps(record, ensure_ascii=True).encode("ascii") + b"\n"
        if self._size and self._size + len(line) > self.max_bytes:
            self._rotate()
        assert self._file is not None
        self._file.write(line)
        self._size += len(line)

    def write_all(self, rejections: list[Rejection], received: float) -> None:
        """Write the rejections of one message and flush them to the OS."""
        for rejection in rejections:
            self.write(rejection, received)
        self.flush()

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._open()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
