"""Large files stream: peak memory of a writer stays bounded (measured in a subprocess).

The figure is the growth of the child process's peak RSS while the writer runs, after the
input data is built: it counts C allocations (lxml, zlib) that tracemalloc would miss.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, os, resource, sys, time
from exports import samples, write_meal_register, write_regional_savings, write_attendance
kind, n = sys.argv[1], int(sys.argv[2])
build = {"register": lambda: (samples.sample_register(pupils=n), write_meal_register),
         "attendance": lambda: (samples.sample_attendance(pupils=n, staff=n // 10),
                                write_attendance),
         "savings": lambda: (samples.sample_savings(schools=n, months=12),
                             write_regional_savings)}
data, writer = build[kind]()
before = resource.getrusage(resource.RUSAGE_SELF)
with open(os.devnull, "wb") as out:
    writer(data, out)
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
print(json.dumps({"rss_before_mib": before.ru_maxrss / 1024, "rss_after_mib": after.ru_maxrss / 1024,
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
def test_a_10000_pupil_register_is_written_in_bounded_memory() -> None:
    assert measure("register", 10_000)["growth_mib"] < 64


@pytest.mark.slow
def test_a_month_of_attendance_for_1000_pupils_is_written_in_bounded_memory() -> None:
    assert measure("attendance", 1_000)["growth_mib"] < 32
