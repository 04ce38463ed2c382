import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import ROOT, expected_label
from make_sample_videos import write_colour_video
from media import truncate, write_audio_only

from movinet_cli.cli import cli
from movinet_cli.commands.batch import find_videos
from movinet_cli.outcomes import pipeline

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
GOOD = {
    "a red.mp4": RED,
    "b.AVI": GREEN,
    "nested/deeper/c.mp4": BLUE,
    "nested/ñandú 1.MOV": RED,
}
BAD = {
    "broken/empty.mp4": "file is empty",
    "broken/notes.mp4": "cannot be decoded",
    "broken/sound.m4v": "cannot be decoded",
    "broken/dangling.mp4": "no such file",
    "broken/cut.avi": None,  # truncated: classified from what decodes, with a warning
}


@pytest.fixture
def video_dir(tmp_path):
    root = tmp_path / "videos"
    for name, colour in GOOD.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_colour_video(str(root / name), [(colour, 1.0)], fps=20, size=(48, 32))
    broken = root / "broken"
    broken.mkdir()
    (broken / "empty.mp4").write_bytes(b"")
    (broken / "notes.mp4").write_text("not a video")
    write_audio_only(broken / "sound.m4v")
    os.symlink(broken / "gone.mp4", broken / "dangling.mp4")
    truncate(write_colour_video(str(broken / "cut.avi"), [(GREEN, 2.0)], fps=20, size=(48, 32)), 0.6)
    (root / "readme.txt").write_text("not a video extension")
    (root / "folder.mp4").mkdir()  # a directory with a video's name
    os.symlink(root, root / "nested" / "loop")  # a symlink loop
    return root


def run(*args, **kwargs):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False, **kwargs)


def read_csv(path):
    return list(csv.DictReader(open(path, newline="", encoding="utf-8")))


def without_timing(rows):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in rows]


def test_find_videos_sorted_relative_case_insensitive_without_loops(video_dir):
    found = find_videos(video_dir)
    assert found == sorted(found, key=lambda p: p.split("/"))
    assert set(found) == set(GOOD) | set(BAD)
    assert find_videos(video_dir, recursive=False) == ["a red.mp4", "b.AVI"]
    assert find_videos(video_dir, ["avi"]) == ["b.AVI", "broken/cut.avi"]


def test_batch_writes_one_row_per_video_with_the_right_status(tiny_models, video_dir, tmp_path):
    out = tmp_path / "results.csv"
    result = run("batch", video_dir, "-o", out, "-m", tiny_models.base, "--size", 16, "-k", 2)
    assert result.exit_code == 1  # some files are bad
    rows = read_csv(out)
    assert [row["path"] for row in rows] == find_videos(video_dir)
    by_path = {row["path"]: row for row in rows}
    for name, colour in GOOD.items():
        assert by_path[name]["status"] == "ok" and by_path[name]["label_1"] == expected_label(colour)
        assert by_path[name]["frames"] == "12" and by_path[name]["engine"] == "openvino"
    for name, message in BAD.items():
        if message:
            assert by_path[name]["status"] == "error" and message in by_path[name]["error"]
            assert by_path[name]["label_1"] == "" and by_path[name]["model"] == tiny_models.base
    assert by_path["broken/cut.avi"]["status"] == "ok"
    assert "5 ok, 4 failed, 0 skipped" in result.stderr
    failed = [name for name, message in BAD.items() if message]
    for name in failed:  # each failure named as it fails, with why
        assert f"Error: {name}: {by_path[name]['error']}" in result.stderr
    assert re.search(r"^failed: .*\(their rows say why\)$", result.stderr, re.M)
    assert re.search(r"^model: [\d.]+ s loading and compiling, once", result.stderr, re.M)


@pytest.mark.slow
def test_an_extension_batch_does_not_write_is_refused_unless_the_format_is_named(tiny_models, video_dir, tmp_path):
    for name in ("res.json", "res.tsv", "res"):
        refused = run("batch", video_dir, "-o", tmp_path / name, "-m", tiny_models.base)
        assert refused.exit_code == 2 and "--format" in refused.stderr and not (tmp_path / name).exists()
    named = run("batch", video_dir, "-o", tmp_path / "rows.json", "--format", "jsonl", "-m", tiny_models.base, "--size", 16, "--no-recursive")
    assert named.exit_code == 0 and (tmp_path / "rows.json").read_text().startswith('{"path": ')


def test_ctrl_c_says_one_line(tiny_models, video_dir, tmp_path, monkeypatch):
    import movinet_cli.commands.batch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(movinet_cli.commands.batch, "run_batch", interrupted)
    result = run("batch", video_dir, "-o", tmp_path / "r.csv", "-m", tiny_models.base, "--size", 16)
    assert result.exit_code == 130
    assert result.stderr.strip().splitlines() == [f"Interrupted: the rows so far are in {tmp_path / 'r.csv'}; rerun with --resume to finish."]


def test_ray_without_an_address_before_the_directory_is_understood_or_explained(video_dir, tmp_path):
    from movinet_cli.cli.batch import _directory

    assert _directory(None, str(video_dir), None) == (str(video_dir), "")  # `--ray DIR -o x.csv`: DIR is the directory
    assert _directory(str(video_dir), "head:6379", None) == (str(video_dir), "head:6379")
    missing = run("batch", "--ray", "head:6379", "-o", tmp_path / "x.csv")
    assert missing.exit_code == 2 and "Missing argument 'DIRECTORY'" in missing.stderr and "--ray=ADDRESS" in missing.stderr
    taken = run("batch", "-o", tmp_path / "x.db", "--timelines", video_dir)  # the directory taken as --timelines' DIR
    assert taken.exit_code == 2 and "--timelines=DIR" in taken.stderr


def test_an_existing_file_is_not_overwritten_by_accident(tiny_models, video_dir, tmp_path):
    out = tmp_path / "results.csv"
    out.write_text("precious\n")
    refused = run("batch", video_dir, "-o", out, "-m", tiny_models.base)
    assert refused.exit_code == 2 and "--resume" in refused.stderr and "--overwrite" in refused.stderr
    assert out.read_text() == "precious\n"
    both = run("batch", video_dir, "-o", out, "--resume", "--overwrite")
    assert both.exit_code == 2
    nothing_to_resume = run("batch", video_dir, "-o", "-", "--resume")
    assert nothing_to_resume.exit_code == 2 and "not stdout" in nothing_to_resume.stderr
    replaced = run("batch", video_dir, "-o", out, "-m", tiny_models.base, "--size", 16, "--overwrite")
    assert replaced.exit_code == 1 and len(read_csv(out)) == len(GOOD) + len(BAD)


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_same_file(tiny_models, video_dir, tmp_path, monkeypatch):
    common = ["-m", tiny_models.base, "--size", 16, "-k", 3]
    whole = tmp_path / "whole.csv"
    run("batch", video_dir, "-o", whole, *common)

    real_run, calls = pipeline.Classifier.run, []

    def interrupted_after_three(self, source, *options):
        calls.append(source.path)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_run(self, source, *options)

    monkeypatch.setattr(pipeline.Classifier, "run", interrupted_after_three)
    out = tmp_path / "results.csv"
    first = run("batch", video_dir, "-o", out, *common)
    assert first.exit_code == 130 and "--resume" in first.stderr
    partial = read_csv(out)
    assert 0 < len(partial) < len(GOOD) + len(BAD)  # complete rows only, a valid CSV
    monkeypatch.setattr(pipeline.Classifier, "run", real_run)
    with open(out, "a") as handle:
        handle.write("nested/half-written.mp4,ok,,lab")  # as if killed mid-row
    resumed = run("batch", video_dir, "-o", out, "--resume", *common)
    assert resumed.exit_code == 1
    assert f"{len([r for r in partial if r['status'] == 'ok'])} skipped" in resumed.stderr
    assert without_timing(read_csv(out)) == without_timing(read_csv(whole))


def test_resume_needs_the_same_columns(tiny_models, video_dir, tmp_path):
    out = tmp_path / "results.csv"
    run("batch", video_dir, "-o", out, "-m", tiny_models.base, "--size", 16, "-k", 2)
    result = run("batch", video_dir, "-o", out, "-m", tiny_models.base, "--size", 16, "-k", 3, "--resume")
    assert result.exit_code == 2 and "other columns" in result.stderr


def test_resume_with_another_model_is_refused_and_the_file_kept(tiny_models, video_dir, tmp_path):
    out = tmp_path / "results.csv"
    run("batch", video_dir, "-o", out, "-m", tiny_models.base, "--size", 16, "-k", 2, "--no-recursive")
    before = out.read_bytes()
    result = run("batch", video_dir, "-o", out, "-m", tiny_models.stream, "--size", 16, "-k", 2, "--resume", "--no-recursive")
    assert result.exit_code == 2 and f"its rows were made with --model {tiny_models.base}, this run asks for --model {tiny_models.stream}" in result.stderr, result.stderr
    assert out.read_bytes() == before
    again = run("batch", video_dir, "-o", out, "-m", tiny_models.base, "--size", 16, "-k", 2, "--resume", "--no-recursive")
    assert again.exit_code == 0 and "2 skipped" in again.stderr, again.stderr


@pytest.mark.slow
def test_stdout_and_json_lines(tiny_models, video_dir):
    result = run("batch", video_dir, "-o", "-", "--format", "jsonl", "-m", tiny_models.stream, "--size", 16, "--ext", "mov,avi")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["path"] for row in rows] == ["b.AVI", "broken/cut.avi", "nested/ñandú 1.MOV"]
    assert rows[0]["predictions"][0]["label"] == expected_label(GREEN) and rows[0]["mode"] == "stream"
    assert "3 ok, 0 failed" in result.stderr


def test_csv_on_stdout(tiny_models, video_dir):
    result = run("batch", video_dir, "-o", "-", "-m", tiny_models.base, "--size", 16, "--no-recursive", "-q")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["label_1"] for row in rows] == [expected_label(RED), expected_label(GREEN)]
    assert result.stderr == ""


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["0", "3"])
def test_prefetching_does_not_change_the_rows(tiny_models, video_dir, tmp_path, workers):
    reference, out = tmp_path / "one.csv", tmp_path / f"w{workers}.csv"
    run("batch", video_dir, "-o", reference, "-m", tiny_models.base, "--size", 16, "--workers", 1)
    run("batch", video_dir, "-o", out, "-m", tiny_models.base, "--size", 16, "--workers", workers)
    assert without_timing(read_csv(out)) == without_timing(read_csv(reference))


def test_no_videos_is_an_error(tmp_path):
    result = run("batch", tmp_path, "-o", tmp_path / "r.csv")
    assert result.exit_code == 1 and "no videos in" in result.stderr
    assert not (tmp_path / "r.csv").exists()


# --- hostile and unlucky input ----------------------------------------------------------------

HOSTILE_NAMES = [
    "=cmd|' calc'!A0.mp4",
    "+1.mp4",
    "-2.mp4",
    "@SUM(1).mp4",
    "\tleading tab.mp4",
    "\rcarriage.mp4",
    "mid\rreturn.mp4",
    "new\nline.mp4",
    "'quoted.mp4",
    'comma, "quote".mp4',
]


@pytest.fixture
def hostile_dir(tmp_path):
    root = tmp_path / "hostile"
    root.mkdir()
    for name in HOSTILE_NAMES:
        write_colour_video(str(root / name), [(RED, 1.0)], fps=20, size=(48, 32))
    os.rename(write_colour_video(str(root / "plain.mp4"), [(RED, 1.0)], fps=20, size=(48, 32)), os.path.join(os.fsencode(root), b"bad\xffutf8.mp4"))
    return root


def parsed(path, format="csv"):
    from movinet_cli.outputs.results_sink import parse_rows

    return parse_rows(open(path, encoding="utf-8", errors="surrogateescape", newline="").read(), str(path), format)[1]


@pytest.mark.parametrize("extension", ["csv", "jsonl"])
def test_hostile_names_are_written_safely_and_resume_without_duplicates(tiny_models, hostile_dir, tmp_path, extension):
    out = tmp_path / f"results.{extension}"
    first = run("batch", hostile_dir, "-o", out, "-m", tiny_models.base, "--size", 16)
    assert first.exit_code == 0, first.stderr
    expected = find_videos(hostile_dir)
    assert len(expected) == len(HOSTILE_NAMES) + 1
    assert [row["path"] for row in parsed(out, extension)] == expected  # every name reads back exactly
    if extension == "csv":
        cells = [cell for record in csv.reader(open(out, newline="", encoding="utf-8", errors="surrogateescape")) for cell in record]
        assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]  # no formula runs
    before = open(out, "rb").read()
    again = run("batch", hostile_dir, "-o", out, "-m", tiny_models.base, "--size", 16, "--resume")
    assert again.exit_code == 0 and f"0 ok, 0 failed, {len(expected)} skipped" in again.stderr
    assert open(out, "rb").read() == before


@pytest.mark.slow
def test_a_decoder_crash_costs_one_error_row(tiny_models, tmp_path, monkeypatch):
    import ctypes
    import faulthandler
    import multiprocessing

    from movinet_cli.inputs import children, video

    real_frames = video.VideoReader.rgb_frames

    def frames(self):
        if "crafted" in self.path:
            faulthandler.disable()  # pytest's would print the crash's stack
            ctypes.string_at(0)  # a native crash: SIGSEGV in the decoding process
        return real_frames(self)

    # Forked children see this test's stand-in decoder (the product forks from a clean server).
    monkeypatch.setattr(children, "decoding_context", lambda: multiprocessing.get_context("fork"))
    monkeypatch.setattr(video.VideoReader, "rgb_frames", frames)
    root = tmp_path / "videos"
    root.mkdir()
    for name in ("a.mp4", "crafted.mp4", "z.mp4"):
        write_colour_video(str(root / name), [(RED, 1.0)], fps=20, size=(48, 32))
    out = tmp_path / "results.csv"
    result = run("batch", root, "-o", out, "-m", tiny_models.base, "--size", 16)
    assert result.exit_code == 1 and "2 ok, 1 failed" in result.stderr
    rows = read_csv(out)
    assert [(row["path"], row["status"]) for row in rows] == [("a.mp4", "ok"), ("crafted.mp4", "error"), ("z.mp4", "ok")]
    assert "the decoder crashed on this file (killed by SIGSEGV)" in rows[1]["error"]


def test_a_second_run_on_the_same_results_file_is_refused(tiny_models, video_dir, tmp_path):
    from movinet_cli.outputs.results_sink import ResultsSink

    out = tmp_path / "results.csv"
    holder = ResultsSink(str(out), "csv").open(2)  # a run in progress holds the file
    try:
        result = run("batch", video_dir, "-o", out, "-m", tmp_path / "no-model", "--resume")  # refused before loading
        assert result.exit_code == 2
        assert f"Error: {out} is being written by another movinet batch" in result.stderr
    finally:
        holder.close(False)
    assert open(out).read().startswith("path,status,error,label_1")  # the holder's header, untouched
    assert run("batch", video_dir, "-o", out, "-m", tiny_models.base, "--size", 16, "-k", 2, "--resume").exit_code == 1  # free again


@pytest.mark.slow
def test_two_batches_at_once_do_not_lose_rows(tiny_models, video_dir, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "results.csv"
    command = [sys.executable, "-m", "movinet_cli", "batch", str(video_dir), "-o", str(out), "-m", tiny_models.base, "--size", "16", "-q"]
    runs = [subprocess.Popen(command + ["--resume"], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [process.communicate(timeout=300)[1] for process in runs]
    refused = [(process.returncode, error) for process, error in zip(runs, errors) if "being written by another movinet batch" in error]
    assert len(refused) <= 1  # the loser is told, never silently merged
    assert all(code == 2 for code, _ in refused)  # a usage error, found early or late
    assert [row["path"] for row in read_csv(out)] == find_videos(video_dir)


@pytest.mark.parametrize(
    "name, content",
    [
        ("notes.jsonl", "shopping list\nmilk\n"),
        ("notes.jsonl", '{"path": "a.mp4", "note": "not a result"}\n'),
        ("notes.csv", "name,phone\nada,123\n"),
        ("results.csv", "path,status,error,label_1,prob_1,duration_s,frames,model,engine,mode,seconds\nx.mp4,maybe,,,,,,,,,\n"),
        ("one.csv", "hello,world"),  # no line break: not a row cut short
        ("config.jsonl", '{"some": "config"}'),
        ("quote.csv", 'path,"abc\n'),
        ("huge.csv", "x" * 200_000 + "\n"),  # over the csv module's field limit
        ("results.jsonl", '{"path": "a.mp4", "status": "ok"}\nnot json\n'),
    ],
)
def test_resume_refuses_a_file_that_is_not_ours_and_leaves_it(tiny_models, video_dir, tmp_path, name, content):
    out = tmp_path / name
    out.write_text(content)
    result = run("batch", video_dir, "-o", out, "-m", tiny_models.base, "--resume")
    assert result.exit_code == 2 and "is not a movinet batch results file" in result.stderr
    assert out.read_text() == content


def test_results_go_through_a_symlink_and_into_devices(tiny_models, video_dir, tmp_path):
    real, link = tmp_path / "real.csv", tmp_path / "link.csv"
    link.symlink_to(real)
    assert run("batch", video_dir, "-o", link, "-m", tiny_models.base, "--size", 16, "--no-recursive").exit_code == 0
    assert link.is_symlink() and len(read_csv(real)) == 2
    assert run("batch", video_dir, "-o", "/dev/null", "-m", tiny_models.base, "--size", 16, "--no-recursive").exit_code == 0
    full = run("batch", video_dir, "-o", "/dev/full", "-m", tiny_models.base, "--size", 16, "--no-recursive")
    assert full.exit_code == 1 and "cannot write /dev/full: No space left on device" in full.stderr
    resume_device = run("batch", video_dir, "-o", "/dev/null", "--resume")
    assert resume_device.exit_code == 2 and "not a regular file" in resume_device.stderr


def test_workers_beyond_the_cpus_are_capped_with_a_note(tiny_models, video_dir, tmp_path):
    result = run("batch", video_dir, "-o", tmp_path / "r.csv", "-m", tiny_models.base, "--size", 16, "--workers", 1000, "--no-recursive")
    assert result.exit_code == 0 and f"--workers 1000 capped at {max(2, os.cpu_count())}" in result.stderr


def descendants(pid):
    """Pids of every process below ``pid`` (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    stack, found = [pid], []
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline").read()
    except OSError:
        return f"{pid} (ended)"


@pytest.mark.slow
@pytest.mark.timeout(120)  # a process left behind fails here, printing what still runs
def test_a_killed_batch_leaves_no_process_behind(tiny_models, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    root = tmp_path / "long"
    root.mkdir()
    for index in range(3):
        write_colour_video(str(root / f"{index}.mp4"), [(RED, 30.0)], fps=30, size=(320, 240))
    command = [sys.executable, "-m", "movinet_cli", "batch", str(root), "-o", str(tmp_path / "r.csv"), "-m", tiny_models.base, "--fps", "60", "--size", "320", "-q"]
    process = subprocess.Popen(command)
    # Polled for each condition, however long the machine takes: the test's timeout bounds the waits.
    while len(below := descendants(process.pid)) < 3 and process.poll() is None:  # tracker, server, decoders
        time.sleep(0.2)
    assert process.poll() is None, "the batch ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    shown = None
    while alive := [pid for pid in below if os.path.exists(f"/proc/{pid}")]:
        if alive != shown:  # what a timeout's failure shows
            print("still running:", [cmdline(pid) for pid in alive])
            shown = alive
        time.sleep(0.2)


@pytest.mark.slow
def test_a_results_file_that_fills_up_is_one_line_and_resumes(tiny_models, video_dir, tmp_path):
    import resource
    import subprocess
    import sys

    out = tmp_path / "results.csv"
    command = [sys.executable, "-m", "movinet_cli", "batch", str(video_dir), "-o", str(out), "-m", tiny_models.base, "--size", "16", "-q"]
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (700, 700))  # noqa: E731  (bytes: the header and a row or two)
    full = subprocess.run(command, preexec_fn=limit, capture_output=True, text=True)
    assert full.returncode == 1 and full.stderr.strip() == f"Error: cannot write {out}: File too large"
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True)
    assert resumed.returncode == 1, resumed.stderr  # the bad videos
    assert [row["path"] for row in read_csv(out)] == find_videos(video_dir)


@pytest.mark.slow
def test_results_into_a_redirected_stdout_keep_what_the_file_had(tiny_models, video_dir, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "log.csv"
    out.write_text("kept\n")
    with open(out, "a") as stdout:
        command = [sys.executable, "-m", "movinet_cli", "batch", str(video_dir), "-o", "/dev/stdout", "-m", tiny_models.base, "--size", "16", "-q", "--no-recursive"]
        assert subprocess.run(command, stdout=stdout).returncode == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "kept" and lines[1].startswith("path,status") and len(lines) == 4


def test_rows_say_which_precision_ran_and_a_file_of_other_columns_is_refused_untouched(tiny_models, video_dir, tmp_path):
    from movinet_cli.outputs.rows import columns
    from movinet_cli.text import csv_text

    expected = "f32"  # auto's choice on a CPU without native bf16, as conftest has every test take this one
    out = tmp_path / "results.jsonl"
    run("batch", video_dir, "-o", out, "-m", tiny_models.base, "--size", 16, "--no-recursive")
    assert {json.loads(line)["precision"] for line in open(out)} == {expected}
    # A file without the precision column (as movinet wrote before it had one) is not resumed.
    old = tmp_path / "old.csv"
    header = [column for column in columns(2) if column not in ("precision", "action", "warnings")]
    row = dict.fromkeys(header, "") | {"path": "a red.mp4", "status": "ok", "label_1": "kept", "prob_1": "1.0"}
    old.write_text(csv_text([row], header, with_header=True))
    before = old.read_bytes()
    resumed = run("batch", video_dir, "-o", old, "-m", tiny_models.base, "--size", 16, "-k", 2, "--resume", "--no-recursive")
    assert resumed.exit_code == 2 and "written by an earlier movinet, without the precision, action, warnings column(s)" in resumed.stderr, resumed.stderr
    assert old.read_bytes() == before


@pytest.mark.slow
def test_classify_and_batch_write_one_row_shape_for_ok_and_failed_videos(tiny_models, video_dir, tmp_path, monkeypatch):
    """One loop and one row writer: the rows of `classify -f csv/json` are batch's rows."""
    import io
    import json

    monkeypatch.chdir(video_dir)
    common = ["-m", tiny_models.base, "--size", 16, "-k", 2]
    paths = find_videos(".")
    for format, batch_format in (("csv", "csv"), ("json", "jsonl")):
        out = tmp_path / f"rows.{batch_format}"
        run("batch", ".", "-o", out, *common)
        classified = run("classify", *common, "-f", format, *paths)
        assert classified.exit_code == 1  # the bad videos
        if format == "csv":
            ours, theirs = read_csv(out), list(csv.DictReader(io.StringIO(classified.stdout)))
        else:
            ours = [json.loads(line) for line in out.read_text().splitlines()]
            theirs = json.loads(classified.stdout)["results"]
        assert {row["status"] for row in ours} == {"ok", "error"}
        assert without_timing(theirs) == without_timing(ours)


def _batch_process(tiny_models, video_dir, output, **options):
    command = [sys.executable, "-m", "movinet_cli", "batch", str(video_dir), "-o", output, "-m", tiny_models.base, "-q", "--size", "16", "--workers", "2"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, **options)


@pytest.mark.slow
def test_a_reader_of_stdout_that_goes_away_ends_the_batch_quietly(tiny_models, video_dir):
    process = _batch_process(tiny_models, video_dir, "-")
    process.stdout.readline()  # the header, then as `head -1` does
    process.stdout.close()
    stderr = process.communicate(timeout=300)[1].decode()
    assert process.returncode == 0 and stderr == "", stderr  # as `head` expects of a Unix tool


@pytest.mark.slow
def test_a_fifo_whose_reader_stops_ends_the_batch_quietly(tiny_models, video_dir, tmp_path):
    fifo = tmp_path / "rows"
    os.mkfifo(fifo)
    process = _batch_process(tiny_models, video_dir, str(fifo))
    with open(fifo, "rb") as reader:  # waits for the batch to open it
        reader.read(300)  # the header and a row or so, then the reader goes away
    stderr = process.communicate(timeout=300)[1].decode()
    assert process.returncode == 0 and stderr == "", stderr  # the reader went away: nothing left to say


@pytest.mark.parametrize(
    "damage",
    ["lines ending in CR only", "json rows of another top-k", "json predictions that are not a list", "a csv probability that is no number"],
)
def test_a_results_file_that_movinet_would_not_write_is_refused_on_resume_untouched(tiny_models, video_dir, tmp_path, damage):
    """Each was resumed (exit 0): its rows kept as they were, or, with CR-only lines, all dropped."""
    format = "csv" if "csv" in damage or "CR" in damage else "jsonl"
    out = tmp_path / f"results.{format}"
    model = ["-m", tiny_models.base, "--size", 16, "-k", 2, "--no-recursive"]
    assert run("batch", video_dir, "-o", out, *model).exit_code == 0
    text = out.read_text()
    if damage == "lines ending in CR only":
        text = text.replace("\n", "\r")
    elif damage == "json rows of another top-k":
        rows = [json.loads(line) for line in text.splitlines()]
        text = "".join(json.dumps({**row, "predictions": row["predictions"][:1]}) + "\n" for row in rows)
    elif damage == "json predictions that are not a list":
        rows = [json.loads(line) for line in text.splitlines()]
        text = "".join(json.dumps({**row, "predictions": "lol"}) + "\n" for row in rows)
    else:
        header, first, *rest = text.split("\n")
        cells = first.split(",")
        cells[header.split(",").index("prob_1")] = "abc"
        text = "\n".join([header, ",".join(cells), *rest])
    out.write_text(text)
    before = out.read_bytes()
    resumed = run("batch", video_dir, "-o", out, *model, "--resume")
    assert resumed.exit_code == 2 and resumed.stderr.count("\n") == 1, resumed.stderr
    assert out.read_bytes() == before


@pytest.mark.parametrize("other", [("--fps", "3"), ("--size", "24"), ("--resize", "pad")])
def test_a_resume_read_otherwise_is_refused_naming_the_option(tiny_models, video_dir, tmp_path, other):
    """Rows read at another frame rate, size or resize mode were kept beside this run's: one file, two kinds of answers."""
    out = tmp_path / "results.csv"
    reading = {"--fps": "5", "--size": "16"}

    def batch(reading, *more):
        options = [word for option, value in reading.items() for word in (option, value)]
        return run("batch", video_dir, "-o", out, "-m", tiny_models.base, "-k", 2, "--no-recursive", *options, *more)

    first = batch(reading)
    assert first.exit_code == 0, first.stderr
    (video_dir / "later.mp4").write_bytes((video_dir / "a red.mp4").read_bytes())  # one video left to do
    before = out.read_bytes()
    resumed = batch({**reading, other[0]: other[1]}, "--resume")
    assert resumed.exit_code == 2 and f"this run asks for {other[0]} {other[1]};" in resumed.stderr, resumed.stderr
    assert out.read_bytes() == before
    same = batch(reading, "--resume")
    assert same.exit_code == 0 and "1 ok, 0 failed" in same.stderr, same.stderr
