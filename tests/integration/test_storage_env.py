"""The eventsourcing environment built from TAMAQ_DATABASE_URL really stores and reloads events."""

from __future__ import annotations

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from ledger.settings import check_store_reachable, eventsourcing_env, parse_database_url


class Counter(Aggregate):
    def __init__(self) -> None:
        self.count = 0

    @event("Incremented")
    def increment(self) -> None:
        self.count += 1


def test_an_application_on_every_store_saves_and_reloads_an_aggregate(store_url: str) -> None:
    store = parse_database_url(store_url)
    check_store_reachable(store)
    env = eventsourcing_env(store)
    writer = Application(env=env)
    counter = Counter()
    for _ in range(3):
        counter.increment()
    writer.save(counter)
    reader = writer if store.kind == "memory" else Application(env=env)
    try:
        assert reader.repository.get(counter.id).count == 3
    finally:
        writer.close()
        reader.close()
