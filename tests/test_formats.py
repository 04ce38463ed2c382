import csv
import io

import pytest

from movinet_cli.text import csv_text, read_cell, read_csv, safe_cell

HOSTILE = ["=cmd|' calc'!A0", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\nx", "'", "''", "'=x", "'q", "a\rb", 'a,"b"', "plain", ""]


@pytest.mark.parametrize("value", HOSTILE)
def test_every_value_reads_back_exactly(value):
    assert read_cell(safe_cell(value)) == value
    (_, records, cut) = read_csv(csv_text([{"v": value}], ["v"], with_header=True))
    assert records == [[value]] and cut == ""


def test_no_written_cell_starts_a_formula():
    text = csv_text([{"v": value} for value in HOSTILE], ["v"], with_header=False)
    cells = [row[0] for row in csv.reader(io.StringIO(text, newline=""))]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))]


def test_cells_written_before_the_escaping_read_as_they_were():
    assert read_cell("'q.mp4") == "'q.mp4" and read_cell("plain.mp4") == "plain.mp4"


def test_a_record_cut_short_is_returned_apart():
    text = csv_text([{"a": "x\ny", "b": "1"}, {"a": "z", "b": "2"}], ["a", "b"], with_header=True)
    header, records, cut = read_csv(text[:-3])
    assert header == ["a", "b"] and records == [["x\ny", "1"]] and cut == "z"
    assert read_csv('a,b\n"open\nquote') == (["a", "b"], [], '"open\nquote')


def test_every_row_carries_its_warnings(tmp_path):
    import numpy as np

    from movinet_cli.outcomes.pipeline import Outcome, Prediction, Result
    from movinet_cli.outputs.rows import Row, columns

    result = Result("cut.avi", [Prediction("red", 1.0)], np.ones(1, np.float32), 1.0, 12, [], "m", "openvino", "clip", 0.1,
                    warnings=["decoded 158 of the 360 frames the file claims:\nit may be truncated", "second"])
    ok = Outcome("cut.avi", result)
    row = Row.of(ok, {}).encode("csv", 1)
    assert "warnings" in columns(1) and row["warnings"] == "decoded 158 of the 360 frames the file claims: it may be truncated | second"
    assert Row.of(ok, {}).encode("jsonl", 1)["warnings"] == result.warnings
    failed = Row.of(Outcome("bad.mp4", None, "no video stream"), {"model": "m"}).encode("jsonl", 1)
    assert failed["warnings"] == [] and Row.of(Outcome("bad.mp4", None, "x"), {}).encode("csv", 1)["warnings"] == ""
