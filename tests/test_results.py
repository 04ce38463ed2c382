"""Reading results files back: every foreign or malformed file is one line naming the file,
the row and the column; reading is bounded; lines split on "\\n" only."""

from __future__ import annotations

import json
import os
import threading

import pytest
from click.testing import CliRunner

from movinet_cli.classify import Prediction
from movinet_cli.cli import cli
from movinet_cli.files import ReadError
from movinet_cli.results import MalformedResultsError, read_results

HEADER = "path,status,error,label_1,prob_1,duration_s,frames,model,engine,precision,mode,seconds"


def jsonl(**fields) -> str:
    return json.dumps({"path": "a.mp4", "status": "ok", "error": "", **fields}, ensure_ascii=False) + "\n"


MALFORMED = {
    "no_prob.csv": ("path,status,error,label_1,duration_s\na.mp4,ok,,x,1.0\n", r"header, column 5: 'duration_s' where prob_1 belongs"),
    "label_2.csv": ("path,status,error,label_2,prob_2,duration_s\na.mp4,ok,,x,0.5,1.0\n", r"header, column 4: 'label_2' where label_1 belongs"),
    "prob.csv": (HEADER + "\na.mp4,ok,,x,lots,1.0,12,m,e,f32,clip,0.1\n", r"row 1, column prob_1: 'lots' is not a number"),
    "half.csv": (HEADER + "\na.mp4,ok,,x,,1.0,12,m,e,f32,clip,0.1\n", r"row 1, column prob_1: label_1 and prob_1"),
    "cell.csv": (HEADER + "\na.mp4,ok," + "e" * 200_000 + ",x,0.5,1.0,12,m,e,f32,clip,0.1\n", r"line 2: field larger"),
    "predictions.jsonl": (jsonl(predictions=5), r"row 1, column predictions: not a list"),
    "entry.jsonl": (jsonl(predictions=[{"label": "x", "probability": True}]), r"row 1, column predictions: entry 1"),
    "duration.jsonl": (jsonl(duration_s=1e308), r"row 1, column duration_s: 1e\+308 is not between 0 and 1e\+09"),
    "frames.jsonl": (jsonl(frames=1.5), r"row 1, column frames: not a number"),
    "cell.jsonl": (jsonl(error="e" * 200_000), r"row 1, column error: 200000 characters"),
    "nested.jsonl": ('{"path": "a.mp4", "status": "ok", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n", r"line 1 is nested too deeply"),
    "nested.json": ('{"results": ' + "[" * 100_000 + "]" * 100_000 + "}\n", r"the document is nested too deeply"),
    "results.json": ('{"model": "m", "results": [{"path": "a.mp4", "status": "ok", "model": 3}]}\n', r"row 1, column model: not text"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_file_names_the_file_row_and_column(tmp_path, name):
    content, where = MALFORMED[name]
    (tmp_path / name).write_text(content)
    with pytest.raises(MalformedResultsError, match=where) as raised:
        read_results(tmp_path / name)
    assert str(tmp_path / name) in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("name", ["no_prob.csv", "predictions.jsonl", "duration.jsonl", "nested.jsonl", "cell.csv"])
def test_the_report_command_says_what_is_wrong_in_one_line(tmp_path, name):
    (tmp_path / name).write_text(MALFORMED[name][0])
    result = CliRunner().invoke(cli, ["report", str(tmp_path / name), "-o", str(tmp_path / "r.html")], catch_exceptions=False)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and name in result.stderr, result.stderr
    assert not (tmp_path / "r.html").exists()


def test_a_path_holding_a_line_separator_keeps_its_row(tmp_path):
    text = jsonl(path="a\u2028b.mp4", predictions=[{"label": "x", "probability": 0.5}]) + jsonl(path="c\x85.mp4")
    (tmp_path / "r.jsonl").write_text(text, encoding="utf-8")
    rows, _ = read_results(tmp_path / "r.jsonl")
    assert [row.path for row in rows] == ["a\u2028b.mp4", "c\x85.mp4"]
    assert rows[0].predictions == [Prediction("x", 0.5)]


def test_rows_keep_every_column_the_batch_writes(tmp_path):
    (tmp_path / "r.csv").write_text(HEADER + "\na.mp4,ok,,x,0.5,1.5,12,m,openvino,f32,clip,0.1\nb.mp4,error,broken,,,,,m,openvino,f32,clip,0.2\n")
    rows, _ = read_results(tmp_path / "r.csv")
    assert (rows[0].precision, rows[0].frames, rows[0].duration_s, rows[1].error) == ("f32", 12, 1.5, "broken")


def test_devices_and_fifos_are_refused_at_once(tmp_path):
    with pytest.raises(ReadError, match="not a regular file"):
        read_results("/dev/zero")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    finished = threading.Event()

    def read():
        with pytest.raises(ReadError):
            read_results(fifo)
        finished.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(60)  # without a writer, a blocking open would wait for ever
    assert finished.is_set()
    result = CliRunner().invoke(cli, ["report", "/dev/zero", "-o", str(tmp_path / "r.html")], catch_exceptions=False)
    assert result.exit_code in (1, 2) and result.stderr.count("\n") == 1
