"""Line readers: one ASCII line per scan."""

from __future__ import annotations

from terminals.lines import LINE_BYTES_MAX, LineDecoder, LineScan, parse_line


def test_prefixed_and_bare_lines_name_cards_and_palms() -> None:
    assert parse_line(b"C:0012345678") == LineScan("card", "0012345678")
    assert parse_line(b"p:9f86d081") == LineScan("palm", "9f86d081")
    assert parse_line(b"  0012345678 ") == LineScan("card", "0012345678")


def test_lines_with_bad_characters_are_not_scans() -> None:
    assert parse_line(b"C:12 34") is None
    assert parse_line("C:Ә".encode()) is None
    assert parse_line(b"X:") is None
    assert parse_line(b"C:" + b"1" * 65) is None


def test_cr_lf_and_crlf_all_end_a_line_even_split_across_reads() -> None:
    decoder = LineDecoder()
    out = decoder.feed(b"C:1\r") + decoder.feed(b"\nC:2\nP:a") + decoder.feed(b"b\r\r\n")
    assert out == [LineScan("card", "1"), LineScan("card", "2"), LineScan("palm", "ab")]
    assert not decoder.errors


def test_an_over_long_line_is_dropped_up_to_its_end_and_counted() -> None:
    decoder = LineDecoder()
    out = decoder.feed(b"9" * (LINE_BYTES_MAX + 10)) + decoder.feed(b"9" * 500 + b"\nC:7\n")
    assert [x for x in out if isinstance(x, LineScan)] == [LineScan("card", "7")]
    assert decoder.errors == {"line_too_long": 1}
    assert decoder.pending_bytes == 0


def test_garbage_lines_are_counted_and_a_quiet_partial_line_expires() -> None:
    decoder = LineDecoder()
    decoder.feed(b"\x00\xff\x02garbage!\nC:5")
    assert decoder.errors == {"bad_line": 1}
    assert [e.kind for e in decoder.expire()] == ["truncated"]  # type: ignore[union-attr]
    assert decoder.feed(b"C:6\n") == [LineScan("card", "6")]
