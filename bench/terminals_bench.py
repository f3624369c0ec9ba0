"""Benchmark: scans through one gateway, scan-to-answer latency online and offline.

Three processes, as deployed: the fake server (terminals.fake_server), the gateway
(`python -m terminals.cli terminal run` on the slave end of a pty) and this process playing
the device on the master end. The device sends each SCAN as soon as the previous one is
answered, so scans/s is the rate one gateway sustains for one device. Then the server is
killed and the same is measured offline (journal fsync per scan included).

    .venv/bin/python bench/terminals_bench.py [--scans N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from terminals import frames as fr
from terminals.simulator import Device, PtyDevice

ROOT = Path(__file__).resolve().parents[1]
CHILDREN = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"fake server did not listen on {port}")


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def _rush(device: Device, scans: int, offset: int) -> tuple[float, list[float], int]:
    """Back-to-back scans; returns (scans/s, latencies ms, offline answers)."""
    latencies, offline = [], 0
    started = time.perf_counter()
    for n in range(scans):
        seq = device.next_seq()
        items = ("bun",) if n % 3 else ()
        frame = fr.encode_frame(seq, fr.Scan("card", str(100000 + (offset + n) % CHILDREN), None, items))
        t0 = time.perf_counter()
        answers = device.exchange(frame, seq, False, 5.0)
        if not answers:
            raise RuntimeError(f"scan {n} not answered")
        latencies.append((time.perf_counter() - t0) * 1000)
        offline += bool(getattr(answers[0], "flags", 0) & fr.FLAG_OFFLINE)
    return scans / (time.perf_counter() - started), latencies, offline


def run(scans: int = 1000) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="tamaq-bench-"))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "terminals.fake_server", "--port", str(port),
                               "--children", str(CHILDREN)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    pty = PtyDevice()
    gateway: subprocess.Popen[bytes] | None = None
    try:
        _wait_port(port)
        with (workdir / "gateway.log").open("wb") as log:
            gateway = subprocess.Popen(
                [sys.executable, "-m", "terminals.cli", "terminal", "run", "--port", pty.slave_path,
                 "--terminal-id", "t-bench", "--server", f"http://127.0.0.1:{port}", "--token", "secret",
                 "--journal", str(workdir / "gateway.journal")], cwd=ROOT, env=env, stdout=log, stderr=log)
        device = Device(pty)
        _warm_up(device)
        online_rate, online_ms, online_offline = _rush(device, scans, 0)
        server.send_signal(signal.SIGKILL)
        server.wait()
        offline_rate, offline_ms, offline_count = _rush(device, scans, scans)
    finally:
        for proc in (gateway, server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        pty.close()
    return {
        "online_scans_per_s": round(online_rate, 1),
        "online_p50_ms": round(_percentile(online_ms, 50), 2),
        "online_p99_ms": round(_percentile(online_ms, 99), 2),
        "online_answers_decided_offline": float(online_offline),
        "offline_scans_per_s": round(offline_rate, 1),
        "offline_p50_ms": round(_percentile(offline_ms, 50), 2),
        "offline_p99_ms": round(_percentile(offline_ms, 99), 2),
        "offline_answers": float(offline_count),
        "scans_each_phase": float(scans),
    }


def _warm_up(device: Device) -> None:
    """Wait until the gateway is up and online (its first cache fetch done)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        seq = device.next_seq()
        answers = device.exchange(fr.encode_frame(seq, fr.Heartbeat(0)), seq, False, 0.5)
        if answers == [fr.Ack(offline=False)]:
            return
    raise RuntimeError("gateway did not come online")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--scans", type=int, default=1000)
    print(json.dumps(run(parser.parse_args().scans), indent=2))
