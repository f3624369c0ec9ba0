"""Byte transports between the gateway and a device.

`Transport` is what the gateway needs: `read` (b"" on timeout, never blocks longer than the
read timeout), `write`, `set_relay` (a relay on the DTR line, for line readers at gates) and
`close`. `SerialTransport` wraps pyserial's `serial_for_url`, so paths (`/dev/ttyUSB0`,
`/dev/pts/N`) and URLs (`loop://`, `socket://host:port`, `rfc2217://`) all work; when the
device disappears it closes the port and reopens it with exponential backoff, and `read`
keeps returning b"" meanwhile. `MemoryTransport` is an in-memory pair end for tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Protocol

import serial

log = logging.getLogger("tamaq.terminals.transport")

READ_BYTES_MAX = 4096
BACKOFF_S_MIN = 0.1
BACKOFF_S_MAX = 5.0


class TransportError(Exception):
    """The device end is gone (unplugged, closed); the transport may come back."""


class Transport(Protocol):
    def read(self, bytes_max: int = READ_BYTES_MAX) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    def set_relay(self, on: bool) -> None: ...
    def close(self) -> None: ...


class SerialTransport:
    """pyserial port that survives unplugging: errors close it, reads reopen with backoff."""

    def __init__(self, url: str, baudrate: int = 115200, read_timeout_s: float = 0.05) -> None:
        self.url, self.baudrate, self.read_timeout_s = url, baudrate, read_timeout_s
        self._port: serial.SerialBase | None = None
        self._backoff_s = BACKOFF_S_MIN
        self._next_open = 0.0
        self.opens = 0
        self.failures = 0
        self._closed = False
        self._open()

    @property
    def connected(self) -> bool:
        return self._port is not None

    def _open(self) -> bool:
        try:
            port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=self.read_timeout_s,
                                         write_timeout=1.0, do_not_open=True)
            port.open()
        except (serial.SerialException, OSError, ValueError) as e:
            self._next_open = time.monotonic() + self._backoff_s
            log.warning("port %s not open (%s); retry in %.1f s", self.url, e, self._backoff_s)
            self._backoff_s = min(self._backoff_s * 2, BACKOFF_S_MAX)
            return False
        self._port, self._backoff_s = port, BACKOFF_S_MIN
        self.opens += 1
        log.info("port %s open (open #%d)", self.url, self.opens)
        return True

    def _lost(self, e: Exception) -> None:
        self.failures += 1
        log.warning("port %s lost: %s; reopening", self.url, e)
        port, self._port = self._port, None
        self._next_open = time.monotonic() + BACKOFF_S_MIN
        try:
            if port is not None:
                port.close()
        except (serial.SerialException, OSError):
            pass

    def _ensure(self) -> serial.SerialBase | None:
        if self._port is None and not self._closed and time.monotonic() >= self._next_open:
            self._open()
        return self._port

    def read(self, bytes_max: int = READ_BYTES_MAX) -> bytes:
        port = self._ensure()
        if port is None:
            time.sleep(self.read_timeout_s)
            return b""
        try:
            first = port.read(1)
            if not first:
                return b""
            waiting = min(port.in_waiting, bytes_max - 1)
            rest: bytes = port.read(waiting) if waiting > 0 else b""
            return bytes(first) + rest
        except (serial.SerialException, OSError) as e:
            self._lost(e)
            return b""

    def write(self, data: bytes) -> None:
        port = self._ensure()
        if port is None:
            raise TransportError(f"port {self.url} is not open")
        try:
            port.write(data)
        except (serial.SerialException, OSError) as e:
            self._lost(e)
            raise TransportError(f"write to {self.url} failed: {e}") from e

    def set_relay(self, on: bool) -> None:
        port = self._port
        if port is None:
            return
        try:
            port.dtr = on
        except (serial.SerialException, OSError, AttributeError, NotImplementedError) as e:
            log.debug("relay on %s not driven: %s", self.url, e)

    def close(self) -> None:
        self._closed = True
        if self._port is not None:
            try:
                self._port.close()
            finally:
                self._port = None


class MemoryTransport:
    """One end of an in-memory byte pipe; `pair()` makes two connected ends."""

    BUFFER_BYTES_MAX = 1 << 20

    def __init__(self, read_timeout_s: float = 0.05) -> None:
        self.read_timeout_s = read_timeout_s
        self._inbox: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._peer: MemoryTransport | None = None
        self.relay_on = False
        self.relay_pulses = 0
        self.connected = True

    @staticmethod
    def pair(read_timeout_s: float = 0.05) -> tuple[MemoryTransport, MemoryTransport]:
        a, b = MemoryTransport(read_timeout_s), MemoryTransport(read_timeout_s)
        a._peer, b._peer = b, a
        return a, b

    def _deliver(self, data: bytes) -> None:
        with self._cond:
            if sum(map(len, self._inbox)) + len(data) > self.BUFFER_BYTES_MAX:
                raise TransportError("memory transport buffer full")
            self._inbox.append(data)
            self._cond.notify_all()

    def read(self, bytes_max: int = READ_BYTES_MAX) -> bytes:
        with self._cond:
            if not self._inbox:
                self._cond.wait(self.read_timeout_s)
            out = bytearray()
            while self._inbox and len(out) < bytes_max:
                chunk = self._inbox.popleft()
                take = bytes_max - len(out)
                out += chunk[:take]
                if len(chunk) > take:
                    self._inbox.appendleft(chunk[take:])
            return bytes(out)

    def write(self, data: bytes) -> None:
        if not self.connected or self._peer is None:
            raise TransportError("memory transport disconnected")
        self._peer._deliver(bytes(data))

    def set_relay(self, on: bool) -> None:
        if on and not self.relay_on:
            self.relay_pulses += 1
        self.relay_on = on

    def close(self) -> None:
        self.connected = False
