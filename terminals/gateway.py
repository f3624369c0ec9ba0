"""The gateway loop: device bytes in, decisions out, the journal synced in the background.

Online, each scan is one POST of one item, waited for at most ``offline_after_ms``. When
that fails the gateway goes offline: it decides from the cached view, journals the event
(durably, same event id as the failed attempt, so a request that did reach the server is
answered "duplicate" on sync and never counted twice) and only then answers the device.
The sync thread sends the journal in order, in batches; when it is empty and the server
answers, it refreshes the cache and puts the gateway back online.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from terminals import frames as fr
from terminals.client import (EventItem, EventResult, Identifier, ServerAuthError, ServerClient,
                              ServerRejected, ServerUnavailable)
from terminals.journal import Journal, JournalError, OverlayEntry
from terminals.lines import LineDecoder, LineScan
from terminals.offline import DENY_TEXTS, Decision, OfflineView, offline_decision_of, refused
from terminals.sync import Syncer
from terminals.transport import Transport, TransportError

log = logging.getLogger("tamaq.terminals.gateway")
SCHOOL_TZ = ZoneInfo("Asia/Almaty")
REPLAY_SEQS_MAX = 64
_FUNDING = {"funded": fr.Funding.FUNDED, "paid": fr.Funding.PAID, "unfunded": fr.Funding.UNFUNDED}


@dataclass(frozen=True)
class GatewayConfig:
    terminal_id: str
    reader: str = "framed"  # framed | lines
    kind: str | None = None  # gate | canteen; None: from the cache (framed scans with a direction are gate passes)
    direction: str = "in"  # for line readers at gates
    offline_after_ms: int = 300
    partial_expire_ms: int = 200  # a partial frame/line older than this is dropped
    gate_open_ms: int = 1500
    sync_interval_s: float = 0.5
    cache_refresh_s: float = 60.0
    sync_batch_max: int = 500


@dataclass(frozen=True)
class ScanRequest:
    id_kind: str
    token: str
    direction: str | None
    item_ids: tuple[str, ...]


def new_event_id() -> str:
    return f"{time.time_ns() // 1_000_000:x}-{secrets.token_hex(8)}"


def token_hint(token: str) -> str:
    return "…" + token[-4:] if len(token) > 4 else token


class Gateway:
    def __init__(self, config: GatewayConfig, transport: Transport, client: ServerClient,
                 sync_client: ServerClient, journal: Journal) -> None:
        self.config, self.transport, self.client, self.journal = config, transport, client, journal
        self.decoder: fr.FrameDecoder | LineDecoder = fr.FrameDecoder() if config.reader == "framed" else LineDecoder()
        self.counters: Counter[str] = Counter()
        self.latencies_ms: dict[str, list[float]] = {"online": [], "offline": []}
        self._replay: OrderedDict[int, tuple[fr.Scan, bytes]] = OrderedDict()
        self._view_lock = threading.Lock()
        loaded = journal.load_cache()
        self._view = OfflineView(loaded[0] if loaded else None, journal.overlay())
        self.online = threading.Event()
        self.online.set()
        self._last_rx = time.monotonic()
        self._relay_off_at: float | None = None
        self._deferred: list[OverlayEntry] = []  # online overlay rows, saved after the answer is out
        self.syncer = Syncer(self, sync_client)

    # ------------------------------------------------------------------ view
    @property
    def view(self) -> OfflineView:
        with self._view_lock:
            return self._view

    def replace_view(self, view: OfflineView) -> None:
        with self._view_lock:
            self._view = view

    def go_offline(self, why: str) -> None:
        if self.online.is_set():
            log.warning("offline: %s", why)
            self.counters["went_offline"] += 1
        self.online.clear()

    # ------------------------------------------------------------------ loop
    def run(self, stop: threading.Event) -> None:
        self.syncer.start(stop)
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.syncer.join()

    def step(self) -> None:
        """One read and everything it completes; never raises for bad input."""
        data = self.transport.read()
        now = time.monotonic()
        if data:
            self._last_rx = now
            items = self.decoder.feed(data)
        elif self.decoder.pending_bytes and (now - self._last_rx) * 1000 > self.config.partial_expire_ms:
            items = self.decoder.expire()
        else:
            items = []
        for item in items:
            try:
                self._dispatch(item)
            except Exception:  # one bad item must never stop the gateway
                self.counters["internal_error"] += 1
                log.exception("internal error while handling %r", type(item).__name__)
            self._save_deferred()
        if self._relay_off_at is not None and now >= self._relay_off_at:
            self.transport.set_relay(False)
            self._relay_off_at = None

    def _dispatch(self, item: fr.Frame | fr.WireError | LineScan) -> None:
        if isinstance(item, fr.WireError):
            self.counters[f"wire_{item.kind}"] += 1
            log.warning("wire %s: %d bytes dropped (%s)", item.kind, item.bytes_dropped, item.detail)
        elif isinstance(item, LineScan):
            kind = self._event_kind(None)
            scan = ScanRequest(item.id_kind, item.token, self.config.direction if kind == "gate_pass" else None, ())
            decision = self.decide(scan, kind, seq=None)
            if decision.granted and kind == "gate_pass":
                self._pulse_relay()
        elif isinstance(item.message, fr.Heartbeat):
            self._write(fr.encode_frame(item.seq, fr.Ack(offline=not self.online.is_set())))
        elif isinstance(item.message, fr.Scan):
            self._framed_scan(item.seq, item.message)
        else:
            self.counters["wire_unexpected_type"] += 1
            log.warning("wire unexpected_type: %s from device, seq %d", type(item.message).__name__, item.seq)

    def _framed_scan(self, seq: int, scan: fr.Scan) -> None:
        previous = self._replay.get(seq)
        if previous is not None and previous[0] == scan:
            self.counters["repeated_seq"] += 1
            log.info("scan seq=%d repeated: same answer resent", seq)
            self._write(previous[1])
            return
        request = ScanRequest(scan.id_kind, scan.token, scan.direction, scan.item_ids)
        kind = self._event_kind(scan.direction)
        decision = self.decide(request, kind, seq)
        answer = self._answer_bytes(seq, decision, kind, scan.direction)
        self._replay[seq] = (scan, answer)
        self._replay.move_to_end(seq)
        while len(self._replay) > REPLAY_SEQS_MAX:
            self._replay.popitem(last=False)
        self._write(answer)

    def _event_kind(self, direction: str | None) -> str:
        kind = self.config.kind or (self.view.cache.kind if self.view.cache else None)
        if direction is not None or kind == "gate":
            return "gate_pass"
        return "meal"

    def _answer_bytes(self, seq: int, d: Decision, kind: str, direction: str | None) -> bytes:
        flags = (fr.FLAG_OFFLINE if d.offline else 0) | (fr.FLAG_FLAGGED if d.flagged else 0)
        if not d.granted:
            reason = d.reason if d.reason is not None and d.reason in fr.Reason.__members__ else "other"
            return fr.encode_frame(seq, fr.Deny(fr.Reason[reason], DENY_TEXTS[reason], flags))
        funding = _FUNDING.get(d.funding or "", fr.Funding.NONE)
        grant = fr.Grant(funding, max(0, d.amount_kzt), d.balance_kzt or 0, d.first_name or "", flags)
        out = fr.encode_frame(seq, grant)
        if kind == "gate_pass":
            out += fr.encode_frame(seq, fr.Open(direction or self.config.direction, self.config.gate_open_ms))
        return out

    def _write(self, data: bytes) -> None:
        try:
            self.transport.write(data)
        except TransportError as e:
            self.counters["write_failed"] += 1
            log.warning("answer not delivered: %s", e)

    def _pulse_relay(self) -> None:
        self.transport.set_relay(True)
        self._relay_off_at = time.monotonic() + self.config.gate_open_ms / 1000

    # ------------------------------------------------------------------ deciding
    def decide(self, scan: ScanRequest, kind: str, seq: int | None) -> Decision:
        started = time.perf_counter()
        at = datetime.now(timezone.utc)
        item = EventItem(event_id=new_event_id(), kind=kind, at=at,  # type: ignore[arg-type]
                         identifier=Identifier(scan.id_kind, scan.token),  # type: ignore[arg-type]
                         direction=(scan.direction or self.config.direction) if kind == "gate_pass" else None,  # type: ignore[arg-type]
                         method=scan.id_kind if kind == "gate_pass" else None,  # type: ignore[arg-type]
                         item_ids=list(scan.item_ids) or None if kind == "meal" else None)
        decision = self._decide_online(item) if self.online.is_set() else None
        mode = "online"
        if decision is None:
            decision, mode = self._decide_offline(item, scan, kind, at), "offline"
        elapsed_ms = (time.perf_counter() - started) * 1000
        if len(self.latencies_ms[mode]) < 100_000:
            self.latencies_ms[mode].append(elapsed_ms)
        self.counters[f"scans_{mode}"] += 1
        log.info("scan seq=%s id=%s:%s subject=%s kind=%s mode=%s status=%s reason=%s funding=%s "
                 "amount_kzt=%s balance_kzt=%s flagged=%d ms=%.1f", seq, scan.id_kind, token_hint(scan.token),
                 decision.subject or "-", kind, mode, decision.status, decision.reason or "-",
                 decision.funding or "-", decision.amount_kzt, decision.balance_kzt, decision.flagged, elapsed_ms)
        return decision

    def _decide_online(self, item: EventItem) -> Decision | None:
        try:
            (result,) = self.client.post_events([item], timeout_s=self.config.offline_after_ms / 1000)
        except (ServerUnavailable, ServerAuthError) as e:
            if isinstance(e, ServerAuthError):
                log.error("token refused by server: %s (deciding offline)", e)
            self.go_offline(str(e))
            return None
        except ServerRejected as e:
            log.error("server rejected scan %s: %s", item.event_id, e)
            return refused("bad_request")
        self._remember_online(item, result)
        return Decision(status=result.status, reason=result.reason, funding=result.funding,
                        amount_kzt=result.amount_kzt or 0, balance_kzt=result.balance_kzt,
                        first_name=result.first_name, flagged=result.flagged, offline=False,
                        subject=self._subject_of(item))

    def _subject_of(self, item: EventItem) -> str | None:
        ident = item.identifier and self.view.lookup(item.identifier.kind, item.identifier.token)
        if ident:
            return f"child:{ident.child_id}" if ident.child_id else f"staff:{ident.staff_id}"
        return None

    def _remember_online(self, item: EventItem, result: EventResult) -> None:
        """Keep the offline view current with what the server just said."""
        subject = self._subject_of(item)
        if subject is None or item.kind != "meal" or result.status == "refused":
            return
        entry = OverlayEntry(at=time.time(), date=item.at.astimezone(SCHOOL_TZ).date().isoformat(), key=subject,
                             served=result.funding in ("funded", "unfunded"), balance_abs_kzt=result.balance_kzt)
        self._deferred.append(entry)
        with self._view_lock:
            self._view.apply(entry)

    def _save_deferred(self) -> None:
        while self._deferred:
            entry = self._deferred.pop(0)
            try:
                self.journal.add_overlay(entry)
            except JournalError as e:
                log.warning("overlay not saved: %s", e)

    def _decide_offline(self, item: EventItem, scan: ScanRequest, kind: str, at: datetime) -> Decision:
        date = at.astimezone(SCHOOL_TZ).date().isoformat()
        with self._view_lock:
            view = self._view
            overlay: OverlayEntry | None = None
            if kind == "gate_pass":
                decision = view.decide_gate(scan.id_kind, scan.token)
            else:
                decision, overlay = view.decide_meal(scan.id_kind, scan.token, item.item_ids, date, time.time())
                item = _with_offline(item, decision)
            try:
                self.journal.append(item, overlay)
            except JournalError as e:
                log.error("journal write failed, scan refused: %s", e)
                return refused("other", decision.subject)
            if overlay is not None:
                view.apply(overlay)
        return decision


def _with_offline(item: EventItem, decision: Decision) -> EventItem:
    import msgspec

    return msgspec.structs.replace(item, offline_decision=offline_decision_of(decision))
