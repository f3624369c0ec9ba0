"""Properties of the frame codec: round trip, resynchronisation after garbage and truncation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from terminals import frames as fr

ascii_token = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
scans = st.builds(fr.Scan, st.sampled_from(["card", "palm"]), ascii_token,
                  st.sampled_from([None, "in", "out"]), st.lists(ascii_token, max_size=fr.ITEMS_MAX).map(tuple))
grants = st.builds(fr.Grant, st.sampled_from(list(fr.Funding)), st.integers(0, 2**32 - 1),
                   st.integers(-(2**31), 2**31 - 1), st.text(max_size=20), st.integers(0, 3))
denies = st.builds(fr.Deny, st.sampled_from(list(fr.Reason)), st.text(max_size=60), st.integers(0, 3))
messages = st.one_of(scans, grants, denies,
                     st.builds(fr.Heartbeat, st.integers(0, 2**32 - 1)),
                     st.builds(fr.Open, st.sampled_from(["in", "out"]), st.integers(0, 65535)),
                     st.builds(fr.Ack, st.booleans()))
frames = st.builds(fr.Frame, st.integers(0, fr.SEQ_MAX), messages)


def decode_all(stream: bytes, chunk: int) -> tuple[list[fr.Frame], list[fr.WireError]]:
    decoder = fr.FrameDecoder()
    out: list[fr.Frame | fr.WireError] = []
    for i in range(0, len(stream), chunk):
        out += decoder.feed(stream[i : i + chunk])
    out += decoder.expire()
    while decoder.pending_bytes:  # every expire drops at least one byte
        out += decoder.expire()
    return [x for x in out if isinstance(x, fr.Frame)], [x for x in out if isinstance(x, fr.WireError)]


@given(frames, st.integers(1, 64))
def test_every_frame_decodes_to_itself_whatever_the_chunking(frame: fr.Frame, chunk: int) -> None:
    got, errors = decode_all(fr.encode_frame(frame.seq, frame.message), chunk)
    assert got == [_normalised(frame)]
    assert errors == []


def _normalised(frame: fr.Frame) -> fr.Frame:
    """Texts longer than their field are cut on the wire at a character boundary."""
    m = frame.message
    if isinstance(m, fr.Grant):
        m = fr.Grant(m.funding, m.amount_kzt, m.balance_kzt, fr._truncate_utf8(m.first_name, fr.NAME_BYTES_MAX), m.flags)
    return fr.Frame(frame.seq, m)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.binary(max_size=40), frames), min_size=1, max_size=8), st.binary(max_size=40),
       st.integers(1, 50))
def test_frames_survive_random_garbage_between_them(parts: list[tuple[bytes, fr.Frame]], tail: bytes,
                                                    chunk: int) -> None:
    stream = b"".join(g + fr.encode_frame(f.seq, f.message) for g, f in parts) + tail
    got, errors = decode_all(stream, chunk)
    assert got == [_normalised(f) for _, f in parts]
    garbage_bytes = sum(len(g) for g, _ in parts) + len(tail)
    assert bool(errors) == bool(garbage_bytes)


@settings(max_examples=300)
@given(st.lists(st.tuples(frames, st.booleans(), st.data()), min_size=1, max_size=8), st.integers(1, 50))
def test_truncated_frames_cost_only_themselves(parts: list[tuple[fr.Frame, bool, st.DataObject]], chunk: int) -> None:
    stream, kept = b"", []
    for frame, truncate, data in parts:
        raw = fr.encode_frame(frame.seq, frame.message)
        if truncate:
            raw = raw[: data.draw(st.integers(1, len(raw) - 1))]
        else:
            kept.append(_normalised(frame))
        stream += raw
    got, errors = decode_all(stream, chunk)
    assert got == kept
    assert len(errors) >= sum(t for _, t, _ in parts)


@given(frames, st.integers(0, 200), st.integers(0, 7))
def test_a_flipped_bit_never_yields_a_different_frame(frame: fr.Frame, position: int, bit: int) -> None:
    raw = bytearray(fr.encode_frame(frame.seq, frame.message))
    raw[position % len(raw)] ^= 1 << bit
    got, _ = decode_all(bytes(raw), 7)
    assert got in ([], [_normalised(frame)])
