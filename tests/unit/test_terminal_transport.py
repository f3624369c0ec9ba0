"""Transports: pyserial URLs, a pty that disappears and comes back, the in-memory pair."""

from __future__ import annotations

import os
import time
from pathlib import Path

from terminals.simulator import PtyDevice
from terminals.transport import MemoryTransport, SerialTransport


def read_until(transport: SerialTransport | MemoryTransport | PtyDevice, size: int, timeout_s: float = 3.0) -> bytes:
    out, deadline = b"", time.monotonic() + timeout_s
    while len(out) < size and time.monotonic() < deadline:
        out += transport.read()
    return out


def test_a_loop_url_reads_back_what_was_written() -> None:
    port = SerialTransport("loop://")
    port.write(b"\x02hello\x03")
    assert read_until(port, 7) == b"\x02hello\x03"
    port.close()


def test_the_serial_port_reopens_after_the_device_is_unplugged_and_plugged_in(tmp_path: Path) -> None:
    link = tmp_path / "ttyTAMAQ"  # like /dev/serial/by-id/...: a stable name for a changing device
    first = PtyDevice()
    os.symlink(first.slave_path, link)
    port = SerialTransport(str(link), read_timeout_s=0.02)
    first.write(b"one")
    assert read_until(port, 3) == b"one"
    first.close()  # unplugged
    assert read_until(port, 1, timeout_s=0.3) == b""
    second = PtyDevice()
    link.unlink()
    os.symlink(second.slave_path, link)  # plugged in again, maybe as another pts
    got, deadline = b"", time.monotonic() + 5.0
    while not got and time.monotonic() < deadline:  # opening the port flushes what came before
        second.write(b"two")
        got = read_until(port, 3, timeout_s=0.2)
    assert got.startswith(b"two")
    assert port.opens == 2 and port.failures >= 1
    port.write(b"back")
    assert read_until(second, 4) == b"back"
    port.close()
    second.close()


def test_memory_pairs_carry_bytes_both_ways_and_count_relay_pulses() -> None:
    a, b = MemoryTransport.pair(read_timeout_s=0.01)
    a.write(b"ping")
    b.write(b"pong")
    assert read_until(b, 4) == b"ping" and read_until(a, 4) == b"pong"
    assert a.read() == b""
    a.set_relay(True)
    a.set_relay(False)
    assert a.relay_pulses == 1
