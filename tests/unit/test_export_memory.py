"""Large files stream: peak memory of a writer stays bounded (measured in a subprocess).

The figure is the growth of the child process's peak RSS (Linux VmHWM, reset through
/proc/self/clear_refs once the input data is built) while the writer runs: it counts C
allocations (lxml, zlib) that tracemalloc would miss.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

LONG = pytest.mark.skipif(not os.environ.get("TAMAQ_LONG"), reason="long variant: make test-long")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="peak RSS is read from Linux /proc")

SCRIPT = """
import json, os, resource, sys
from exports import samples, write_meal_register, write_regional_savings, write_attendance
kind, n = sys.argv[1], int(sys.argv[2])
build = {"register": lambda: (samples.sample_register(pupils=n), write_meal_register),
         "attendance": lambda: (samples.sample_attendance(pupils=n, staff=n // 10),
                                write_attendance),
         "savings": lambda: (samples.sample_savings(schools=n, months=12),
                             write_regional_savings)}
def status(field):
    with open("/proc/self/status") as fh:
        line = next(l for l in fh if l.startswith(field + ":"))
    return int(line.split()[1]) / 1024
data, writer = build[kind]()
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset the peak RSS to the current RSS
before, rss = resource.getrusage(resource.RUSAGE_SELF), status("VmRSS")
with open(os.devnull, "wb") as out:
    writer(data, out)
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
print(json.dumps({"rss_before_mib": round(rss, 1), "rss_after_mib": round(status("VmHWM"), 1),
                  "cpu_s": round(cpu, 2)}))
"""


def measure(kind: str, n: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, kind, str(n)], capture_output=True,
                          text=True, timeout=280, check=True)
    figures: dict[str, float] = json.loads(done.stdout)
    figures["growth_mib"] = figures["rss_after_mib"] - figures["rss_before_mib"]
    print(kind, n, figures)  # shown with pytest -s: the figures recorded in the report
    return figures


def test_a_1000_pupil_register_is_written_in_bounded_memory() -> None:
    assert measure("register", 1_000)["growth_mib"] < 32


def test_a_60_school_12_month_savings_report_is_written_in_bounded_memory() -> None:
    assert measure("savings", 60)["growth_mib"] < 32


@pytest.mark.slow
@LONG
def test_a_10000_pupil_register_is_written_in_bounded_memory() -> None:
    assert measure("register", 10_000)["growth_mib"] < 64


@pytest.mark.slow
@LONG
def test_a_month_of_attendance_for_1000_pupils_is_written_in_bounded_memory() -> None:
    assert measure("attendance", 1_000)["growth_mib"] < 32
