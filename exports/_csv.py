"""CSV plumbing: UTF-8 with BOM (Excel in kk/ru locales detects Cyrillic by it), CRLF rows."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._xlsx import Out

DELIMITERS = (",", ";", "\t")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") \
            and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class _SafeWriter:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def writerow(self, row: list[Any]) -> None:
        self._inner.writerow([safe(v) for v in row])


@contextmanager
def csv_writer(out: Out, delimiter: str = ",") -> Iterator[Any]:
    """Yield a csv.writer on ``out`` (path or binary stream); the stream is left open."""
    if delimiter not in DELIMITERS:
        raise ValueError(f"unsupported CSV delimiter {delimiter!r}: use one of {DELIMITERS}")
    if isinstance(out, (str, os.PathLike)):
        with open(out, "w", encoding="utf-8-sig", newline="") as fh:
            yield _SafeWriter(csv.writer(fh, delimiter=delimiter))
        return
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    try:
        yield _SafeWriter(csv.writer(text, delimiter=delimiter))
        text.flush()
    finally:
        text.detach()
