"""Baseline *library default*: eventsourcing 9.5 with its default JSON transcoder.

Every shared row becomes one library event with the same payload (the first row of a
child creates its aggregate, the others are `serve` commands). The events are built
once per process outside the timing: the figures are what `Application.save()` and
replay cost, not the cost of running the domain model.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, DomainEventProtocol, event

from bench.context import Context
from bench.harness import Case, Stopwatch
from bench.rows import make_rows

ORDER = 30
GROUP = "Baseline: library default (eventsourcing 9.5, JSON transcoder)"
SAVE_EVENTS_MAX = 10_000  # one save() of ~25k events hangs on PostgreSQL (EVENTSTORE-NOTES)


class Child(Aggregate):
    """A child's meals; each event carries one shared row's meal payload."""

    @event("FirstMealServed")
    def __init__(
        self, id: UUID, scan_id: UUID, school: str, terminal: str,  # noqa: A002
        served_at: datetime, band: str, price_kzt: int, method: str,
    ) -> None:
        self.meals = 1

    @event("MealServed")
    def serve(
        self, scan_id: UUID, school: str, terminal: str,
        served_at: datetime, band: str, price_kzt: int, method: str,
    ) -> None:
        self.meals += 1


class MealsBench(Application):
    """Default settings: JSON transcoder, no snapshots, no cache."""


@functools.cache
def library_events(row_count: int) -> tuple[DomainEventProtocol[Any], ...]:
    """One library event per shared row, in row order (built once, reused by every run)."""
    from bench.rows import decode_meal

    children: dict[UUID, Child] = {}
    events: list[DomainEventProtocol[Any]] = []
    for row in make_rows(row_count):
        meal = decode_meal(row.state)
        fields = {f: getattr(meal, f) for f in meal.__struct_fields__}
        child = children.get(row.originator_id)
        if child is None:
            child = children[row.originator_id] = Child(id=row.originator_id, **fields)
        else:
            child.serve(**fields)
        events.extend(child.collect_events())
    return tuple(events)


def open_app(ctx: Context, backend: str) -> MealsBench:
    app = MealsBench(env=ctx.eventsourcing_env(backend, name="library"))
    ctx.on_cleanup(app.close)
    return app


def save_in_batches(app: Application, events: Sequence[DomainEventProtocol[Any]], size: int) -> None:
    if not 0 < size <= SAVE_EVENTS_MAX:
        raise ValueError(f"events per save must be in 1..{SAVE_EVENTS_MAX}, got {size}")
    for start in range(0, len(events), size):
        app.save(*events[start : start + size])


def one_save_per_event(ctx: Context, backend: str) -> float:
    events = library_events(ctx.sizes.rows)[: ctx.sizes.single_save_events]
    app = open_app(ctx, backend)
    ctx.status(f"{len(events):,} saves of one event")
    with Stopwatch() as sw:
        for domain_event in events:
            app.save(domain_event)
    return sw.rate(len(events))


def batched_saves(ctx: Context, backend: str) -> float:
    events = library_events(ctx.sizes.rows)
    app = open_app(ctx, backend)
    ctx.status(f"{len(events):,} events, {ctx.sizes.events_per_save} a save")
    with Stopwatch() as sw:
        save_in_batches(app, events, ctx.sizes.events_per_save)
    return sw.rate(len(events))


def replay(ctx: Context, backend: str) -> float:
    """Read the whole notification log in pages and decode every event with the mapper."""
    events = library_events(ctx.sizes.rows)
    app = open_app(ctx, backend)
    ctx.status(f"loading {len(events):,} events")
    save_in_batches(app, events, ctx.sizes.events_per_save)
    ctx.status(f"replaying {len(events):,} events")
    recorder, to_domain_event, count, start = app.recorder, app.mapper.to_domain_event, 0, 1
    with Stopwatch() as sw:
        while page := recorder.select_notifications(start, ctx.sizes.page_size):
            for notification in page:
                to_domain_event(notification)
            count += len(page)
            start = page[-1].id + 1
    assert count == len(events), f"replayed {count} of {len(events)} events"
    return sw.rate(count)


def _cases(backend: str, prefix: str) -> list[Case]:
    refs = {
        "postgres": ("≈ 1,000 events/s", "≈ 25,000 events/s", "≈ 116,000 events/s"),
        "sqlite": ("≈ 3,500 events/s", "≈ 40,000-44,000 events/s", "≈ 123,000-151,000 events/s"),
    }[backend]
    return [
        Case(
            f"{prefix}.lib.one_save_per_event", GROUP, "events/s",
            lambda ctx: one_save_per_event(ctx, backend),
            baseline=f"{prefix}.raw.insert_commit_per_row",
            target=f"reference {refs[0]}", backend=backend,  # type: ignore[arg-type]
        ),
        Case(
            f"{prefix}.lib.save_500_per_save", GROUP, "events/s",
            lambda ctx: batched_saves(ctx, backend),
            baseline=f"{prefix}.raw.executemany_one_tx",
            target=f"reference {refs[1]}", backend=backend,  # type: ignore[arg-type]
        ),
        Case(
            f"{prefix}.lib.replay_notification_log", GROUP, "events/s",
            lambda ctx: replay(ctx, backend),
            baseline=f"{prefix}.raw.select_decode",
            target=f"reference {refs[2]}", backend=backend,  # type: ignore[arg-type]
        ),
    ]


CASES = _cases("postgres", "pg") + _cases("sqlite", "sqlite")
