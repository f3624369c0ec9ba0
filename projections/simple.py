"""Read models that follow events one to one: the directory, balances, meals, passes, months."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec

from ledger.child import Identifier, Wallet
from ledger.records import Filing, Month, Rating, Seal, TerminalEvent, TokenRevocation
from ledger.school import Region, School, Staff, Terminal
from ledger.sqldb import Cursor
from projections.eventlog import MealRefusal, Passed, Refused, Served, insert_rows, instant
from projections.runner import Projection, keep_history, restart_history

_json = msgspec.json.Encoder()


def iso(value: Any) -> str:
    return value.isoformat()


class Directory(Projection):
    name, tables = "directory", "directory"
    events = (Region.Registered, Region.Renamed, School.Registered, School.DetailsChanged,
              School.CalendarSet, Terminal.Registered, Staff.Registered, Identifier.Linked,
              Identifier.Unlinked, TokenRevocation.Revoked, Seal.Sealed)
    seeds = (
        "INSERT INTO pm_school_log (school_id, position, region_id, district, name) SELECT"
        " school_id, CAST(? AS BIGINT), region_id, district, name FROM pm_school WHERE NOT EXISTS"
        " (SELECT 1 FROM pm_school_log) ON CONFLICT DO NOTHING",
        "INSERT INTO pm_calendar_log (school_id, month, position, day_count) SELECT school_id,"
        " month, CAST(? AS BIGINT), day_count FROM pm_calendar WHERE NOT EXISTS"
        " (SELECT 1 FROM pm_calendar_log) ON CONFLICT DO NOTHING",
    )

    def prepare(self, cur: Cursor) -> None:
        keep_history(cur, self.name, self.seeds)

    def reset(self, cur: Cursor) -> None:
        super().reset(cur)
        restart_history(cur, self.name)

    def apply(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        for position, e in batch:
            uid = str(e.originator_id)
            if isinstance(e, Region.Registered):
                cur.execute("INSERT INTO pm_region (region_id, region_uuid, name) VALUES (?, ?, ?)",
                            (e.region_id, uid, e.name))
            elif isinstance(e, Region.Renamed):
                cur.execute("UPDATE pm_region SET name = ? WHERE region_uuid = ?", (e.name, uid))
            elif isinstance(e, School.Registered):
                cur.execute("INSERT INTO pm_school (school_id, school_uuid, region_id, district,"
                            " name, operator) VALUES (?, ?, ?, ?, ?, ?)",
                            (e.school_id, uid, e.region_id, e.district, e.name, e.operator))
                _log_school(cur, position, uid)
            elif isinstance(e, School.DetailsChanged):
                cur.execute("UPDATE pm_school SET region_id = ?, district = ?, name = ?, "
                            "operator = ? WHERE school_uuid = ?",
                            (e.region_id, e.district, e.name, e.operator, uid))
                _log_school(cur, position, uid)
            elif isinstance(e, School.CalendarSet):
                days = ",".join(d.isoformat() for d in e.school_days)
                cur.execute("INSERT INTO pm_calendar (school_id, month, days, day_count) SELECT "
                            "school_id, ?, ?, ? FROM pm_school WHERE school_uuid = ? ON CONFLICT"
                            " (school_id, month) DO UPDATE SET days = excluded.days,"
                            " day_count = excluded.day_count",
                            (e.month, days, len(e.school_days), uid))
                cur.execute("INSERT INTO pm_calendar_log (school_id, month, position, day_count)"
                            " SELECT school_id, ?, ?, ? FROM pm_school WHERE school_uuid = ?",
                            (e.month, position, len(e.school_days), uid))
            elif isinstance(e, Terminal.Registered):
                cur.execute("INSERT INTO pm_terminal (terminal_id, school_id, kind) VALUES (?, ?, ?)",
                            (e.terminal_id, e.school_id, e.kind))
            elif isinstance(e, Staff.Registered):
                cur.execute("INSERT INTO pm_staff (staff_id, school_id, role) VALUES (?, ?, ?)",
                            (e.staff_id, e.school_id, e.role))
            elif isinstance(e, Identifier.Linked):
                cur.execute("INSERT INTO pm_identifier (ident_uuid, kind, token, child_id, staff_id,"
                            " active) VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (ident_uuid) DO UPDATE"
                            " SET child_id = excluded.child_id, staff_id = excluded.staff_id,"
                            " active = 1",
                            (str(e.originator_id), e.kind, e.token, e.child_id, e.staff_id))
            elif isinstance(e, Identifier.Unlinked):
                cur.execute("UPDATE pm_identifier SET active = 0 WHERE ident_uuid = ?",
                            (str(e.originator_id),))
            elif isinstance(e, TokenRevocation.Revoked):
                cur.execute("INSERT INTO pm_revoked_token (token_id) VALUES (?) "
                            "ON CONFLICT (token_id) DO NOTHING", (e.token_id,))
            elif isinstance(e, Seal.Sealed):
                cur.execute("INSERT INTO pm_seal (day, position, head, signature) VALUES (?,?,?,?)"
                            " ON CONFLICT (day) DO NOTHING",
                            (iso(e.day), e.position, e.head, e.signature))


def _log_school(cur: Cursor, position: int, uid: str) -> None:
    cur.execute("INSERT INTO pm_school_log (school_id, position, region_id, district, name)"
                " SELECT school_id, CAST(? AS BIGINT), region_id, district, name FROM pm_school"
                " WHERE school_uuid = ?", (position, uid))


class Balances(Projection):
    name, tables = "balances", "balances"
    events = (Wallet.Opened, Wallet.ToppedUp, Wallet.Charged, Wallet.Credited, Wallet.Refunded)

    def __init__(self) -> None:
        self.children: dict[str, str] = {}

    def forget(self) -> None:
        self.children.clear()

    def _child(self, cur: Cursor, wallet_id: str) -> str:
        child = self.children.get(wallet_id)
        if child is None:
            row = cur.fetchone("SELECT child_id FROM pm_balance WHERE wallet_id = ?", (wallet_id,))
            child = self.children[wallet_id] = row[0] if row else ""
        return child

    def apply(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        moves: list[tuple[Any, ...]] = []
        deltas: dict[str, int] = defaultdict(int)
        for position, e in batch:
            if not isinstance(e, Wallet.Opened | Wallet.ToppedUp | Wallet.Charged
                              | Wallet.Credited | Wallet.Refunded):
                continue
            wallet_id = str(e.originator_id)
            if isinstance(e, Wallet.Opened):
                cur.execute("INSERT INTO pm_balance (wallet_id, child_id, balance_kzt) "
                            "VALUES (?, ?, 0)", (wallet_id, e.child_id))
                self.children[wallet_id] = e.child_id
                continue
            kind, sign, ref = {
                Wallet.ToppedUp: ("top_up", 1, "payment_id"),
                Wallet.Charged: ("meal", -1, "meal_id"),
                Wallet.Credited: ("meal_void", 1, "meal_id"),
                Wallet.Refunded: ("refund", -1, "refund_id"),
            }[type(e)]
            amount = sign * e.amount_kzt
            deltas[wallet_id] += amount
            moves.append((position, 0, self._child(cur, wallet_id), iso(e.timestamp), kind,
                          amount, str(getattr(e, ref))))
        insert_rows(cur, "pm_movement", ("position", "seq", "child_id", "at", "kind",
                                         "amount_kzt", "ref"), moves)
        cur.executemany("UPDATE pm_balance SET balance_kzt = balance_kzt + ? WHERE wallet_id = ?",
                        [(d, w) for w, d in deltas.items()])


class Meals(Projection):
    """Meals, refusals and the daily cost by school, day and band. Scan events come as their
    views (eventlog.VIEWS): days and instants are written as stored."""

    name, tables = "meals", "meals"
    # 2: pm_meal.balance_kzt (parent notifications), pm_delivery; 3: pm_refusal unkeyed
    version = 3
    events = (TerminalEvent.MealServed, TerminalEvent.MealRefused, TerminalEvent.PassRefused,
              TerminalEvent.MealVoided)

    def apply(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        meals: list[tuple[Any, ...]] = []
        refusals: list[tuple[Any, ...]] = []
        cost: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        for position, e in batch:
            if type(e) is Served:
                meals.append((e.originator_id, position, e.event_id, e.terminal_id, e.school_id,
                              e.child_id, e.day, e.day[:7], instant(e.at), e.band, e.grade,
                              e.class_name, e.funding, e.funded_kzt, e.rate_kzt, e.paid_kzt,
                              bytes(e.items).decode(), int(e.offline), ",".join(e.flags),
                              e.balance_kzt))
                _cost(cost, e.school_id, e.day, e.band, e.funding, e.funded_kzt, e.paid_kzt, 1)
            elif isinstance(e, Refused):
                kind = "meal" if type(e) is MealRefusal else "pass"
                refusals.append((position, kind, e.event_id, e.terminal_id, e.school_id,
                                 e.child_id, e.day, instant(e.at), e.reason, int(e.offline)))
            elif isinstance(e, TerminalEvent.MealVoided):
                _flush(cur, meals, refusals, cost)
                meals, refusals = [], []
                cost = defaultdict(lambda: [0, 0, 0, 0, 0])
                self._void(cur, position, e, cost)
        _flush(cur, meals, refusals, cost)

    @staticmethod
    def _void(cur: Cursor, position: int, e: TerminalEvent.MealVoided,
              cost: dict[tuple[str, str, str], list[int]]) -> None:
        meal_id = str(e.originator_id)
        row = cur.fetchone("SELECT band, funding FROM pm_meal WHERE meal_id = ?", (meal_id,))
        cur.execute("UPDATE pm_meal SET voided_position = ?, void_reason = ? WHERE meal_id = ?",
                    (position, e.reason, meal_id))
        if row is not None:
            _cost(cost, e.school_id, iso(e.day), row[0], row[1], e.funded_kzt, e.paid_kzt, -1)


def _cost(cost: dict[tuple[str, str, str], list[int]], school_id: str, day: str, band: str,
          funding: str, funded_kzt: int, paid_kzt: int, sign: int) -> None:
    row = cost[(school_id, day, band)]
    row[0] += sign * (funding == "funded")
    row[1] += sign * funded_kzt
    row[2] += sign * (paid_kzt > 0)
    row[3] += sign * paid_kzt
    row[4] += sign * (funding == "unfunded")


def _flush(cur: Cursor, meals: list[tuple[Any, ...]], refusals: list[tuple[Any, ...]],
           cost: dict[tuple[str, str, str], list[int]]) -> None:
    insert_rows(cur, "pm_meal", _MEAL_COLUMNS, meals)
    insert_rows(cur, "pm_refusal", _REFUSAL_COLUMNS, refusals)
    cur.executemany(
        "INSERT INTO pm_daily_cost (school_id, day, band, month, funded_meals, funded_kzt,"
        " paid_meals, paid_kzt, unfunded_meals) VALUES (?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (school_id, day, band) DO UPDATE SET"
        " funded_meals = pm_daily_cost.funded_meals + excluded.funded_meals,"
        " funded_kzt = pm_daily_cost.funded_kzt + excluded.funded_kzt,"
        " paid_meals = pm_daily_cost.paid_meals + excluded.paid_meals,"
        " paid_kzt = pm_daily_cost.paid_kzt + excluded.paid_kzt,"
        " unfunded_meals = pm_daily_cost.unfunded_meals + excluded.unfunded_meals",
        [(s, d, b, d[:7], *v) for (s, d, b), v in cost.items()])


_MEAL_COLUMNS = ("meal_id", "position", "event_id", "terminal_id", "school_id", "child_id", "day",
                 "month", "at", "band", "grade", "class_name", "funding", "funded_kzt",
                 "rate_kzt", "paid_kzt", "items", "offline", "flags", "balance_kzt")
_REFUSAL_COLUMNS = ("position", "kind", "event_id", "terminal_id", "school_id", "child_id",
                    "day", "at", "reason", "offline")
_PASS_COLUMNS = ("position", "event_id", "school_id", "person_kind", "person_id", "day", "at",
                 "direction", "method", "authorized_by", "offline")


class Attendance(Projection):
    name, tables = "attendance", "attendance"
    version = 2  # 2: pm_pass unkeyed
    events = (TerminalEvent.GatePassed,)

    def apply(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        rows = []
        for position, e in batch:
            if type(e) is Passed:
                kind = "pupil" if e.child_id is not None else "staff"
                rows.append((position, e.event_id, e.school_id, kind, e.child_id or e.staff_id,
                             e.day, instant(e.at), e.direction, e.method, e.authorized_by,
                             int(e.offline)))
        insert_rows(cur, "pm_pass", _PASS_COLUMNS, rows)


class Months(Projection):
    name, tables = "months", "months"
    events = (Month.Closed, Month.TenantPaid, Rating.Given, Filing.Filed)

    def apply(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        for position, e in batch:
            if isinstance(e, Month.Closed):
                cur.execute(
                    "INSERT INTO pm_month (month_uuid, school_id, month, position,"
                    " closed_at_position, meals_kzt, adjustments_kzt, total_kzt, allowances_kzt,"
                    " paid_kzt, statement) VALUES (?,?,?,?,?,?,?,?,?,0,?)",
                    (str(e.originator_id), e.school_id, e.month, e.position, position,
                     e.meals_kzt, e.adjustments_kzt, e.total_kzt, e.allowances_kzt,
                     _json.encode(e)))
            elif isinstance(e, Month.TenantPaid):
                cur.execute("UPDATE pm_month SET paid_kzt = paid_kzt + ? WHERE month_uuid = ?",
                            (e.amount_kzt, str(e.originator_id)))
            elif isinstance(e, Filing.Filed):
                cur.execute(
                    "INSERT INTO pm_filing (school_id, kind, month, first_filed_at, filed_at,"
                    " sha256, position, chain_head, filed_by) VALUES (?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT (school_id, kind, month) DO UPDATE SET"
                    " filed_at = excluded.filed_at, sha256 = excluded.sha256,"
                    " position = excluded.position, chain_head = excluded.chain_head,"
                    " filed_by = excluded.filed_by",
                    (e.school_id, e.kind, e.month, iso(e.filed_at), iso(e.filed_at), e.sha256,
                     e.position, e.chain_head, e.filed_by))
            elif isinstance(e, Rating.Given):
                cur.execute("INSERT INTO pm_rating (rating_id, school_id, day, score) "
                            "VALUES (?, ?, ?, ?)", (e.rating_id, e.school_id, iso(e.day), e.score))
