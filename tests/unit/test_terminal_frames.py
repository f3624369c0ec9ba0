"""Frame codec: known answers, each wire error named and counted, limits."""

from __future__ import annotations

import binascii

import pytest

from terminals import frames as fr


def test_crc_is_ccitt_false_known_answer() -> None:
    assert fr.crc16_ccitt_false(b"123456789") == 0x29B1


def test_the_crc_agrees_with_an_independent_implementation() -> None:
    data = bytes(range(256)) * 3
    assert fr.crc16_ccitt_false(data) == binascii.crc_hqx(data, 0xFFFF)


def test_a_scan_frame_has_the_documented_layout() -> None:
    raw = fr.encode_frame(0x0102, fr.Scan("card", "42", None, ()))
    # STX, LEN=6, SCAN, SEQ=0x0102, 'C', '-', len 2, "42", 0 items, CRC over LEN..PAYLOAD, ETX
    assert raw[:12] == bytes.fromhex("02 0006 01 0102 43 2d 02 3432 00")
    assert raw[12:14] == binascii.crc_hqx(raw[1:12], 0xFFFF).to_bytes(2, "big")
    assert raw[14:] == b"\x03"


PROTOCOL_EXAMPLES = [  # the hex examples of terminals/PROTOCOL.md
    ("02 00 0e 01 00 01 43 2d 0a 30 30 31 32 33 34 35 36 37 38 00 e5 33 03",
     fr.Frame(1, fr.Scan("card", "0012345678", None, ()))),
    ("02 00 11 01 00 02 50 2d 04 61 31 62 32 02 04 73 6f 75 70 03 62 75 6e d6 18 03",
     fr.Frame(2, fr.Scan("palm", "a1b2", None, ("soup", "bun")))),
    ("02 00 0e 01 00 03 43 49 0a 30 30 31 32 33 34 35 36 37 38 00 da ff 03",
     fr.Frame(3, fr.Scan("card", "0012345678", "in", ()))),
    ("02 00 04 02 00 04 00 00 0e 10 cf c4 03", fr.Frame(4, fr.Heartbeat(3600))),
    ("02 00 19 81 00 01 01 00 00 02 49 00 00 04 b0 00 0e d0 90 d0 b9 d0 b3 d0 b5 d1 80 d0 b8 d0 bc ad 27 03",
     fr.Frame(1, fr.Grant(fr.Funding.FUNDED, 585, 1200, "Айгерим", 0))),
    ("02 00 03 83 00 03 49 05 dc 1e 98 03", fr.Frame(3, fr.Open("in", 1500))),
    ("02 00 01 84 00 04 00 7f 4c 03", fr.Frame(4, fr.Ack(False))),
]


@pytest.mark.parametrize("hex_text, frame", PROTOCOL_EXAMPLES)
def test_protocol_examples_decode_and_encode_as_documented(hex_text: str, frame: fr.Frame) -> None:
    raw = bytes.fromhex(hex_text)
    assert fr.FrameDecoder().feed(raw) == [frame]
    assert fr.encode_frame(frame.seq, frame.message) == raw


def test_garbage_before_a_frame_is_dropped_and_counted_once() -> None:
    decoder = fr.FrameDecoder()
    frame = fr.encode_frame(7, fr.Heartbeat(5))
    out = decoder.feed(b"\xff\x00junk" + frame)
    assert out[0] == fr.WireError("garbage", 6, "6 bytes before STX")
    assert out[1] == fr.Frame(7, fr.Heartbeat(5))
    assert decoder.errors == {"garbage": 1}


def test_a_bad_crc_drops_the_frame_and_the_next_one_still_decodes() -> None:
    bad = bytearray(fr.encode_frame(1, fr.Ack(True)))
    bad[-2] ^= 0xFF
    decoder = fr.FrameDecoder()
    out = decoder.feed(bytes(bad) + fr.encode_frame(2, fr.Ack(False)))
    assert [x for x in out if isinstance(x, fr.Frame)] == [fr.Frame(2, fr.Ack(False))]
    assert decoder.errors["bad_crc"] == 1


def test_an_impossible_length_is_a_length_error() -> None:
    decoder = fr.FrameDecoder()
    out = decoder.feed(bytes([fr.STX, 0xFF, 0xFF, 0x01, 0, 1]) + fr.encode_frame(3, fr.Ack()))
    assert decoder.errors["bad_length"] == 1
    assert out[-1] == fr.Frame(3, fr.Ack())


def test_an_unknown_type_with_a_good_crc_is_dropped_whole() -> None:
    body = bytes([0, 0, 0x55, 0, 9])
    raw = bytes([fr.STX]) + body + fr.crc16_ccitt_false(body).to_bytes(2, "big") + bytes([fr.ETX])
    decoder = fr.FrameDecoder()
    out = decoder.feed(raw + fr.encode_frame(4, fr.Ack()))
    assert out == [fr.WireError("unknown_type", len(raw), "type 0x55 seq 9"), fr.Frame(4, fr.Ack())]


def test_a_payload_that_does_not_fit_its_type_is_a_payload_error() -> None:
    body = bytes([0, 1, fr.FrameType.SCAN, 0, 1, 0x43])
    raw = bytes([fr.STX]) + body + fr.crc16_ccitt_false(body).to_bytes(2, "big") + bytes([fr.ETX])
    decoder = fr.FrameDecoder()
    out = decoder.feed(raw)
    assert len(out) == 1 and isinstance(out[0], fr.WireError) and out[0].kind == "bad_payload"


def test_a_partial_frame_is_dropped_when_the_line_goes_quiet() -> None:
    decoder = fr.FrameDecoder()
    raw = fr.encode_frame(5, fr.Scan("palm", "abc", "in", ()))
    assert decoder.feed(raw[:7]) == []
    out = decoder.expire()
    assert out[0].kind == "truncated"  # type: ignore[union-attr]
    assert decoder.feed(raw) == [fr.Frame(5, fr.Scan("palm", "abc", "in", ()))]


def test_limits_are_enforced_when_encoding() -> None:
    with pytest.raises(fr.PayloadError):
        fr.encode_frame(1, fr.Scan("card", "x" * 65))
    with pytest.raises(fr.PayloadError):
        fr.encode_frame(1, fr.Scan("card", "x", None, ("i",) * 17))
    with pytest.raises(fr.PayloadError):
        fr.encode_frame(70000, fr.Ack())


def test_long_names_are_cut_at_a_character_boundary() -> None:
    raw = fr.encode_frame(1, fr.Grant(fr.Funding.PAID, 1, 2, "Ә" * 40))
    (frame,) = fr.FrameDecoder().feed(raw)
    assert frame.message.first_name == "Ә" * 24  # type: ignore[union-attr]


def test_the_buffer_never_holds_more_than_one_maximal_frame() -> None:
    decoder = fr.FrameDecoder()
    for _ in range(100):
        decoder.feed(bytes([fr.STX, 0x02, 0x00]) + b"\x02" * 300)
        assert decoder.pending_bytes <= fr.FRAME_BYTES_MAX
