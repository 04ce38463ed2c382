"""One row per video: what Row.encode writes, decode reads back as the same Row."""

import numpy as np
import pytest

from movinet_cli.outcomes.result import Outcome, Prediction, Result
from movinet_cli.outputs.rows import MalformedResultsError, Row, columns, decode

INFO = {"model": "a0-base", "engine": "openvino", "precision": "f32", "mode": "clip"}


def ok_outcome() -> Outcome:
    result = Result("a, \"b\".mp4", [Prediction("=red", 0.75), Prediction("blue", 0.25)], np.ones(2, np.float32), 2.0, 24, [],
                    "a0-base", "openvino", "clip", 0.125, warnings=["decoded 20 of 24 frames"], precision="f32", fps=5.0, size=172, resize="crop")
    return Outcome("a, \"b\".mp4", result, "", 0.2)


@pytest.mark.parametrize("format", ["csv", "jsonl"])
@pytest.mark.parametrize("kind", ["ok", "failed"])
def test_a_row_reads_back_as_it_was_written(format, kind):
    outcome = ok_outcome() if kind == "ok" else Outcome("bad.mp4", None, "no video stream", 0.3)
    row = Row.of(outcome, INFO)
    written = row.encode(format, 2)
    if format == "csv":
        assert list(written) == columns(2) and all(isinstance(cell, (str, int)) for cell in written.values())
        written = {key: str(value) for key, value in written.items()}  # as a CSV file gives it back
    read = decode(written, "r." + format, format, 1)
    assert read == row


def test_a_failed_row_says_what_ran_and_how_long_it_took():
    row = Row.of(Outcome("bad.mp4", None, "no video stream", 0.3), INFO)
    assert (row.status, row.error, row.model, row.precision, row.seconds, row.predictions) == ("error", "no video stream", "a0-base", "f32", 0.3, [])
    assert "action" not in row.encode("jsonl", 5) and row.encode("csv", 5)["label_1"] == ""


def test_a_value_that_we_do_not_write_is_refused_naming_the_row_and_column():
    written = {key: str(value) for key, value in Row.of(ok_outcome(), INFO).encode("csv", 2).items()}
    with pytest.raises(MalformedResultsError, match="row 7, column frames: 'many' is not a number"):
        decode({**written, "frames": "many"}, "r.csv", "csv", 7)
