"""The shared event rows every baseline case reads and writes.

One deterministic set of rows per size, generated once per process, so that raw and
library cases measure the same bytes. A row has the shape of the library's events
table: (originator_id UUID, originator_version int, topic str, state bytes), where
state is msgspec-encoded JSON of a `MealServed` struct (about 170 bytes).
"""

from __future__ import annotations

import functools
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Literal, NamedTuple

import msgspec

TOPIC = "ledger.domain:Meal.Served"
MEALS_PER_CHILD = 20  # one school month: every child eats once a school day
ROWS_MAX = 5_000_000  # limit: generation holds every row in memory
FIRST_DAY = date(2025, 10, 1)


class MealServed(msgspec.Struct, frozen=True):
    """A realistic meal event payload (the ledger's own event may differ)."""

    scan_id: uuid.UUID
    school: str
    terminal: str
    served_at: datetime
    band: Literal["primary", "senior"]
    price_kzt: int
    method: Literal["palm", "card", "manual"]


class EventRow(NamedTuple):
    originator_id: uuid.UUID
    originator_version: int
    topic: str
    state: bytes


MEAL_DECODER = msgspec.json.Decoder(MealServed)
_ENCODER = msgspec.json.Encoder()


def _meal(rng: random.Random, day_index: int, child_index: int) -> MealServed:
    primary = child_index % 5 != 0
    shift = 1 + child_index % 2
    school_day = FIRST_DAY + timedelta(days=day_index)
    # 08:00 local (UTC+5) is 03:00 UTC; shift II eats five hours later.
    start = datetime(school_day.year, school_day.month, school_day.day, 3, tzinfo=UTC)
    offset_s = (shift - 1) * 18_000 + rng.randrange(7_200)
    return MealServed(
        scan_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        school=f"ALM-{child_index // 600:04d}",
        terminal=f"T-{rng.randrange(1, 5):02d}",
        served_at=start + timedelta(seconds=offset_s),
        band="primary" if primary else "senior",
        price_kzt=585 if primary else 710,
        method=rng.choice(("palm", "palm", "palm", "card", "manual")),
    )


@functools.cache
def make_rows(count: int, seed: int = 2025) -> tuple[EventRow, ...]:
    """Return `count` rows: count/20 children, each served once a day, day by day."""
    if not 0 < count <= ROWS_MAX:
        raise ValueError(f"row count must be in 1..{ROWS_MAX}, got {count}")
    rng = random.Random(seed)
    children = max(1, -(-count // MEALS_PER_CHILD))
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(children)]
    rows: list[EventRow] = []
    for index in range(count):
        day_index, child_index = divmod(index, children)
        state = _ENCODER.encode(_meal(rng, day_index, child_index))
        rows.append(EventRow(ids[child_index], day_index + 1, TOPIC, state))
    return tuple(rows)


def decode_meal(state: bytes) -> MealServed:
    return MEAL_DECODER.decode(state)
