"""The results database (outputs.database, outputs.database_sink): the same rows as the CSV of
the same run, one writer, resume after a kill, and files that are not ours left as they were."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from movinet_cli.cli import cli
from movinet_cli.outputs.claim import ClaimError, RecipeError
from movinet_cli.outputs.database import SCHEMA_VERSION, DatabaseFileError, ForeignDatabaseError, read_rows, read_segments
from movinet_cli.outputs.database_sink import DatabaseSink, check_database_path
from movinet_cli.outputs.sinks import RunContext, drain

LABELS = ["black", "blue", "green", "red"]
INFO = {"model": "fake", "engine": "openvino", "precision": "f32", "mode": "clip"}


def fake_outcome(video, probabilities=(0.1, 0.2, 0.3, 0.4), top_k=2):
    """A made-up video's outcome (no model): two one-second steps, the second reversed;
    failed if ``probabilities`` is None."""
    from movinet_cli.outcomes.result import Outcome, Result, Step, top_predictions

    if probabilities is None:
        return Outcome(video, None, "cannot decode it", 0.25)
    p = np.array(probabilities, np.float32)
    steps = [Step(0.0, 1.0, 10, p), Step(1.0, 2.0, 10, p[::-1].copy())]
    result = Result(video, top_predictions(p, LABELS, top_k), p, 2.0, 20, steps, "fake", "openvino", "clip", 0.5, fps=5.0, size=32, resize="crop")
    return Outcome(video, result, seconds=0.5)


RECIPE = {"--model": "fake", "--fps": 5.0, "--size": 32, "--resize": "crop"}


def fake_run(path, outcomes, top_k=2, order=(), **options):
    sink = DatabaseSink(str(path), **options).open(top_k, RECIPE, order)
    drain(outcomes, [sink], RunContext(LABELS, INFO, top_k))
    return sink


def test_a_run_into_a_database_and_a_csv_gives_the_same_rows_and_timelines(palette_library):
    from movinet_cli.outputs.results_file import read_results, read_timeline

    directory, database, csv, timeline = palette_library
    rows, (from_csv, _) = read_rows(database), read_results(csv)
    assert rows == from_csv
    assert [row.path for row in rows] == ["red.mp4", "broken.mp4", "green.mp4", "redblue.mp4"]
    assert [row.action for row in rows] == ["red", "", "green", "red"]  # redblue: three red windows of four
    assert rows[1].status == "error" and rows[1].error and len(rows[0].predictions) == 3
    segments = read_segments(database)
    assert set(segments) == {"red.mp4", "green.mp4", "redblue.mp4"}
    for video, found in segments.items():
        assert found == read_timeline(timeline, video)  # times, labels and probabilities (the file holds no runners-up)
        assert all(len(segment.predictions) == 3 and segment.predictions[0].label == segment.label for segment in found)
    assert [(s.start_s, s.end_s, s.label) for s in segments["redblue.mp4"]] == [(0.0, 3.0, "red"), (3.0, 4.0, "blue")]
    with sqlite3.connect(database) as connection:  # the file's own size and time, for a library that changes
        [(size, mtime)] = connection.execute("SELECT file_bytes, file_mtime FROM videos WHERE path = 'green.mp4'")
    assert (size, mtime) == (os.path.getsize(directory / "green.mp4"), os.path.getmtime(directory / "green.mp4"))


def test_the_report_reads_a_database_as_its_csv_with_the_timelines_it_holds(palette_library, tmp_path):
    from movinet_cli.outputs.report_records import load_results

    directory, database, csv, _ = palette_library
    records, from_csv = load_results(database), load_results(csv)
    assert [vars(record) | {"segments": None} for record in records] == [vars(record) for record in from_csv]
    assert {record.path: record.segments for record in records if record.segments} == read_segments(database)
    result = CliRunner().invoke(cli, ["report", str(database), "--videos", str(directory), "-o", str(tmp_path / "r.html"), "-q"])
    assert result.exit_code == 0, result.output
    assert "redblue.mp4" in (tmp_path / "r.html").read_text()


def test_a_finished_database_is_one_file_and_the_schema_is_versioned(tmp_path):
    path = tmp_path / "x.db"
    fake_run(path, [fake_outcome("a.mp4")], timelines=True)
    assert os.listdir(tmp_path) == ["x.db"]  # the WAL folded in: a copy of the file is the whole database
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert [row[0] for row in connection.execute("SELECT label FROM labels ORDER BY label")] == sorted(LABELS)
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    message = f"its schema is version {SCHEMA_VERSION + 1} by a newer movinet; this movinet reads version {SCHEMA_VERSION}"
    with pytest.raises(ForeignDatabaseError, match=message):
        read_rows(path)
    with pytest.raises(ForeignDatabaseError, match=message + r"\); it was left untouched"):
        fake_run(path, [], resume=True)
    assert path.read_bytes() == before


def foreign_text(path):
    path.write_text("path,status\nnot a database\n")


def other_programs(path):
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
        connection.execute("INSERT INTO notes VALUES ('mine')")


def damaged(path):
    fake_run(path, [fake_outcome(f"{n}.mp4") for n in range(40)], timelines=True)
    data = bytearray(path.read_bytes())
    data[4096 * 2 : 4096 * 3] = bytes(range(256)) * 16  # a page of the tables, garbage
    path.write_bytes(bytes(data))


def cut_short(path):
    fake_run(path, [fake_outcome(f"{n}.mp4") for n in range(40)], timelines=True)
    path.write_bytes(path.read_bytes()[:8192])


def other_tables(path):
    fake_run(path, [fake_outcome("a.mp4")])
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE videos ADD COLUMN mine TEXT")


@pytest.mark.parametrize(
    "make, where",
    [
        (foreign_text, "it is not a SQLite database"),
        (other_programs, "it is a SQLite database of another program"),
        (damaged, "SQLite finds it damaged"),
        (cut_short, "SQLite finds it damaged"),
        (other_tables, "its table videos has other columns than movinet's"),
    ],
)
def test_a_foreign_or_damaged_database_is_refused_in_one_line_and_left_as_it_was(tmp_path, make, where):
    path = tmp_path / "library.db"
    make(path)
    before = path.read_bytes()
    with pytest.raises(ForeignDatabaseError) as refused:
        fake_run(path, [fake_outcome("new.mp4")], resume=True)
    assert str(refused.value) == f"{path} is not a movinet results database ({refused.value.where}); it was left untouched: choose another --output, or pass --overwrite to replace it"
    assert refused.value.where.startswith(where) and "\n" not in str(refused.value)
    with pytest.raises(DatabaseFileError, match="already exists: pass --resume"):
        fake_run(path, [], resume=False)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["library.db"]
    result = CliRunner().invoke(cli, ["search", str(path), "red"])
    if make is not damaged:  # a reader checks no page it does not read: a search may not meet the damage
        assert result.exit_code == 2 and result.output.count("\n") == 1 and "not a movinet results database" in result.output
    assert path.read_bytes() == before
    fake_run(path, [fake_outcome("new.mp4")], overwrite=True)  # replaced only when asked
    assert [row.path for row in read_rows(path)] == ["new.mp4"]


def test_a_second_writer_is_refused_until_the_first_ends(tmp_path):
    path = str(tmp_path / "library.db")
    first = DatabaseSink(path).open(2)
    with pytest.raises(ClaimError, match="being written by another movinet classify"):
        DatabaseSink(path, resume=True, command="classify").open(2)
    with pytest.raises(ClaimError):
        check_database_path(path, resume=True, overwrite=False)
    first.start(RunContext(LABELS, INFO, 2))
    first.add(fake_outcome("a.mp4"))
    assert [row.path for row in read_rows(path)] == ["a.mp4"]  # readers read while it writes
    first.close(True)
    second = DatabaseSink(path, resume=True).open(2)
    assert second.todo(["a.mp4", "b.mp4"]) == ["b.mp4"]
    second.close()


def test_resume_keeps_ok_rows_retries_failed_ones_and_refuses_another_recipe(tmp_path):
    path = tmp_path / "library.db"
    fake_run(path, [fake_outcome("a.mp4"), fake_outcome("b.mp4", None), fake_outcome("c\udcff.mp4")], timelines=True)
    before = path.read_bytes()
    with pytest.raises(RecipeError, match=r"its rows were made with --top-k 2, this run asks for --top-k 3"):
        fake_run(path, [], top_k=3, resume=True)
    with pytest.raises(RecipeError, match=r"made with --model fake, this run asks for --model other"):
        DatabaseSink(str(path), resume=True).open(2, {"--model": "other"})
    assert path.read_bytes() == before
    order = ["b.mp4", "c\udcff.mp4", "a.mp4"]
    resumed = DatabaseSink(str(path), resume=True, timelines=True).open(2, RECIPE, order)
    assert resumed.todo(order) == ["b.mp4"] and [row.path for row in resumed.kept] == ["a.mp4", "c\udcff.mp4"]
    drain([fake_outcome("b.mp4", (0.7, 0.1, 0.1, 0.1))], [resumed], RunContext(LABELS, INFO, 2))
    rows = read_rows(path)
    assert [(row.path, row.status) for row in rows] == [(video, "ok") for video in order]  # in the run's order, each once
    assert set(read_segments(path)) == set(order)


def test_resume_classifies_again_a_video_whose_file_changed_since_or_is_another_directorys(tmp_path, caplog):
    """A kept row is the answer for the file that was classified: one whose size or
    modification time differs now (edited, replaced, or a same-named file of another
    DIRECTORY) is classified again, and said; an unchanged one is kept."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (folder / name).write_bytes(b"x" * 100)
    path = tmp_path / "library.db"
    fake_run(path, [fake_outcome(name) for name in ("a.mp4", "b.mp4", "c.mp4")], directory=str(folder))
    (folder / "b.mp4").write_bytes(b"y" * 101)  # edited: another size
    os.utime(folder / "c.mp4", (1_000_000_000, 1_000_000_000))  # replaced by a copy of another time
    with caplog.at_level("WARNING", "movinet_cli"):
        resumed = DatabaseSink(str(path), resume=True, directory=str(folder)).open(2, RECIPE)
    assert resumed.todo(["a.mp4", "b.mp4", "c.mp4"]) == ["b.mp4", "c.mp4"]
    assert "2 video(s) changed since they were classified" in caplog.text
    resumed.close()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.mp4").write_bytes(b"z" * 7)
    again = DatabaseSink(str(path), resume=True, directory=str(elsewhere)).open(2, RECIPE)
    assert again.todo(["a.mp4"]) == ["a.mp4"]
    again.close()


WRITER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from test_database import LABELS, INFO, fake_outcome
from movinet_cli.outputs.database_sink import DatabaseSink
from movinet_cli.outputs.sinks import RunContext, drain

commits = 0
def commit(self):  # the 4th video is killed after its rows are written, before they are committed
    global commits
    commits += 1
    if commits == 5:  # the labels, then a video each
        os.kill(os.getpid(), signal.SIGKILL)
    self._connection.execute("COMMIT")

DatabaseSink._commit = commit
sink = DatabaseSink({path!r}, resume={resume}, timelines=True).open(2)
drain((fake_outcome(video) for video in sink.todo(f"{{n}}.mp4" for n in range(8))), [sink], RunContext(LABELS, INFO, 2))
"""


def test_resume_after_a_kill_mid_write_leaves_every_finished_video_once(tmp_path):
    path = str(tmp_path / "library.db")
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(WRITER.format(tests=os.path.dirname(__file__), path=path, resume=False))])
    assert killed.returncode == -signal.SIGKILL
    assert [row.path for row in read_rows(path)] == ["0.mp4", "1.mp4", "2.mp4"]  # the video in flight is lost, no more
    resumed = DatabaseSink(path, resume=True, timelines=True).open(2)
    todo = resumed.todo(f"{n}.mp4" for n in range(8))
    assert todo == [f"{n}.mp4" for n in range(3, 8)]
    drain([fake_outcome(video) for video in todo], [resumed], RunContext(LABELS, INFO, 2))
    assert [row.path for row in read_rows(path)] == [f"{n}.mp4" for n in range(8)]
    assert {video: len(timeline) for video, timeline in read_segments(path).items()} == {f"{n}.mp4": 2 for n in range(8)}
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 16


def test_a_database_is_a_regular_file(tmp_path):
    for path in ("-", "/dev/null"):
        with pytest.raises(DatabaseFileError, match="a results database is a regular file"):
            DatabaseSink(path).open(2)


def cli_run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def test_batch_and_classify_write_a_database_that_search_reads(palette_models, tmp_path):
    from make_sample_videos import write_colour_video

    from movinet_cli.outputs.results_file import read_results

    videos = tmp_path / "videos"
    videos.mkdir()
    write_colour_video(str(videos / "red.mp4"), [((255, 0, 0), 2.0)], 10, (32, 24))
    write_colour_video(str(videos / "redblue.mp4"), [((255, 0, 0), 2.0), ((0, 0, 255), 2.0)], 10, (32, 24))
    (videos / "broken.mp4").write_text("not a video\n")
    model = ["--model", palette_models.stream, "--labels", palette_models.labels, "--mode", "stream", "-k", 3, "-q"]
    database, csv = tmp_path / "library.db", tmp_path / "rows.csv"
    assert cli_run("batch", videos, "-o", database, "--timelines", *model).exit_code == 1  # the broken file
    assert cli_run("batch", videos, "-o", csv, *model).exit_code == 1
    strip = lambda rows: [(row.path, row.status, row.action, row.predictions, row.duration_s, row.frames) for row in rows]  # noqa: E731
    assert strip(read_rows(database)) == strip(read_results(csv)[0])  # the same rows, whichever file
    found = cli_run("search", database, "blue", "-f", "csv")
    assert found.exit_code == 0 and [line.split(",")[0] for line in found.output.splitlines()[1:]] == ["redblue.mp4"]  # blue is in one video, late
    assert cli_run("search", database, "green").exit_code == 1  # a label of the model that no video shows
    resumed = cli_run("batch", videos, "-o", database, "--timelines", "--resume", "--report", tmp_path / "r.html", *model)
    assert resumed.exit_code == 1 and (tmp_path / "r.html").exists()
    assert [row.path for row in read_rows(database)] == ["broken.mp4", "red.mp4", "redblue.mp4"]  # each once
    # classify adds to a database made the same way, and refuses one made otherwise
    other = tmp_path / "other.mp4"
    write_colour_video(str(other), [((0, 0, 255), 2.0)], 10, (32, 24))
    assert cli_run("classify", other, "-o", database, *model).exit_code == 0
    assert [row.path for row in read_rows(database)][-1] == str(other)
    before = database.read_bytes()
    refused = cli_run("classify", other, "-o", database, *model[:-3], "-k", 2)
    assert refused.exit_code == 2 and "made with --top-k 3, this run asks for --top-k 2" in refused.output and database.read_bytes() == before
    assert cli_run("classify", other, "-o", tmp_path / "rows.csv", *model).exit_code == 2  # classify's -o is a database
    assert "--timelines needs a DIR" in cli_run("batch", videos, "-o", tmp_path / "x.csv", "--timelines", *model).output
