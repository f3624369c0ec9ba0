"""Line readers: one ASCII line per scan, terminated by CR, LF or CRLF.

Accepted lines (surrounding spaces ignored, empty lines skipped):

    C:<token>     a card       e.g. ``C:0012345678``
    P:<token>     a palm match e.g. ``P:9f86d081884c7d65``
    <token>       a bare token is a card (what cheap RFID/magstripe readers send)

A token is 1-64 characters of ``A-Z a-z 0-9 _ -``; ``C``/``P`` may be lower case.
A line longer than ``LINE_BYTES_MAX`` is dropped up to its terminator and counted as
``line_too_long``; a line that does not parse is counted as ``bad_line``.
"""

from __future__ import annotations

import re
from collections import Counter

import msgspec

from terminals.frames import WireError

LINE_BYTES_MAX = 128
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PREFIX = {"c": "card", "p": "palm"}


class LineScan(msgspec.Struct, frozen=True):
    id_kind: str  # "card" | "palm"
    token: str


def parse_line(line: bytes) -> LineScan | None:
    """The scan a line names, or None when it is not a valid scan line."""
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    kind = "card"
    if len(text) >= 2 and text[1] == ":" and text[0].lower() in _PREFIX:
        kind, text = _PREFIX[text[0].lower()], text[2:]
    if not _TOKEN.fullmatch(text):
        return None
    return LineScan(kind, text)


class LineDecoder:
    """Streaming line splitter with a length limit; never raises on bad input."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._discarding = False  # inside an over-long line, waiting for its terminator
        self.errors: Counter[str] = Counter()
        self.lines_ok = 0

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[LineScan | WireError]:
        out: list[LineScan | WireError] = []
        for chunk in re.split(rb"(\r\n|\r|\n)", data):
            if chunk in (b"\r\n", b"\r", b"\n"):
                self._end_line(out)
            elif chunk:
                self._append(out, chunk)
        return out

    def expire(self) -> list[LineScan | WireError]:
        """The reader went quiet in the middle of a line: drop the partial line."""
        out: list[LineScan | WireError] = []
        if self._buf:
            self._error(out, "truncated", len(self._buf), "line without terminator timed out")
        self._buf.clear()
        return out

    def _append(self, out: list[LineScan | WireError], chunk: bytes) -> None:
        if self._discarding:
            return
        self._buf += chunk
        if len(self._buf) > LINE_BYTES_MAX:
            self._error(out, "line_too_long", len(self._buf), f"more than {LINE_BYTES_MAX} bytes")
            self._buf.clear()
            self._discarding = True

    def _end_line(self, out: list[LineScan | WireError]) -> None:
        if self._discarding:
            self._discarding = False
            return
        line = bytes(self._buf)
        self._buf.clear()
        if not line.strip():
            return
        scan = parse_line(line)
        if scan is None:
            self._error(out, "bad_line", len(line), repr(line[:24]))
        else:
            self.lines_ok += 1
            out.append(scan)

    def _error(self, out: list[LineScan | WireError], kind: str, n: int, detail: str) -> None:
        self.errors[kind] += 1
        out.append(WireError(kind, n, detail))
