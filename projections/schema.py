"""Read-model tables, the same DDL on SQLite and PostgreSQL (dates as ISO text, flags as 0/1).

Every projection's tracking position lives in `pm_tracking`, written in the same transaction
as its rows, so an event is applied exactly once across crashes and restarts."""

from __future__ import annotations

TABLES: dict[str, list[str]] = {
    "tracking": [
        "CREATE TABLE IF NOT EXISTS pm_tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
        # from which log position a read model keeps the history that as-of reports read
        # (0 when built from the first event; an older store gets it from its upgrade on)
        "CREATE TABLE IF NOT EXISTS pm_history (name TEXT PRIMARY KEY, since BIGINT NOT NULL)",
        # the shape of each read model's tables (Projection.version; none: version 1)
        "CREATE TABLE IF NOT EXISTS pm_version (name TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    ],
    "directory": [
        "CREATE TABLE IF NOT EXISTS pm_school (school_id TEXT PRIMARY KEY, school_uuid TEXT UNIQUE, region_id TEXT NOT NULL,"
        " district TEXT NOT NULL, name TEXT NOT NULL, operator TEXT)",
        "CREATE TABLE IF NOT EXISTS pm_region (region_id TEXT PRIMARY KEY, region_uuid TEXT UNIQUE, name TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS pm_terminal (terminal_id TEXT PRIMARY KEY,"
        " school_id TEXT NOT NULL, kind TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS pm_staff (staff_id TEXT PRIMARY KEY, school_id TEXT NOT NULL,"
        " role TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS pm_identifier (ident_uuid TEXT PRIMARY KEY, kind TEXT NOT NULL,"
        " token TEXT NOT NULL, child_id TEXT, staff_id TEXT, active INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS pm_calendar (school_id TEXT NOT NULL, month TEXT NOT NULL,"
        " days TEXT NOT NULL, day_count INTEGER NOT NULL, PRIMARY KEY (school_id, month))",
        "CREATE TABLE IF NOT EXISTS pm_revoked_token (token_id TEXT PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS pm_seal (day TEXT PRIMARY KEY, position BIGINT NOT NULL,"
        " head TEXT NOT NULL, signature TEXT)",
        # history for as-of reports: each school's details and calendars, by log position
        "CREATE TABLE IF NOT EXISTS pm_school_log (school_id TEXT NOT NULL, position BIGINT NOT NULL,"
        " region_id TEXT NOT NULL, district TEXT NOT NULL, name TEXT NOT NULL,"
        " PRIMARY KEY (school_id, position))",
        "CREATE TABLE IF NOT EXISTS pm_calendar_log (school_id TEXT NOT NULL, month TEXT NOT NULL,"
        " position BIGINT NOT NULL, day_count INTEGER NOT NULL,"
        " PRIMARY KEY (school_id, month, position))",
    ],
    "balances": [
        "CREATE TABLE IF NOT EXISTS pm_balance (wallet_id TEXT PRIMARY KEY,"
        " child_id TEXT NOT NULL, balance_kzt BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS pm_balance_child ON pm_balance (child_id)",
        "CREATE TABLE IF NOT EXISTS pm_movement (position BIGINT NOT NULL, seq INTEGER NOT NULL,"
        " child_id TEXT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL,"
        " amount_kzt BIGINT NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (position, seq))",
        "CREATE INDEX IF NOT EXISTS pm_movement_child ON pm_movement (child_id, position)",
    ],
    "lists": [
        "CREATE TABLE IF NOT EXISTS pm_list_school (school_id TEXT PRIMARY KEY,"
        " school_uuid TEXT NOT NULL UNIQUE, version BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS pm_child (child_id TEXT PRIMARY KEY, child_uuid TEXT NOT NULL"
        " UNIQUE, school_id TEXT NOT NULL,"
        " version BIGINT NOT NULL, class_name TEXT NOT NULL, grade INTEGER NOT NULL,"
        " withdrawn INTEGER NOT NULL, allergens TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS pm_child_school ON pm_child (school_id)",
        "CREATE TABLE IF NOT EXISTS pm_child_placed (child_id TEXT NOT NULL,"
        " school_id TEXT NOT NULL, PRIMARY KEY (school_id, child_id))",
        # a child's rows of a month: one per distinct row, with the school days it holds on
        # as bits (bit d-1 for day d of the month; lists.day_bit): 18-22 day rows in one
        "CREATE TABLE IF NOT EXISTS pm_child_month (child_id TEXT NOT NULL, month TEXT NOT NULL,"
        " days BIGINT NOT NULL, day_count INTEGER NOT NULL, school_id TEXT NOT NULL,"
        " band TEXT NOT NULL, grade INTEGER NOT NULL, class_name TEXT NOT NULL,"
        " categories TEXT NOT NULL, on_list INTEGER NOT NULL, entitled INTEGER NOT NULL,"
        " home_schooled INTEGER NOT NULL, voucher_assigned INTEGER NOT NULL,"
        " voucher_active INTEGER NOT NULL, rate_kzt BIGINT NOT NULL,"
        " PRIMARY KEY (child_id, month, days))",
        "CREATE INDEX IF NOT EXISTS pm_child_month_school ON pm_child_month (school_id, month)",
        "CREATE TABLE IF NOT EXISTS pm_plan (school_id TEXT NOT NULL, month TEXT NOT NULL,"
        " band TEXT NOT NULL, list_days BIGINT NOT NULL, planned_kzt BIGINT NOT NULL,"
        " home_days BIGINT NOT NULL, allowance_kzt BIGINT NOT NULL,"
        " PRIMARY KEY (school_id, month, band))",
        # the plan's changes, each at the log position of the event that caused it: the plan
        # as of a position is the sum of the changes up to it
        "CREATE TABLE IF NOT EXISTS pm_plan_log (school_id TEXT NOT NULL, month TEXT NOT NULL,"
        " band TEXT NOT NULL, position BIGINT NOT NULL, list_days BIGINT NOT NULL,"
        " planned_kzt BIGINT NOT NULL, home_days BIGINT NOT NULL, allowance_kzt BIGINT NOT NULL,"
        " PRIMARY KEY (school_id, month, band, position))",
    ],
    "meals": [
        "CREATE TABLE IF NOT EXISTS pm_meal (meal_id TEXT PRIMARY KEY, position BIGINT NOT NULL,"
        " event_id TEXT NOT NULL, terminal_id TEXT NOT NULL, school_id TEXT NOT NULL,"
        " child_id TEXT NOT NULL, day TEXT NOT NULL, month TEXT NOT NULL, at TEXT NOT NULL,"
        " band TEXT NOT NULL, grade INTEGER NOT NULL, class_name TEXT NOT NULL,"
        " funding TEXT NOT NULL, funded_kzt BIGINT NOT NULL, rate_kzt BIGINT NOT NULL,"
        " paid_kzt BIGINT NOT NULL, items TEXT NOT NULL, offline INTEGER NOT NULL,"
        " flags TEXT NOT NULL, voided_position BIGINT, void_reason TEXT, balance_kzt BIGINT)",
        "CREATE INDEX IF NOT EXISTS pm_meal_school_day ON pm_meal (school_id, day)",
        "CREATE INDEX IF NOT EXISTS pm_meal_child ON pm_meal (child_id, day)",
        # no key on `position` in pm_refusal and pm_pass: no query looks a row up by it (the
        # log makes it unique), and the key cost an index entry per scan in a catch-up
        "CREATE TABLE IF NOT EXISTS pm_refusal (position BIGINT NOT NULL, kind TEXT NOT NULL,"
        " event_id TEXT NOT NULL, terminal_id TEXT NOT NULL, school_id TEXT NOT NULL,"
        " child_id TEXT, day TEXT NOT NULL, at TEXT NOT NULL, reason TEXT NOT NULL,"
        " offline INTEGER NOT NULL)",
        "CREATE INDEX IF NOT EXISTS pm_refusal_school_day ON pm_refusal (school_id, day)",
        "CREATE INDEX IF NOT EXISTS pm_refusal_child ON pm_refusal (child_id)",
        "CREATE TABLE IF NOT EXISTS pm_daily_cost (school_id TEXT NOT NULL, day TEXT NOT NULL,"
        " band TEXT NOT NULL, month TEXT NOT NULL, funded_meals BIGINT NOT NULL,"
        " funded_kzt BIGINT NOT NULL, paid_meals BIGINT NOT NULL, paid_kzt BIGINT NOT NULL,"
        " unfunded_meals BIGINT NOT NULL, PRIMARY KEY (school_id, day, band))",
        "CREATE INDEX IF NOT EXISTS pm_daily_cost_month ON pm_daily_cost (school_id, month)",
        # parent notifications are read from the meals, refusals and passes (outbox.py);
        # delivery marks are not rebuilt from events: a rebuild must not notify parents twice
        "CREATE TABLE IF NOT EXISTS pm_delivery (position BIGINT PRIMARY KEY,"
        " delivered_at TEXT NOT NULL)",
    ],
    "attendance": [
        "CREATE TABLE IF NOT EXISTS pm_pass (position BIGINT NOT NULL, event_id TEXT NOT NULL,"
        " school_id TEXT NOT NULL,"
        " person_kind TEXT NOT NULL, person_id TEXT NOT NULL, day TEXT NOT NULL,"
        " at TEXT NOT NULL, direction TEXT NOT NULL, method TEXT NOT NULL,"
        " authorized_by TEXT, offline INTEGER NOT NULL)",
        "CREATE INDEX IF NOT EXISTS pm_pass_school_day ON pm_pass (school_id, day)",
        "CREATE INDEX IF NOT EXISTS pm_pass_person ON pm_pass (person_id, day)",
    ],
    "months": [
        "CREATE TABLE IF NOT EXISTS pm_month (month_uuid TEXT NOT NULL UNIQUE,"
        " school_id TEXT NOT NULL, month TEXT NOT NULL,"
        " position BIGINT NOT NULL, closed_at_position BIGINT NOT NULL,"
        " meals_kzt BIGINT NOT NULL, adjustments_kzt BIGINT NOT NULL, total_kzt BIGINT NOT NULL,"
        " allowances_kzt BIGINT NOT NULL, paid_kzt BIGINT NOT NULL, statement BLOB NOT NULL,"
        " PRIMARY KEY (school_id, month))",
        "CREATE TABLE IF NOT EXISTS pm_filing (school_id TEXT NOT NULL, kind TEXT NOT NULL,"
        " month TEXT NOT NULL, first_filed_at TEXT NOT NULL, filed_at TEXT NOT NULL,"
        " sha256 TEXT NOT NULL, position BIGINT NOT NULL, chain_head TEXT NOT NULL,"
        " filed_by TEXT NOT NULL, PRIMARY KEY (school_id, kind, month))",
        "CREATE TABLE IF NOT EXISTS pm_rating (rating_id TEXT PRIMARY KEY, school_id TEXT NOT NULL,"
        " day TEXT NOT NULL, score INTEGER NOT NULL)",
    ],
}


def ddl(kind: str, name: str) -> list[str]:
    statements = TABLES[name]
    if kind == "postgres":
        return [s.replace(" BLOB ", " BYTEA ") for s in statements]
    return statements


KEPT_ON_REBUILD = {"pm_delivery", "pm_history"}
# read models and tables no longer kept: dropped when a runner opens an older store
RETIRED_NAMES = ("notifications",)
RETIRED_TABLES = ("pm_notification", "pm_child_day")


def table_names(name: str) -> list[str]:
    names = [s.split()[5] for s in TABLES[name] if s.startswith("CREATE TABLE")]
    return [n for n in names if n not in KEPT_ON_REBUILD]
