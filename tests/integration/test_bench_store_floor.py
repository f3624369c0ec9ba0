"""The bench's two floors of the store (docs/PERFORMANCE.md, sessions 8 and 13): the
recorder's own saves and the same rows sent by COPY. A floor only means something if it stores
what the product would: every row once, in order, under a chain that verifies."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.context import QUICK, Context
from bench.ledger_bench import pg_store_1000_per_copy, pg_store_1000_per_save
from ledger.persistence.verify import verify_chain
from ledger.store import close_ledger, open_ledger


@pytest.mark.parametrize("floor", [pg_store_1000_per_save, pg_store_1000_per_copy],
                         ids=["recorder", "copy"])
def test_a_store_floor_stores_the_rows_in_order_under_a_chain_that_verifies(
        postgres_url: str, floor: Callable[[Context], float]) -> None:
    with Context(sizes=QUICK, quick=True, base_url=postgres_url) as ctx:
        rate = floor(ctx)
        assert rate > 0
        ledger = open_ledger(ctx.postgres_url)
        try:
            recorder = ledger.recorder
            stored = recorder.select_notifications(start=1, limit=len(ctx.rows) + 1)
            assert [(n.originator_id, n.originator_version, n.topic, n.state) for n in stored] \
                == [tuple(row) for row in ctx.rows]
            assert [n.id for n in stored] == list(range(1, len(ctx.rows) + 1))
            result = verify_chain(recorder)
            assert (result.ok, result.checked) == (True, len(ctx.rows))
        finally:
            close_ledger(ledger)
