"""Benchmark case modules. Each module exposes `CASES: list[bench.harness.Case]`
and optionally `ORDER: int` (smaller runs and prints first; default 100)."""
