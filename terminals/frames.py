"""Frame codec for framed terminals (pure: no I/O). See terminals/PROTOCOL.md.

Frame::

    STX(0x02) | LEN(2, big-endian, payload bytes) | TYPE(1) | SEQ(2, big-endian)
    | PAYLOAD(LEN) | CRC(2, big-endian, CRC-16/CCITT-FALSE over LEN..PAYLOAD) | ETX(0x03)

`FrameDecoder.feed` turns a byte stream into `Frame`s and `WireError`s. It never raises on
bad input: after garbage, a bad CRC, an impossible length, a missing ETX or an unknown type it
drops the smallest amount possible (one byte for an unverifiable frame, the whole frame for a
CRC-valid one with a bad type or payload) and searches for the next STX.
"""

from __future__ import annotations

import enum
import struct
from collections import Counter
from typing import TypeVar, Union

import msgspec

STX = 0x02
ETX = 0x03
HEADER_BYTES = 6  # STX, LEN(2), TYPE, SEQ(2)
TRAILER_BYTES = 3  # CRC(2), ETX
PAYLOAD_BYTES_MAX = 512
FRAME_BYTES_MAX = HEADER_BYTES + PAYLOAD_BYTES_MAX + TRAILER_BYTES
SEQ_MAX = 0xFFFF
TOKEN_BYTES_MAX = 64
ITEMS_MAX = 16
NAME_BYTES_MAX = 48
TEXT_BYTES_MAX = 200


class FrameType(enum.IntEnum):
    SCAN = 0x01
    HEARTBEAT = 0x02
    GRANT = 0x81
    DENY = 0x82
    OPEN = 0x83
    ACK = 0x84


class Funding(enum.IntEnum):
    NONE = 0  # gate pass: no money involved
    FUNDED = 1
    PAID = 2
    UNFUNDED = 3


class Reason(enum.IntEnum):
    """Numeric reason codes on the wire; names are the API's stable codes."""

    unknown_identifier = 1
    no_consent = 2
    not_enrolled = 3
    not_school_day = 4
    already_served = 5
    allergen_restriction = 6
    insufficient_balance = 7
    no_free_meal_item = 8
    unknown_item = 9
    wrong_school = 10
    bad_request = 11  # gateway-local: the scan could not be understood
    offline_no_cache = 12  # gateway-local: offline and no usable cache
    unknown_staff = 13  # a manual pass named no staff member of this school
    wrong_terminal_kind = 14  # a meal at a gate terminal or a pass at a canteen one
    event_id_reused = 15  # the gateway sent another scan under a used event id (a bug)
    other = 255  # a server code this gateway does not know yet


FLAG_OFFLINE = 0x01  # GRANT/DENY flags: decided by the gateway offline
FLAG_FLAGGED = 0x02  # GRANT flags: the server flagged the meal


class Scan(msgspec.Struct, frozen=True):
    id_kind: str  # "card" | "palm"
    token: str
    direction: str | None = None  # "in" | "out" for gates, None for canteens
    item_ids: tuple[str, ...] = ()


class Heartbeat(msgspec.Struct, frozen=True):
    uptime_s: int = 0


class Grant(msgspec.Struct, frozen=True):
    funding: Funding
    amount_kzt: int
    balance_kzt: int
    first_name: str = ""
    flags: int = 0


class Deny(msgspec.Struct, frozen=True):
    reason: Reason
    text: str = ""
    flags: int = 0


class Open(msgspec.Struct, frozen=True):
    direction: str  # "in" | "out"
    hold_ms: int = 1500


class Ack(msgspec.Struct, frozen=True):
    offline: bool = False


Message = Union[Scan, Heartbeat, Grant, Deny, Open, Ack]


class Frame(msgspec.Struct, frozen=True):
    seq: int
    message: Message


class WireError(msgspec.Struct, frozen=True):
    kind: str  # garbage | bad_length | bad_crc | bad_etx | unknown_type | bad_payload | truncated
    bytes_dropped: int
    detail: str = ""


class PayloadError(ValueError):
    """A payload does not follow the layout of its frame type."""


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


# ---------------------------------------------------------------- payload layouts

_KIND_TO_BYTE = {"card": b"C", "palm": b"P"}
_BYTE_TO_KIND = {v[0]: k for k, v in _KIND_TO_BYTE.items()}
_DIR_TO_BYTE = {"in": b"I", "out": b"O", None: b"-"}
_BYTE_TO_DIR = {v[0]: k for k, v in _DIR_TO_BYTE.items()}


def _short_bytes(text: str, limit: int, what: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > limit:
        raise PayloadError(f"{what} is {len(raw)} bytes, limit {limit}")
    return bytes([len(raw)]) + raw


def _truncate_utf8(text: str, limit: int) -> str:
    raw = text.encode("utf-8")[:limit]
    return raw.decode("utf-8", errors="ignore")


def _ascii_token(text: str, what: str) -> bytes:
    if not text or not text.isascii() or len(text) > TOKEN_BYTES_MAX:
        raise PayloadError(f"{what} must be 1-{TOKEN_BYTES_MAX} ASCII characters")
    return bytes([len(text)]) + text.encode("ascii")


def encode_payload(message: Message) -> bytes:
    if isinstance(message, Scan):
        if len(message.item_ids) > ITEMS_MAX:
            raise PayloadError(f"a scan names at most {ITEMS_MAX} items")
        head = _KIND_TO_BYTE[message.id_kind] + _DIR_TO_BYTE[message.direction]
        body = _ascii_token(message.token, "token") + bytes([len(message.item_ids)])
        return head + body + b"".join(_ascii_token(i, "item id") for i in message.item_ids)
    if isinstance(message, Heartbeat):
        return struct.pack(">I", message.uptime_s)
    if isinstance(message, Grant):
        name = _short_bytes(_truncate_utf8(message.first_name, NAME_BYTES_MAX), NAME_BYTES_MAX, "name")
        fixed = struct.pack(">BIiB", message.funding, message.amount_kzt, message.balance_kzt, message.flags)
        return fixed + name
    if isinstance(message, Deny):
        text = _short_bytes(_truncate_utf8(message.text, TEXT_BYTES_MAX), TEXT_BYTES_MAX, "text")
        return struct.pack(">BB", message.reason, message.flags) + text
    if isinstance(message, Open):
        return _DIR_TO_BYTE[message.direction] + struct.pack(">H", message.hold_ms)
    if isinstance(message, Ack):
        return bytes([1 if message.offline else 0])
    raise TypeError(f"not a message: {message!r}")


class _Reader:
    """Cursor over a payload; every read checks bounds."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise PayloadError(f"payload ends at byte {len(self.data)}, needed {self.pos + n}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def short(self, limit: int) -> bytes:
        n = self.take(1)[0]
        if n > limit:
            raise PayloadError(f"field of {n} bytes exceeds limit {limit}")
        return self.take(n)

    def ascii_token(self) -> str:
        raw = self.short(TOKEN_BYTES_MAX)
        if not raw or not raw.isascii() or not raw.decode("ascii").isprintable():
            raise PayloadError("token must be 1-64 printable ASCII characters")
        return raw.decode("ascii")

    def utf8(self, limit: int) -> str:
        try:
            return self.short(limit).decode("utf-8")
        except UnicodeDecodeError as e:
            raise PayloadError(f"text is not UTF-8: {e}") from None

    def end(self) -> None:
        if self.pos != len(self.data):
            raise PayloadError(f"{len(self.data) - self.pos} trailing bytes in payload")


def _decode_scan(r: _Reader) -> Scan:
    kind_b, dir_b = r.take(2)
    if kind_b not in _BYTE_TO_KIND or dir_b not in _BYTE_TO_DIR:
        raise PayloadError(f"bad identifier kind {kind_b:#04x} or direction {dir_b:#04x}")
    token = r.ascii_token()
    count = r.take(1)[0]
    if count > ITEMS_MAX:
        raise PayloadError(f"{count} items, limit {ITEMS_MAX}")
    items = tuple(r.ascii_token() for _ in range(count))
    return Scan(_BYTE_TO_KIND[kind_b], token, _BYTE_TO_DIR[dir_b], items)


def decode_payload(frame_type: FrameType, payload: bytes) -> Message:
    r = _Reader(payload)
    message: Message
    if frame_type is FrameType.SCAN:
        message = _decode_scan(r)
    elif frame_type is FrameType.HEARTBEAT:
        message = Heartbeat(struct.unpack(">I", r.take(4))[0])
    elif frame_type is FrameType.GRANT:
        funding, amount, balance, flags = struct.unpack(">BIiB", r.take(10))
        message = Grant(_enum(Funding, funding), amount, balance, r.utf8(NAME_BYTES_MAX), flags)
    elif frame_type is FrameType.DENY:
        reason, flags = r.take(2)
        message = Deny(_enum(Reason, reason), r.utf8(TEXT_BYTES_MAX), flags)
    elif frame_type is FrameType.OPEN:
        dir_b = r.take(1)[0]
        if _BYTE_TO_DIR.get(dir_b) is None:
            raise PayloadError(f"bad direction {dir_b:#04x}")
        message = Open(_BYTE_TO_DIR[dir_b] or "in", struct.unpack(">H", r.take(2))[0])
    else:
        message = Ack(bool(r.take(1)[0]))
    r.end()
    return message


_E = TypeVar("_E", bound=enum.IntEnum)


def _enum(cls: type[_E], value: int) -> _E:
    try:
        return cls(value)
    except ValueError:
        raise PayloadError(f"{value} is not a {cls.__name__}") from None


_TYPE_OF = {Scan: FrameType.SCAN, Heartbeat: FrameType.HEARTBEAT, Grant: FrameType.GRANT,
            Deny: FrameType.DENY, Open: FrameType.OPEN, Ack: FrameType.ACK}


def frame_type_of(message: Message) -> FrameType:
    return _TYPE_OF[type(message)]


def encode_frame(seq: int, message: Message) -> bytes:
    """The bytes of one frame; raises PayloadError when a field is out of its limits."""
    if not 0 <= seq <= SEQ_MAX:
        raise PayloadError(f"seq {seq} outside 0..{SEQ_MAX}")
    payload = encode_payload(message)
    if len(payload) > PAYLOAD_BYTES_MAX:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds {PAYLOAD_BYTES_MAX}")
    body = struct.pack(">HBH", len(payload), frame_type_of(message), seq) + payload
    return bytes([STX]) + body + struct.pack(">H", crc16_ccitt_false(body)) + bytes([ETX])


class FrameDecoder:
    """Streaming decoder: feed bytes, get frames and wire errors in stream order."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.errors: Counter[str] = Counter()
        self.frames_ok = 0

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | WireError]:
        self._buf += data
        out: list[Frame | WireError] = []
        while self._step(out):
            pass
        return out

    def expire(self) -> list[Frame | WireError]:
        """The line went quiet: a partial frame in the buffer will never complete."""
        out: list[Frame | WireError] = []
        if self._buf:
            self._drop(out, 1, "truncated", f"partial frame of {len(self._buf)} bytes timed out")
            while self._step(out):
                pass
        return out

    def _drop(self, out: list[Frame | WireError], n: int, kind: str, detail: str) -> None:
        del self._buf[:n]
        self.errors[kind] += 1
        out.append(WireError(kind, n, detail))

    def _step(self, out: list[Frame | WireError]) -> bool:
        """Consume what can be consumed at the head of the buffer; False = need more bytes."""
        buf = self._buf
        if not buf:
            return False
        if buf[0] != STX:
            start = buf.find(STX)
            n = len(buf) if start < 0 else start
            self._drop(out, n, "garbage", f"{n} bytes before STX")
            return bool(buf)
        if len(buf) < HEADER_BYTES:
            return False
        length, type_b, seq = struct.unpack_from(">HBH", buf, 1)
        if length > PAYLOAD_BYTES_MAX:
            self._drop(out, 1, "bad_length", f"LEN {length} > {PAYLOAD_BYTES_MAX}")
            return True
        total = HEADER_BYTES + length + TRAILER_BYTES
        if len(buf) < total:
            return False
        (crc,) = struct.unpack_from(">H", buf, HEADER_BYTES + length)
        if crc != crc16_ccitt_false(bytes(buf[1 : HEADER_BYTES + length])):
            self._drop(out, 1, "bad_crc", f"type {type_b:#04x} seq {seq}")
            return True
        if buf[total - 1] != ETX:
            self._drop(out, 1, "bad_etx", f"byte {buf[total - 1]:#04x} where ETX expected")
            return True
        self._complete(out, type_b, seq, bytes(buf[HEADER_BYTES : HEADER_BYTES + length]), total)
        return True

    def _complete(self, out: list[Frame | WireError], type_b: int, seq: int, payload: bytes, total: int) -> None:
        try:
            frame_type = FrameType(type_b)
        except ValueError:
            self._drop(out, total, "unknown_type", f"type {type_b:#04x} seq {seq}")
            return
        try:
            message = decode_payload(frame_type, payload)
        except PayloadError as e:
            self._drop(out, total, "bad_payload", f"{frame_type.name} seq {seq}: {e}")
            return
        del self._buf[:total]
        self.frames_ok += 1
        out.append(Frame(seq, message))
