"""Reading results files back: every foreign or malformed file is one line naming the file,
the row and the column; reading is bounded; lines split on "\\n" only."""

from __future__ import annotations

import json
import os
import threading

import pytest
from click.testing import CliRunner

from movinet_cli.cli import cli
from movinet_cli.files import ReadError
from movinet_cli.options import NO_CLEAR_ACTION
from movinet_cli.outcomes.pipeline import Prediction
from movinet_cli.outcomes.timeline import Segment, write_timeline
from movinet_cli.outputs.results_file import read_results, read_timeline
from movinet_cli.outputs.rows import MalformedResultsError

HEADER = "path,status,error,label_1,prob_1,duration_s,frames,model,engine,precision,mode,seconds,action,warnings,fps,size,resize"


def jsonl(**fields) -> str:
    return json.dumps({"path": "a.mp4", "status": "ok", "error": "", **fields}, ensure_ascii=False) + "\n"


MALFORMED = {
    "no_prob.csv": ("path,status,error,label_1,duration_s\na.mp4,ok,,x,1.0\n", r"header, column 5: 'duration_s' where prob_1 belongs"),
    "label_2.csv": ("path,status,error,label_2,prob_2,duration_s\na.mp4,ok,,x,0.5,1.0\n", r"header, column 4: 'label_2' where label_1 belongs"),
    "prob.csv": (HEADER + "\na.mp4,ok,,x,lots,1.0,12,m,e,f32,clip,0.1,,,,,\n", r"row 1, column prob_1: 'lots' is not a number"),
    "half.csv": (HEADER + "\na.mp4,ok,,x,,1.0,12,m,e,f32,clip,0.1,,,,,\n", r"row 1, column prob_1: label_1 and prob_1"),
    "cell.csv": (HEADER + "\na.mp4,ok," + "e" * 200_000 + ",x,0.5,1.0,12,m,e,f32,clip,0.1,,,,,\n", r"line 2: field larger"),
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
    (tmp_path / "r.csv").write_text(HEADER + "\na.mp4,ok,,x,0.5,1.5,12,m,openvino,f32,clip,0.1,x,,5,172,crop\nb.mp4,error,broken,,,,,m,openvino,f32,clip,0.2,,,,,\n")
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


# --- timelines read back ---------------------------------------------------------------------

HOSTILE = "<b>x</b> & --> y, z 5%"  # markup, an arrow, a comma and a percent inside one label
TIMELINE = [
    Segment(0.0, 2.5, "red", 0.91, [Prediction("red", 0.91), Prediction(HOSTILE, 0.0823), Prediction("blue", 0.004), Prediction("green", 0.0001)]),
    Segment(2.5, 3.04, HOSTILE, 0.6, [Prediction(HOSTILE, 0.6), Prediction("red", 0.4)]),
    Segment(3.04, 4.0, NO_CLEAR_ACTION, 0.3, [Prediction("blue", 0.3)]),
]


@pytest.mark.parametrize("format", ["csv", "json", "jsonl", "srt", "vtt"])
def test_a_timeline_reads_back_as_written(tmp_path, format):
    path = tmp_path / f"a.{format}"
    write_timeline(path, {"sub/a.mp4": TIMELINE})
    read = read_timeline(path, "sub/a.mp4")
    assert [(s.start_s, s.end_s) for s in read] == [(s.start_s, s.end_s) for s in TIMELINE]
    if format in ("srt", "vtt"):  # the top-k, to the precision a cue shows
        # SubRip has no escapes: its cues carry look-alikes of angle brackets (timeline._cue_text)
        shown = HOSTILE if format == "vtt" else HOSTILE.replace("<", "\u2039").replace(">", "\u203a")
        assert [[p.label for p in s.predictions] for s in read] == [["red", shown, "blue", "green"], [shown, "red"], [NO_CLEAR_ACTION, "blue"]]  # the labels weighed
        assert [[p.probability for p in s.predictions] for s in read][:2] == [[0.91, 0.08, 0.004, 0.0], [0.6, 0.4]]
        assert read[2].label == NO_CLEAR_ACTION and read[2].probability == 0.3
    else:
        assert [(s.label, s.probability, s.predictions) for s in read] == [(s.label, s.probability, [Prediction(s.label, s.probability)]) for s in TIMELINE]


def test_a_timeline_of_several_videos_gives_the_one_asked_for(tmp_path):
    write_timeline(tmp_path / "all.csv", {"a.mp4": TIMELINE[:1], "b.mp4": TIMELINE[1:]})
    assert [s.label for s in read_timeline(tmp_path / "all.csv", "b.mp4")] == [HOSTILE, NO_CLEAR_ACTION]
    with pytest.raises(MalformedResultsError, match=r"all.csv is not a movinet timeline in csv format \(no segment of c.mp4\)"):
        read_timeline(tmp_path / "all.csv", "c.mp4")


BAD_TIMELINES = {
    "header.csv": ("path,start,end\n", r"its header is not path,start_s,end_s,label,probability"),
    "number.csv": ("path,start_s,end_s,label,probability\na.mp4,0,1,red,lots\n", r"row 1, column probability: not a number between 0 and 1"),
    "order.jsonl": ('{"path": "a.mp4", "start_s": 2, "end_s": 1, "label": "red", "probability": 0.5}\n', r"row 1: ends before it starts"),
    "nan.json": ('[{"path": "a.mp4", "start_s": NaN, "end_s": 1, "label": "red", "probability": 0.5}]', r"row 1, column start_s"),
    "text.json": ("hello", r"the document is not JSON"),
    "cue.vtt": ("WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.000\nred lots\n", r"cue 1: 'red lots' is not a label and its probability"),
    "times.srt": ("1\n0:0:0 --> 1\nred 50%\n", r"cue 1 is not a number, times and a label"),
    "a.txt": ("hello", r"must end in"),
}


@pytest.mark.parametrize("name", sorted(BAD_TIMELINES))
def test_a_malformed_timeline_is_one_line_naming_the_file(tmp_path, name):
    text, message = BAD_TIMELINES[name]
    (tmp_path / name).write_text(text)
    with pytest.raises(MalformedResultsError, match=message) as raised:
        read_timeline(tmp_path / name, "a.mp4")
    assert str(tmp_path / name) in str(raised.value) and "\n" not in str(raised.value)


def test_a_timeline_is_read_bounded(tmp_path):
    os.mkfifo(tmp_path / "t.csv")
    with pytest.raises(ReadError):
        read_timeline(tmp_path / "t.csv", "a.mp4")  # at once: never blocks on the FIFO
