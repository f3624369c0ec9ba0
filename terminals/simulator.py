"""Device simulator: plays a lunch rush of framed SCANs against a gateway and sums it up.

The device end is a `Transport`: the master side of a pty pair (`PtyDevice`, the gateway
opens the slave path), any pyserial URL (`socket://`, the other end of a socat pair) or an
in-memory pair end. Each scan waits for its answer (GRANT/DENY, and OPEN at gates); some
frames are sent twice (the answer must be the same), some tokens are unknown, and some
garbage bytes are thrown in before a frame.
"""

from __future__ import annotations

import os
import random
import select
import time
import tty
from collections import Counter
from dataclasses import dataclass, field

from terminals import frames as fr
from terminals.transport import READ_BYTES_MAX, Transport, TransportError

SCANS_PER_MIN_MAX = 60_000
TOKENS_MAX = 100_000


@dataclass(frozen=True)
class RushConfig:
    tokens: tuple[str, ...]
    scans: int = 100
    scans_per_min: int = 600
    repeat_ratio: float = 0.05
    unknown_ratio: float = 0.05
    garbage_ratio: float = 0.05
    direction: str | None = None  # "in"/"out" plays a gate, None a canteen
    item_ids: tuple[str, ...] = ()  # items named by every canteen scan (empty: the free meal)
    answer_timeout_s: float = 2.0
    seed: int = 1


@dataclass
class RushSummary:
    sent: int = 0
    answered: int = 0
    timeouts: int = 0
    granted: int = 0
    opened: int = 0
    denied: Counter[str] = field(default_factory=Counter)
    repeats: int = 0
    repeats_same_answer: int = 0
    garbage_bursts: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    wire_errors: Counter[str] = field(default_factory=Counter)

    def percentile_ms(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def lines(self) -> list[str]:
        denied = ", ".join(f"{k}={v}" for k, v in sorted(self.denied.items())) or "none"
        return [f"scans sent {self.sent}, answered {self.answered}, timeouts {self.timeouts}",
                f"granted {self.granted} (gate opened {self.opened}), denied: {denied}",
                f"repeated frames {self.repeats}, same answer {self.repeats_same_answer}",
                f"garbage bursts {self.garbage_bursts}, wire errors seen by device {dict(self.wire_errors)}",
                f"latency p50 {self.percentile_ms(50):.1f} ms, p99 {self.percentile_ms(99):.1f} ms"]


class PtyDevice:
    """The master side of a fresh pty pair, as a Transport; `slave_path` is for the gateway."""

    def __init__(self, read_timeout_s: float = 0.05) -> None:
        self.master_fd, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)  # no echo or line editing before the gateway opens it
        self.slave_path = os.ttyname(self._slave_fd)
        self.read_timeout_s = read_timeout_s

    def read(self, bytes_max: int = READ_BYTES_MAX) -> bytes:
        ready, _, _ = select.select([self.master_fd], [], [], self.read_timeout_s)
        if not ready:
            return b""
        try:
            return os.read(self.master_fd, bytes_max)
        except OSError as e:
            raise TransportError(f"pty master: {e}") from e

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.master_fd, view)
            view = view[written:]

    def set_relay(self, on: bool) -> None:
        pass

    def close(self) -> None:
        for fd in (self.master_fd, self._slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class Device:
    """Sends SCANs and collects the answers for one sequence number."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.decoder = fr.FrameDecoder()
        self._seq = 0

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) % (fr.SEQ_MAX + 1)
        return self._seq

    def exchange(self, frame: bytes, seq: int, gate: bool, timeout_s: float) -> list[fr.Message] | None:
        """Send `frame`, return the messages answering `seq` (None on timeout)."""
        self.transport.write(frame)
        deadline = time.monotonic() + timeout_s
        answers: list[fr.Message] = []
        while time.monotonic() < deadline:
            for item in self.decoder.feed(self.transport.read()):
                if isinstance(item, fr.Frame) and item.seq == seq:
                    answers.append(item.message)
            if answers and (not gate or isinstance(answers[0], fr.Deny) or len(answers) >= 2):
                return answers
        return answers or None


def play_rush(transport: Transport, config: RushConfig) -> RushSummary:
    """Play `config.scans` scans at `config.scans_per_min`; return what the device saw."""
    if not config.tokens or len(config.tokens) > TOKENS_MAX:
        raise ValueError(f"give 1..{TOKENS_MAX} tokens")
    rate = max(1, min(config.scans_per_min, SCANS_PER_MIN_MAX))
    rng = random.Random(config.seed)
    device, summary = Device(transport), RushSummary()
    gate = config.direction is not None
    interval_s, next_at = 60.0 / rate, time.monotonic()
    for n in range(config.scans):
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += interval_s
        token = f"X{rng.randrange(10**9):09d}" if rng.random() < config.unknown_ratio else rng.choice(config.tokens)
        seq = device.next_seq()
        frame = fr.encode_frame(seq, fr.Scan("card", token, config.direction, () if gate else config.item_ids))
        if rng.random() < config.garbage_ratio:
            summary.garbage_bursts += 1
            transport.write(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))))
        summary.sent += 1
        started = time.perf_counter()
        answers = device.exchange(frame, seq, gate, config.answer_timeout_s)
        if answers is None:
            summary.timeouts += 1
            continue
        summary.latencies_ms.append((time.perf_counter() - started) * 1000)
        _count(summary, answers)
        if rng.random() < config.repeat_ratio:
            summary.repeats += 1
            again = device.exchange(frame, seq, gate, config.answer_timeout_s)
            summary.repeats_same_answer += again == answers
    summary.wire_errors.update(device.decoder.errors)
    return summary


def _count(summary: RushSummary, answers: list[fr.Message]) -> None:
    summary.answered += 1
    first = answers[0]
    if isinstance(first, fr.Grant):
        summary.granted += 1
    elif isinstance(first, fr.Deny):
        summary.denied[first.reason.name] += 1
    summary.opened += any(isinstance(a, fr.Open) for a in answers)
