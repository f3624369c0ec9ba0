"""The offline profile (bench/offline_profile.py) runs a real sync through `tamaq serve` and
accounts for it: every item stored (its terminal event and its child-day's funded meal), and
the CPU read from the processes that did the work."""

from __future__ import annotations

from bench.offline_profile import profile_sync


def test_an_offline_profile_stores_every_item_and_counts_the_work_of_each_side(
        postgres_url: str) -> None:
    said: list[str] = []
    run = profile_sync(postgres_url, batches=2, batch=300, copy_runs=0, copy_rate=100_000.0,
                       say=said.append)
    assert (run.items, run.events) == (600, 1_200)
    assert run.seconds > 0 and run.items_per_s == run.items / run.seconds
    assert run.server_cpu_s > 0  # the HTTP process decided and saved 600 meals
    assert run.read_models_cpu_s >= 0 and run.postgres_cpu_s >= 0
    assert run.target_items_per_s == 15_000  # 0.3 x 100,000 events/s at 2 events an item
    assert any("posting 2 batches of 300" in line for line in said)
    assert "events stored/s (2.00 events an item)" in run.render()
