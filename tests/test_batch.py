import csv
import io
import json
import os

import pytest
from click.testing import CliRunner
from conftest import expected_label
from make_sample_videos import write_colour_video
from media import truncate, write_audio_only

from movinet_cli import classify
from movinet_cli.batch import find_videos
from movinet_cli.cli import cli

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


def test_an_interrupted_run_resumes_to_the_same_file(tiny_models, video_dir, tmp_path, monkeypatch):
    common = ["-m", tiny_models.base, "--size", 16, "-k", 3]
    whole = tmp_path / "whole.csv"
    run("batch", video_dir, "-o", whole, *common)

    real_run, calls = classify.Classifier.run, []

    def interrupted_after_three(self, source, **options):
        calls.append(source.path)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_run(self, source, **options)

    monkeypatch.setattr(classify.Classifier, "run", interrupted_after_three)
    out = tmp_path / "results.csv"
    first = run("batch", video_dir, "-o", out, *common)
    assert first.exit_code == 130 and "--resume" in first.stderr
    partial = read_csv(out)
    assert 0 < len(partial) < len(GOOD) + len(BAD)  # complete rows only, a valid CSV
    monkeypatch.setattr(classify.Classifier, "run", real_run)
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
    assert result.exit_code == 1 and "other columns" in result.stderr


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
