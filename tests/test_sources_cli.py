"""Videos from standard input, URLs and lists on the command line (classify, embed, batch),
against servers on 127.0.0.1: the same answers as from the files, one line for each failure,
no temporary file left behind."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rtsp
import web
from click.testing import CliRunner
from conftest import expected_label

from movinet_cli.cli import cli

RED, BLUE = (220, 20, 30), (20, 40, 220)
ROOT = Path(__file__).resolve().parents[1]


def run(*args, input=None, env=None):
    return CliRunner().invoke(cli, [str(arg) for arg in args], input=input, env=env, catch_exceptions=False)


def one_line_error(result, *fragments):
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert all(fragment in errors[0] for fragment in fragments), errors[0]
    assert "Traceback" not in result.output + result.stderr


pytestmark = pytest.mark.usefixtures("spool")  # every test here leaves no temporary file behind


@pytest.fixture
def site(tmp_path, colour_video):
    """A server of red.mp4 and blue.mp4 (1 s each), a redirect, a stalled body; and its videos' paths."""
    (tmp_path / "site").mkdir()
    red = colour_video("site/red.mp4", [(RED, 1.0)], fps=10, size=(32, 24))
    blue = colour_video("site/blue.mp4", [(BLUE, 1.0)], fps=10, size=(32, 24))
    with web.serving(tmp_path / "site", {"/moved": web.redirect("/red.mp4"), "/stalled": web.stalled}) as url:
        yield url, red, blue


def model(tiny_models):
    return ["-m", tiny_models.base, "--size", 16]


def top_k(result) -> list:
    assert result.exit_code == 0, result.stderr
    return [(p["label"], p["probability"]) for p in json.loads(result.stdout)["results"][0]["predictions"]]


def test_standard_input_and_a_url_give_the_top_k_of_the_file(tiny_models, site):
    url, red, _ = site
    expected = top_k(run("classify", *model(tiny_models), "-f", "json", red))
    assert expected[0][0] == expected_label(RED)
    piped = run("classify", *model(tiny_models), "-f", "json", "-", input=open(red, "rb").read())
    assert top_k(piped) == expected and json.loads(piped.stdout)["results"][0]["path"] == "<stdin>"
    fetched = run("classify", *model(tiny_models), "-f", "json", f"{url}/moved")
    assert top_k(fetched) == expected and json.loads(fetched.stdout)["results"][0]["path"] == f"{url}/moved"  # the URL as given


@pytest.mark.slow
def test_cat_a_clip_into_classify_gives_the_top_k_of_its_path(tiny_models, site):
    _, red, _ = site
    command = [sys.executable, "-m", "movinet_cli", "classify", *map(str, model(tiny_models)), "-q", "-f", "json"]
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    by_path = subprocess.run([*command, red], capture_output=True, env=environment, timeout=300)
    cat = subprocess.Popen(["cat", red], stdout=subprocess.PIPE)
    piped = subprocess.run([*command, "-"], stdin=cat.stdout, capture_output=True, env=environment, timeout=300)
    cat.wait()
    assert by_path.returncode == piped.returncode == 0, piped.stderr
    answers = [json.loads(result.stdout)["results"][0] for result in (by_path, piped)]
    assert answers[1]["path"] == "<stdin>" and answers[1]["predictions"] == answers[0]["predictions"]


def test_failures_of_a_url_are_one_line_and_the_others_still_run(tiny_models, site):
    url, red, _ = site
    result = run("classify", *model(tiny_models), f"{url}/missing.mp4", red, f"{url}/stalled", env={"MOVINET_DOWNLOAD_TIMEOUT_S": "0.3"})
    assert result.exit_code == 1 and expected_label(RED) in result.stdout
    assert f"Error: {url}/missing.mp4: the server answered HTTP 404" in result.stderr
    assert f"Error: {url}/stalled: timed out: nothing came from the server for 0.3 s" in result.stderr
    small = run("classify", *model(tiny_models), "--max-download", "1K", f"{url}/red.mp4")
    assert small.exit_code == 1
    one_line_error(small, f"{url}/red.mp4: the video is", "more than --max-download (1.0 KiB)")


@pytest.mark.parametrize(
    "args, said",
    [
        (["-", "-"], "standard input is named twice"),
        (["concat:a.mp4|b.mp4"], "concat: names an FFmpeg protocol, which is not read"),
        (["data:video/mp4;base64,AAAA"], "data: names an FFmpeg protocol"),
        (["ftp://h/v.mp4"], "ftp:// URLs are not read"),
        (["rtsp://127.0.0.1/s"], "a live stream has no end: give --end SECONDS"),
        (["--mode", "clip", "--end", 5, "rtsp://127.0.0.1/s"], "read in stream mode only"),
        (["--output-video", "out.mp4", "-"], "--output-video reads VIDEO again"),
        (["--max-download", "lots", "a.mp4"], "'lots' is not a size"),
    ],
)
def test_what_classify_cannot_read_is_a_usage_error(tiny_models, args, said, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("classify", *args)
    assert result.exit_code == 2 and said in result.stderr, result.stderr


def test_a_stream_needs_a_stream_model_and_one_that_is_not_there_fails_in_one_line(tiny_models):
    base = run("classify", "-m", tiny_models.base, "--size", 16, "--end", 5, "rtsp://127.0.0.1:9/s")
    assert base.exit_code == 2 and "read in stream mode only" in base.stderr
    gone = run("classify", "-m", tiny_models.stream, "--size", 16, "--end", 5, "rtsp://127.0.0.1:9/s")  # nothing listens on the discard port
    assert gone.exit_code == 1
    one_line_error(gone, "rtsp://127.0.0.1:9/s: cannot open the stream")
    assert run("embed", "-o", "f.npz", "rtsp://127.0.0.1:9/s").exit_code == 2


def test_classify_reads_an_rtsp_stream_up_to_end(tiny_models):
    with rtsp.serving(RED) as url:
        result = run("classify", "--mode", "stream", "-m", tiny_models.stream, "--size", 16, "--end", 2, "-f", "json", url)
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)["results"][0]
    assert answer["path"] == url and answer["predictions"][0]["label"] == expected_label(RED)
    assert answer["duration_s"] == pytest.approx(2.0, abs=0.11)  # a live source, cut at --end


def test_the_console_fetches_within_its_bound_with_a_bar():
    from movinet_cli.cli.console import Console
    from movinet_cli.inputs.downloads import current

    with Console(quiet=True).fetching(1234):
        settings = current()
        with settings.progress("https://h/a/clip.mp4", 10) as told:
            told(5)
    assert settings.max_bytes == 1234 and current().max_bytes != 1234


def test_embed_reads_standard_input_as_stdin(tiny_models, site, tmp_path):
    _, red, _ = site
    output = tmp_path / "features.npz"
    result = run("embed", *model(tiny_models), "-o", output, "-", input=open(red, "rb").read())
    assert result.exit_code == 0, result.stderr
    import numpy as np

    with np.load(output, allow_pickle=False) as data:
        assert list(data["path"]) == ["<stdin>"]


def rows(result) -> list[dict]:
    assert result.exit_code in (0, 1), result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_batch_classifies_a_list_of_paths_and_urls_as_listed(tiny_models, site, tmp_path, monkeypatch):
    url, red, blue = site
    monkeypatch.chdir(tmp_path)
    listed = tmp_path / "list.txt"
    listed.write_text(f"# today's\nsite/blue.mp4\n\n{url}/red.mp4\n{red}\nsite/missing.mp4\n")
    got = rows(run("batch", "--files-from", listed, "-o", "-", *model(tiny_models), "-q"))
    assert [row["path"] for row in got] == ["site/blue.mp4", f"{url}/red.mp4", red, "site/missing.mp4"]
    assert [row["label_1"] for row in got[:3]] == [expected_label(BLUE), expected_label(RED), expected_label(RED)]
    assert got[3]["status"] == "error" and "no such file" in got[3]["error"]


def test_batch_reads_a_nul_separated_list_on_standard_input_relative_to_directory(tiny_models, site, tmp_path):
    _, red, blue = site
    results = tmp_path / "results.csv"
    common = ["batch", tmp_path / "site", "--files-from", "-", "--null", "-o", results, *model(tiny_models)]
    first = run(*common, input=b"blue.mp4\0")
    assert first.exit_code == 0, first.stderr
    again = run(*common, "--resume", input=b"blue.mp4\0red.mp4\0")
    assert again.exit_code == 0, again.stderr
    assert [row["path"] for row in csv.DictReader(open(results))] == ["blue.mp4", "red.mp4"]
    assert "1 ok, 0 failed, 1 skipped" in again.stderr


def test_batch_refuses_what_no_list_may_hold(tiny_models, tmp_path):
    listed = tmp_path / "list.txt"
    listed.write_text("a.mp4\n-\n")
    result = run("batch", "--files-from", listed, "-o", "-", *model(tiny_models))
    assert result.exit_code == 2 and f"--files-from {listed}, line 2: -: standard input (-) cannot be a video of a list" in result.stderr
    assert run("batch", tmp_path, "--null", "-o", "-").exit_code == 2
    empty = run("batch", "--files-from", "-", "-o", "-", *model(tiny_models), input="# nothing\n")
    assert empty.exit_code == 1 and "no videos in --files-from -" in empty.stderr


def test_batch_timelines_of_a_list_stay_in_their_directory(tiny_models, site, tmp_path):
    url, red, _ = site
    (tmp_path / "timelines").mkdir()
    listed = tmp_path / "list.txt"
    listed.write_text(f"{red}\n{url}/blue.mp4\n")
    result = run("batch", "--files-from", listed, "-o", tmp_path / "r.csv", "--timelines", tmp_path / "timelines", *model(tiny_models), "-q")
    assert result.exit_code == 0, result.stderr
    written = sorted(str(path.relative_to(tmp_path / "timelines")) for path in (tmp_path / "timelines").rglob("*.csv"))
    assert written == sorted([red.lstrip("/").removesuffix(".mp4") + ".csv", f"127.0.0.1:{url.rsplit(':', 1)[1]}/blue.csv"])
