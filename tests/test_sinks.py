"""The outputs of a run (``sinks``): one loop drains outcomes into them, and no output may be
an input or another output of the same run."""

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import needs_pyarrow

from movinet_cli.cli import cli
from movinet_cli.errors import UsageError
from movinet_cli.outputs.same_file import check_outputs, file_identity
from movinet_cli.outputs.sinks import OutputPath

RED = (255, 0, 0)


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def python_movinet(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "movinet_cli", *map(str, args)], text=True, **kwargs)


def test_links_and_descriptors_name_the_files_they_lead_to(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("")
    (tmp_path / "link.csv").symlink_to(target)
    assert file_identity(tmp_path / "link.csv") == file_identity(target) != file_identity(tmp_path / "other.csv")
    assert file_identity(tmp_path / "new.csv") == file_identity(tmp_path / "sub" / ".." / "new.csv")  # not yet there
    assert file_identity("/dev/null") is None  # a character device: nothing written there is read back
    with pytest.raises(UsageError, match="--report .* is the same file as --timeline"):
        check_outputs([OutputPath("--timeline", str(target)), OutputPath("--report", str(tmp_path / "link.csv"))])
    with pytest.raises(UsageError, match="is the input"):
        check_outputs([OutputPath("--report", str(tmp_path / "link.csv"))], inputs=[target])


@pytest.mark.parametrize("option", ["--output-video", "--report"])
def test_an_output_onto_the_input_video_is_refused_and_the_video_kept(tiny_models, colour_video, tmp_path, option):
    video = colour_video("v.mp4", [(RED, 1.0)])
    before = open(video, "rb").read()
    link = tmp_path / "link.mp4"
    link.symlink_to(video)
    for target in (video, link):
        result = run("classify", "-m", tiny_models.base, "--size", 16, video, option, target)
        assert result.exit_code == 2 and "an output may not replace an input" in result.stderr, result.stderr
    assert open(video, "rb").read() == before


def test_two_outputs_onto_one_file_are_refused_before_the_model_loads(colour_video, tmp_path):
    video = colour_video("v.mp4", [(RED, 1.0)])
    out = tmp_path / "t.csv"
    result = run("classify", "-m", tmp_path / "no-model", video, "--timeline", out, "--report", out)
    assert result.exit_code == 2 and "--report" in result.stderr and "same file as --timeline" in result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_a_report_to_dev_stdout_beside_the_json_output_is_refused(tiny_models, colour_video, tmp_path):
    video = colour_video("v.mp4", [(RED, 1.0)])
    with open(tmp_path / "f", "w") as stdout:
        result = python_movinet("classify", "-q", "-m", tiny_models.base, "--size", 16, "-f", "json", "--report", "/dev/stdout", video, stdout=stdout, stderr=subprocess.PIPE)
    assert result.returncode == 2 and "same file as the json output on stdout" in result.stderr
    assert (tmp_path / "f").read_text() == ""
    link = tmp_path / "timeline.csv"
    link.symlink_to("/dev/stdout")
    piped = python_movinet("classify", "-q", "-m", tiny_models.base, "--size", 16, "--timeline", link, video, capture_output=True)
    assert piped.returncode == 2 and "--timeline" in piped.stderr and "stdout" in piped.stderr


def test_batch_results_and_report_onto_one_file_are_refused_and_rows_on_stdout_get_their_report(tiny_models, colour_video, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    os.rename(colour_video("a.mp4", [(RED, 1.0)]), videos / "a.mp4")
    same = run("batch", videos, "-o", tmp_path / "r.csv", "--report", tmp_path / "r.csv", "-m", tiny_models.base)
    assert same.exit_code == 2 and "same file" in same.stderr
    # The report is made from the rows as they come, not by reading the results back: a stream
    # of rows gets its report too (it was refused: "written from the rows of a results file").
    streamed = run("batch", videos, "-o", "-", "--report", tmp_path / "r.html", "-m", tiny_models.base, "--size", 16)
    assert streamed.exit_code == 0 and streamed.stdout.startswith("path,status,error,label_1"), streamed.output
    assert "a.mp4" in (tmp_path / "r.html").read_text()
    inside = run("batch", videos, "-o", videos / "a.mp4", "--format", "csv", "-m", tiny_models.base, "--overwrite")
    assert inside.exit_code == 2 and "an output may not replace an input" in inside.stderr


def test_a_report_over_its_own_results_is_refused_naming_the_option(tmp_path):
    results = tmp_path / "r.csv"
    results.write_text("path,status,error,label_1,prob_1,duration_s,frames,model,engine,precision,mode,seconds\n")
    result = run("report", results, "-o", results)
    assert result.exit_code == 2 and "--output" in result.stderr and "--report" not in result.stderr
    assert results.read_text().startswith("path,status")
    missing = run("report", results, "-o", tmp_path / "nope" / "r.html")
    assert missing.exit_code == 2 and "--output" in missing.stderr and "--report" not in missing.stderr


def test_live_refuses_a_recording_onto_its_source_or_nowhere_before_the_model_loads(colour_video, tmp_path):
    video = colour_video("v.mp4", [(RED, 1.0)])
    before = open(video, "rb").read()
    onto = run("live", video, "--no-window", "-m", tmp_path / "no-model", "--record", video)
    assert onto.exit_code == 2 and "an output may not replace an input" in onto.stderr
    nowhere = run("live", video, "--no-window", "-m", tmp_path / "no-model", "--record", tmp_path / "nope" / "x.mp4")
    assert nowhere.exit_code == 2 and "--record" in nowhere.stderr and "does not exist" in nowhere.stderr
    assert len(nowhere.stderr.strip().splitlines()) <= 3 and "Traceback" not in nowhere.stderr
    assert open(video, "rb").read() == before


# --- found by the adversarial pass over this change -------------------------------------------


def test_a_models_own_files_and_a_reports_videos_are_inputs(palette_models, colour_video, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(palette_models.base, model)
    shutil.copy(palette_models.labels, model / "labels.txt")
    video = colour_video("red.mp4", [(RED, 1.0)])
    for target in (model / "labels.txt", model / "saved_model.pb"):
        before = target.read_bytes()
        result = run("classify", "-m", model, "--size", 16, video, "--report", target)
        assert result.exit_code == 2 and "an output may not replace an input" in result.stderr and target.read_bytes() == before
    rows = tmp_path / "r.csv"
    assert run("batch", os.path.dirname(video), "-o", rows, "-m", model, "--size", 16, "--no-recursive").exit_code == 0
    before = open(video, "rb").read()
    onto_video = run("report", rows, "--videos", os.path.dirname(video), "-o", video)
    assert onto_video.exit_code == 2 and "an output may not replace an input" in onto_video.stderr and open(video, "rb").read() == before
    assert run("report", rows, "-o", "-").exit_code == 2  # a file, not stdout


@needs_pyarrow
def test_embed_refuses_an_output_onto_an_input_or_of_another_kind(palette_models, colour_video, tmp_path):
    video = colour_video("red.mp4", [(RED, 1.0)])
    before = open(video, "rb").read()
    model = ["-m", palette_models.base, "--labels", palette_models.labels, "--size", 16]
    onto = run("embed", video, *model, "-o", video, "--overwrite")
    assert onto.exit_code == 2 and open(video, "rb").read() == before
    assert run("embed", video, *model, "-o", tmp_path / "x.mp4").exit_code == 2


@pytest.mark.slow
def test_an_output_onto_stderrs_file_is_refused(tiny_models, colour_video, tmp_path):
    video = colour_video("v.mp4", [(RED, 1.0)])
    with open(tmp_path / "f", "w") as stderr:
        result = python_movinet("classify", "-m", tiny_models.base, "--size", 16, "--report", "/dev/stderr", video, stdout=subprocess.DEVNULL, stderr=stderr)
    assert result.returncode == 2 and "where the messages on stderr go" in (tmp_path / "f").read_text()
    with open(tmp_path / "g", "w") as both:
        plain = python_movinet("classify", "-m", tiny_models.base, "--size", 16, video, stdout=both, stderr=both)
    assert plain.returncode == 0  # stdout and stderr sharing one file, as `> f 2>&1` does, is fine


@pytest.mark.slow
def test_a_reader_that_goes_away_ends_batch_quietly(tiny_models, colour_video, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for index in range(6):
        os.rename(colour_video(f"{index}.mp4", [(RED, 1.0)]), videos / f"{index}.mp4")
    process = subprocess.Popen(
        [sys.executable, "-m", "movinet_cli", "batch", str(videos), "-o", "-", "-m", tiny_models.base, "--size", "16", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 0 and stderr == ""


def test_timeline_files_never_replace_a_users_file_and_never_share_a_name(palette_models, colour_video, tmp_path):
    from movinet_cli.outcomes.timeline import timeline_names

    names = timeline_names(["a.mp4", "a.mkv", "a.mp4.avi", "sub/b.mp4"], "csv")
    assert len(set(names.values())) == 4 and names["sub/b.mp4"] == "sub/b.csv"
    videos = tmp_path / "videos"
    videos.mkdir()
    os.rename(colour_video("red.mp4", [(RED, 1.0)]), videos / "red.mp4")
    (videos / "red.csv").write_text("notes\n")
    model = ["-m", palette_models.base, "--labels", palette_models.labels, "--size", 16]
    refused = run("batch", videos, "-o", tmp_path / "r.csv", *model, "--timelines", videos)
    assert refused.exit_code == 2 and "already exists" in refused.stderr and (videos / "red.csv").read_text() == "notes\n"
