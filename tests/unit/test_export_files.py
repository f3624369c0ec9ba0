"""Byte-for-byte reproducible files, CSV variants, file names, content types, labels."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from openpyxl import load_workbook

from exports._xlsx import GENERATOR
from exports import CONTENT_TYPES, UnsupportedExport, filename, write_report
from exports.labels import KK, RU, label
from exports.samples import (sample_attendance, sample_free_meals, sample_register,
                             sample_savings, sample_statement)

SAMPLES: dict[str, Any] = {
    "statement": sample_statement(), "register": sample_register(pupils=60),
    "free-meals": sample_free_meals(), "attendance": sample_attendance(pupils=20),
    "regional-savings": sample_savings(schools=10, months=3),
}


def sha256(data: Any, **kw: Any) -> str:
    buf = io.BytesIO()
    write_report(data, buf, **kw)
    return hashlib.sha256(buf.getvalue()).hexdigest()


@pytest.mark.parametrize("kind", SAMPLES)
def test_the_same_data_gives_a_byte_identical_xlsx(kind: str) -> None:
    assert sha256(SAMPLES[kind]) == sha256(SAMPLES[kind])


@pytest.mark.parametrize("kind", SAMPLES)
def test_a_decoded_copy_of_the_data_gives_the_same_bytes(kind: str) -> None:
    data = SAMPLES[kind]
    copy = msgspec.json.decode(msgspec.json.encode(data), type=type(data))
    assert sha256(copy) == sha256(data)


def test_writing_to_a_path_or_a_stream_gives_the_same_bytes(tmp_path: Path) -> None:
    data = SAMPLES["statement"]
    write_report(data, tmp_path / "a.xlsx")
    buf = io.BytesIO(b"preamble")
    buf.seek(0, io.SEEK_END)
    write_report(data, buf)
    assert (tmp_path / "a.xlsx").read_bytes() == buf.getvalue()[len(b"preamble"):]


def test_generated_at_is_stamped_into_the_workbook_properties_and_changes_the_hash() -> None:
    data = SAMPLES["statement"]
    later = msgspec.structs.replace(data, generated_at=data.generated_at + timedelta(hours=1))
    assert sha256(later) != sha256(data)
    buf = io.BytesIO()
    write_report(data, buf)
    props = load_workbook(io.BytesIO(buf.getvalue())).properties
    want = data.generated_at.replace(tzinfo=None)
    assert props.created == want and props.modified == want
    assert props.description == GENERATOR  # the library versions the bytes depend on


def test_language_changes_the_file() -> None:
    assert sha256(SAMPLES["statement"], lang="ru") != sha256(SAMPLES["statement"])


def read_csv(data: Any, lang: str = "kk") -> tuple[bytes, list[list[str]]]:
    buf = io.BytesIO()
    write_report(data, buf, fmt="csv", lang=lang)  # type: ignore[arg-type]
    raw = buf.getvalue()
    return raw, list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_statement_csv_has_a_bom_localised_headers_and_totals_from_the_data() -> None:
    data = SAMPLES["statement"]
    raw, rows = read_csv(data)
    assert raw.startswith(b"\xef\xbb\xbf")
    assert rows[0][1:3] == [label("date", "kk"), label("band", "kk")]
    assert read_csv(data, "ru")[1][0][1] == "Дата"
    amounts = [int(r[6]) for r in rows[1:1 + len(data.rows)]]
    assert sum(amounts) == data.total_kzt
    summary = {r[0]: int(r[6]) for r in rows[1:] if r[0]}
    assert summary[label("statement.outstanding", "kk")] == data.outstanding_kzt


def test_register_csv_has_a_row_per_pupil_and_counts_per_mark() -> None:
    data = SAMPLES["register"]
    _, rows = read_csv(data)
    pupils = [p for c in data.classes for p in c.pupils]
    assert len(rows) == 1 + len(pupils)
    for row, pupil in zip(rows[1:], pupils, strict=True):
        assert row[3] == pupil.child_id
        assert int(row[-5]) == list(pupil.marks.values()).count("funded")


@pytest.mark.parametrize("kind", ["free-meals", "attendance", "regional-savings"])
def test_other_csv_variants_are_readable_and_have_one_row_per_item(kind: str) -> None:
    data = SAMPLES[kind]
    _, rows = read_csv(data)
    items = {"free-meals": lambda: data.rows, "attendance": lambda: data.entries,
             "regional-savings": lambda: data.schools}[kind]()
    totals = 0 if kind == "attendance" else 1
    assert len(rows) == 1 + len(items) + totals


def test_savings_csv_total_percent_is_computed_in_integers() -> None:
    data = SAMPLES["regional-savings"]
    _, rows = read_csv(data)
    planned = sum(s.planned_kzt for s in data.schools)
    saving = sum(s.saving_kzt for s in data.schools)
    assert abs(float(rows[-1][-1]) - 100 * saving / planned) <= 0.05


def test_file_names_are_ascii_and_name_kind_subject_period_and_language() -> None:
    assert filename(SAMPLES["statement"]) == "tamaq-statement-SCH-042-2025-09-kk.xlsx"
    assert filename(SAMPLES["regional-savings"], fmt="csv", lang="ru") == \
        "tamaq-regional-savings-REG-19-2025-01_2025-03-ru.csv"
    odd = msgspec.structs.replace(SAMPLES["register"], school=msgspec.structs.replace(
        SAMPLES["register"].school, id="шк/42 ../x"))
    assert filename(odd).isascii() and "/" not in filename(odd)
    assert CONTENT_TYPES["xlsx"].endswith("spreadsheetml.sheet")
    assert CONTENT_TYPES["csv"].startswith("text/csv")


def test_unknown_format_language_or_data_type_is_refused_with_a_clear_error() -> None:
    with pytest.raises(UnsupportedExport, match="'pdf'"):
        write_report(SAMPLES["statement"], io.BytesIO(), fmt="pdf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'en'"):
        write_report(SAMPLES["statement"], io.BytesIO(), lang="en")  # type: ignore[arg-type]
    with pytest.raises(UnsupportedExport, match="dict"):
        write_report({}, io.BytesIO())  # type: ignore[arg-type]


def test_kazakh_and_russian_label_tables_have_the_same_keys_and_placeholders() -> None:
    assert KK.keys() == RU.keys()
    for key in KK:
        assert ("{" in KK[key]) == ("{" in RU[key]), key
        assert KK[key].strip() and RU[key].strip()
    assert KK["code.funded"] != KK["code.paid"]
    assert len(set(RU[f"code.{m}"] for m in ("funded", "paid", "refused", "absent",
                                                "unfunded"))) == 5


def test_text_that_looks_like_a_formula_stays_text_in_xlsx_and_csv() -> None:
    from exports.model import ClassSheet, MealRegister, PupilRow
    base = SAMPLES["register"]
    evil = '=HYPERLINK("http://x","y")'
    pupil = PupilRow("=1+1", evil + "\x0b", {base.school_days[0]: "funded"})
    data = MealRegister(base.school, base.month, base.school_days,
                        (ClassSheet("1А", (pupil,)),), base.generated_at)
    buf = io.BytesIO()
    write_report(data, buf)
    ws = load_workbook(io.BytesIO(buf.getvalue()))["1А"]
    name, child_id = ws["B6"], ws["C6"]
    assert (name.value, name.data_type) == (evil, "s")  # the illegal \x0b is dropped
    assert (child_id.value, child_id.data_type) == ("=1+1", "s")
    _, rows = read_csv(data)
    assert rows[1][2] == "'" + evil + "\x0b" and rows[1][3] == "'=1+1"
