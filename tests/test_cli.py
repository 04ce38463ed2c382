import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, expected_label
from media import truncate, write_audio_only, write_still_image

from movinet_cli.cli import cli
from movinet_cli.model import registry

RED, BLUE = (255, 0, 0), (0, 0, 255)


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def assert_one_line_error(result, *fragments):
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]
    assert "Traceback" not in result.output + result.stderr


def test_classify_prints_an_aligned_table(tiny_models, colour_video):
    video = colour_video("red.mp4", [(RED, 2.0)])
    result = run("classify", "--model", tiny_models.base, "--size", 32, "-k", 3, video)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(video) and "24 frames" in lines[0] and "clip mode" in lines[0]
    assert len(lines) == 4
    assert re.fullmatch(rf"\s+1\s+{re.escape(expected_label(RED))}\s+\d+\.\d\d%", lines[1])


@pytest.mark.slow
def test_classify_json_says_which_engine_and_why(tiny_models, colour_video):
    video = colour_video("blue.mp4", [(BLUE, 1.0)])
    result = run("classify", "-m", tiny_models.stream, "--size", 16, "--format", "json", video)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["mode"] == "stream" and document["engine"] in ("openvino", "tensorflow")
    assert document["engine_reason"]
    (entry,) = document["results"]
    assert entry["path"] == video and entry["predictions"][0]["label"] == expected_label(BLUE)
    assert len(entry["predictions"]) == 5 and entry["frames"] == 12


def test_classify_csv_has_a_row_per_video_including_failures(tiny_models, colour_video, tmp_path):
    good = colour_video("red.mp4", [(RED, 1.0)])
    result = run("classify", "-m", tiny_models.base, "--size", 16, "-f", "csv", "-k", 2, good, tmp_path / "gone.mp4")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["status"] for row in rows] == ["ok", "error"]
    assert rows[0]["label_1"] == expected_label(RED) and float(rows[0]["prob_1"]) > 0.5
    assert "no such file" in rows[1]["error"] and rows[1]["label_1"] == ""
    assert list(rows[0])[:7] == ["path", "status", "error", "label_1", "prob_1", "label_2", "prob_2"]


def test_the_model_loads_once_and_other_videos_still_run(tiny_models, colour_video, tmp_path):
    good = colour_video("red.mp4", [(RED, 1.0)])
    result = run("classify", "-m", tiny_models.base, "--size", 16, tmp_path / "missing.mp4", good, "-v")
    assert result.exit_code == 1
    assert expected_label(RED) in result.stdout
    assert_one_line_error(result, "missing.mp4: no such file")
    assert result.stderr.count("engine:") == 1


def _text_file(tmp):
    (tmp / "notes.mp4").write_text("hello\n")
    return tmp / "notes.mp4"


def _empty_file(tmp):
    (tmp / "empty.mp4").write_bytes(b"")
    return tmp / "empty.mp4"


BAD_INPUTS = {
    "missing": (lambda tmp, video: tmp / "missing.mp4", "no such file"),
    "directory": (lambda tmp, video: tmp, "is a directory"),
    "empty": (lambda tmp, video: _empty_file(tmp), "file is empty"),
    "text-named-mp4": (lambda tmp, video: _text_file(tmp), "cannot be decoded"),
    "audio-only": (lambda tmp, video: write_audio_only(tmp / "talk.m4a"), "cannot be decoded"),
    "still-image": (lambda tmp, video: write_still_image(tmp / "photo.jpg"), "still image"),
    "too-short": (lambda tmp, video: video("blink.mp4", [(RED, 0.04)]), "too short"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_every_bad_input_is_one_line_and_exit_1(tiny_models, colour_video, tmp_path, case):
    make, message = BAD_INPUTS[case]
    path = make(tmp_path, colour_video)
    result = run("classify", "-m", tiny_models.base, "--size", 16, path)
    assert result.exit_code == 1
    assert_one_line_error(result, str(path), message)
    assert result.stdout == ""


def test_a_truncated_video_is_classified_with_a_warning(tiny_models, colour_video):
    path = truncate(colour_video("cut.avi", [(RED, 2.0)]), 0.5)
    result = run("classify", "-m", tiny_models.base, "--size", 16, path)
    assert result.exit_code == 0
    assert expected_label(RED) in result.stdout
    assert re.search(r"warning: .*cut\.avi: decoded [\d.]+ s of the 2\.0 s the file claims \(\d+ frames\): it may be truncated", result.stderr)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--top-k", "0"], "--top-k"),
        (["--start", "5", "--end", "2"], "--end (2) must be after --start (5)"),
        (["--resize", "stretch"], "--resize"),
        (["--engine", "gpu"], "--engine"),
        (["--labels", "no-such-labels.txt"], "--labels"),
        (["--bogus"], "No such option"),
        ([], "Missing argument"),
    ],
)
def test_usage_errors_exit_2(args, message):
    result = run("classify", *args, *(["x.mp4"] if args else []))
    assert result.exit_code == 2
    assert message in result.stderr


def test_an_unknown_model_is_one_line(colour_video):
    result = run("classify", "--model", "a7-base", colour_video("red.mp4", [(RED, 1.0)]))
    assert result.exit_code == 1
    assert_one_line_error(result, "unknown model 'a7-base'")


def test_a_model_of_the_wrong_kind_is_a_usage_error(tiny_models, colour_video):
    video = colour_video("red.mp4", [(RED, 1.0)])
    result = run("classify", "--mode", "clip", "-m", tiny_models.stream, video)
    assert result.exit_code == 2
    assert_one_line_error(result, "is a stream model, which runs with --mode stream")
    registry = run("classify", "--mode", "stream", "-m", "a3-base", video)
    assert registry.exit_code == 2
    assert_one_line_error(registry, "a3-base is a base model", "use --model a3-stream")


@pytest.mark.slow
def test_both_engines_give_the_same_top_k(tiny_models, colour_video):
    video = colour_video("mixed.mp4", [((200, 55, 90), 1.0), ((30, 160, 220), 1.0)])
    outputs = {}
    for engine in ("tensorflow", "openvino"):
        for model in (tiny_models.base, tiny_models.stream):
            result = run("classify", "-m", model, "--engine", engine, "--precision", "f32", "--size", 16, "-k", 5, "-f", "json", video)
            document = json.loads(result.stdout)
            assert document["engine"] == engine and document["precision"] == "f32"
            outputs[engine, model] = [p["label"] for p in document["results"][0]["predictions"]]
    for model in (tiny_models.base, tiny_models.stream):
        assert outputs["tensorflow", model] == outputs["openvino", model]


def test_labels_of_the_wrong_width_are_one_line(tiny_models, palette_models, colour_video):
    result = run("classify", "-m", tiny_models.base, "--labels", palette_models.labels, colour_video("red.mp4", [(RED, 1.0)]))
    assert result.exit_code == 1
    assert_one_line_error(result, "600 classes", "has 8 labels", "--labels FILE")


@pytest.mark.slow
def test_custom_labels(palette_models, colour_video):
    video = colour_video("red.mp4", [(RED, 1.0)])
    result = run("classify", "-m", palette_models.stream, "--labels", palette_models.labels, "--size", 16, video)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].split()[1] == "red"
    assert len(result.stdout.splitlines()) == 6  # top-5 of 8 classes


@pytest.mark.slow
def test_no_network_and_no_cache_is_one_line(colour_video, monkeypatch, tmp_path):
    from tensorflow_hub import resolver

    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))

    def offline(self, request):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(resolver.HttpResolverBase, "_call_urlopen", offline)
    result = run("classify", "--model", "a1", colour_video("red.mp4", [(RED, 1.0)]))
    assert result.exit_code == 1
    assert_one_line_error(result, registry.VARIANTS["a1-base"].url, str(tmp_path / "tfhub"), registry.VARIANTS["a1-base"].page, "movinet models --import a1-base FILE")


def test_ctrl_c_ends_cleanly_with_130(tiny_models, colour_video, monkeypatch):
    from movinet_cli.inputs import decoding

    def interrupted(self):
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(decoding.IsolatedReader, "frames", interrupted)  # Ctrl-C reaches the parent
    result = run("classify", "-m", tiny_models.base, "--size", 16, colour_video("red.mp4", [(RED, 1.0)]))
    assert result.exit_code == 130
    assert "Interrupted." in result.stderr and "Traceback" not in result.stderr


def test_unexpected_errors_are_one_line_unless_debugging(tiny_models, colour_video, monkeypatch):
    from movinet_cli.inputs import decoding

    def broken(self):
        raise RuntimeError("decoder exploded")
        yield

    monkeypatch.setattr(decoding.IsolatedReader, "frames", broken)
    monkeypatch.delenv("MOVINET_DEBUG")
    result = run("classify", "-m", tiny_models.base, colour_video("red.mp4", [(RED, 1.0)]))
    assert result.exit_code == 1
    assert_one_line_error(result, "unexpected RuntimeError: decoder exploded", "MOVINET_DEBUG=1")


def test_models_lists_the_registry_and_what_is_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    cached = registry.cached_model_dir(registry.VARIANTS["a2-stream"].url)
    cached.mkdir(parents=True)
    (cached / "saved_model.pb").write_bytes(b"")
    text = run("models")
    assert text.exit_code == 0
    assert re.search(r"^\* a5-base\s+120 x 320\s+12\s+280\s+84\.27%\s+no\s+no$", text.stdout, re.M)  # the default
    assert re.search(r"^  a2-stream .* yes ", text.stdout, re.M)
    assert max(len(line) for line in text.stdout.splitlines() if "cache" not in line) <= 100
    assert "https://tfhub.dev/tensorflow/movinet/" in text.stdout
    assert f"cache: {tmp_path / 'tfhub'}" in text.stdout
    document = json.loads(run("models", "--format", "json").stdout)
    assert len(document["models"]) == 12
    assert {m["name"] for m in document["models"] if m["cached"]} == {"a2-stream"}
    monkeypatch.setenv("MOVINET_MODEL", "a0-stream")
    assert re.search(r"^\* a0-stream ", run("models").stdout, re.M)


@pytest.mark.slow
def test_models_and_verbose_say_the_expected_seconds_per_minute_from_what_was_measured(tiny_models, colour_video, monkeypatch, tmp_path):
    import shutil

    from movinet_cli.commands import pace

    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    for name in ("a0-stream", "a2-stream"):
        shutil.copytree(tiny_models.stream, registry.cached_model_dir(registry.VARIANTS[name].url))
    pace.Measurements().remember("a0-stream", 172, "auto", "auto", 0.01)  # 5 frames/s: 3 s per minute of video
    text = run("models").stdout
    assert re.search(r"^  a0-stream .* yes\s+(yes|no)\s+3\.0$", text, re.M)
    assert re.search(r"^  a2-stream .* yes\s+(yes|no)$", text, re.M)  # downloaded, not measured: blank
    assert max(len(line) for line in text.splitlines() if "cache" not in line and "conversions" not in line) <= 100
    rows = {m["name"]: m for m in json.loads(run("models", "--format", "json").stdout)["models"]}
    assert rows["a0-stream"]["seconds_per_minute"] == 3.0 and rows["a2-stream"]["seconds_per_minute"] is None
    verbose = run("classify", "-m", "a0-stream", "--size", "16", "-v", colour_video("red.mp4", [(RED, 1.0)]))
    assert verbose.exit_code == 0 and "expected: about 3 s of model time per minute of video on this machine" in verbose.stderr
    assert "a2-stream was not measured on this machine yet" in run("classify", "-m", "a2-stream", "--size", "16", "-v", colour_video("red.mp4", [(RED, 1.0)])).stderr


def test_version_and_help():
    """--version gives the package's version; each command's --help its usage and every option it takes."""
    import click

    import movinet_cli

    version = run("--version")
    assert version.exit_code == 0 and version.stdout == f"movinet, version {movinet_cli.__version__}\n"
    for name, command in cli.commands.items():
        result = run(name, "--help")
        assert result.exit_code == 0 and result.stdout.startswith(f"Usage: movinet {name} [OPTIONS]"), result.stdout
        for option in (param for param in command.params if isinstance(param, click.Option) and not param.hidden):
            assert all(re.search(rf"(^|[\s/,]){re.escape(flag)}\b", result.stdout, re.M) for flag in option.opts), (name, option.opts)


def test_every_command_is_in_the_readme():
    """Each command has a paragraph of its own in the README, led by its usage in bold code (or a
    heading of its own), not a mention in passing."""
    readme = (ROOT / "README.md").read_text()
    leads = [line for line in readme.splitlines() if re.match(r"#{2,4} ", line) or line.startswith("**`movinet ")]
    for command in cli.commands:
        assert any(re.search(rf"`movinet {command}( [^`]*)?`", lead) for lead in leads), command


def test_help_does_not_import_tensorflow_openvino_ray_opencv_or_numpy():
    commands = [["--help"]] + [[command, "--help"] for command in cli.commands]
    code = (
        "import sys; from click.testing import CliRunner; from movinet_cli.cli import cli; "
        f"[CliRunner().invoke(cli, args) for args in {commands!r}]; "
        "print([m for m in ('tensorflow', 'openvino', 'tensorflow_hub', 'ray', 'cv2', 'numpy', 'jinja2') if m in sys.modules])"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_python_dash_m_runs_the_cli():
    """``python -m movinet_cli`` is the movinet program: the same help, every command in it, its name "movinet"."""
    result = subprocess.run([sys.executable, "-m", "movinet_cli", "--help"], capture_output=True, text=True, cwd=Path(ROOT))
    assert result.returncode == 0 and result.stdout == run("--help").stdout
    assert result.stdout.startswith("Usage: movinet [OPTIONS] [COMMAND]") and all(re.search(rf"^  {name}\b", result.stdout, re.M) for name in cli.commands)


def test_the_progress_bar_draws_in_a_terminal_before_and_after_the_length_is_known(monkeypatch):
    from movinet_cli.cli import console as cli_module

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bars = cli_module.VideoBars(quiet=False)
    bars.start("clip.mp4")
    bars.update(0.0, None)
    bars.update(2.5, 10.0)
    bars.close()
    assert "0.0/? s video" in terminal.getvalue() and "25%" in terminal.getvalue() and "2.5/10.0 s video" in terminal.getvalue()
    assert "[00:00, time left after the first window]" in terminal.getvalue()
    assert re.search(r"2\.5/10\.0 s video \[\d\d:\d\d, about \d\d:\d\d left\]", terminal.getvalue())
    quiet = cli_module.VideoBars(quiet=True)
    quiet.start("clip.mp4")
    quiet.update(1.0, 10.0)
    assert quiet.bar.disable


@pytest.mark.slow
def test_a_long_classify_shows_the_time_left_in_a_terminal(tiny_models, colour_video, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    video = colour_video("long.mp4", [(RED, 30.0), (BLUE, 30.0)], fps=12, size=(32, 24))  # a minute: 6 windows
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    command = [sys.executable, "-m", "movinet_cli", "classify", "-m", tiny_models.base, "--size", "16", video]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    os.close(terminal)
    shown = b""
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        shown += data
    os.close(main)
    assert process.wait(timeout=120) == 0 and b"60.0 s" in process.stdout.read()
    assert re.search(rb"long\.mp4: .*\| 10\.0/60\.0 s video \[\d\d:\d\d, about \d\d:\d\d left\]", shown), shown  # after the first window


# --- hostile and unlucky input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "5000"], "--size"),
        (["--fps", "1e6"], "--fps"),
        (["--fps", "nan"], "'nan' is not a finite number"),
        (["--fps", "inf"], "--fps"),
        (["--start", "nan"], "'nan' is not a finite number"),
        (["--start", "inf"], "'inf' is not a finite number"),
        (["--end", "nan"], "'nan' is not a finite number"),
        (["--timeline-step", "nan"], "'nan' is not a finite number"),
        (["--timeline-step", "inf"], "'inf' is not a finite number"),
    ],
)
def test_option_values_a_typo_away_from_sane_are_usage_errors(args, message, tmp_path):
    # The model does not exist: exit 2 proves the check ran before any loading.
    result = run("classify", "-m", tmp_path / "no-model", *args, "x.mp4")
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--timeline", "missing/t.csv", "does not exist"),
        ("--output-video", "missing/o.mp4", "does not exist"),
        ("--output-video", "labelled.xyz", "no video writer for .xyz"),
        ("--timeline", ".", "is a directory"),
    ],
)
def test_outputs_are_checked_before_the_model_loads(option, value, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("classify", "-m", tmp_path / "no-model", option, value, "x.mp4")
    assert result.exit_code == 2 and message in result.stderr and value in result.stderr
    assert ".partial-" not in result.stderr and os.listdir(tmp_path) == []


def test_a_huge_chunk_takes_what_the_video_has(tiny_models, colour_video):
    video = colour_video("red.mp4", [(RED, 2.0)])
    huge = run("classify", "-m", tiny_models.stream, "--size", 16, "--chunk", 100000, "-f", "json", video)
    usual = run("classify", "-m", tiny_models.stream, "--size", 16, "-f", "json", video)
    assert huge.exit_code == 0, huge.stderr
    predictions = [json.loads(r.stdout)["results"][0]["predictions"][0] for r in (huge, usual)]
    assert predictions[0]["label"] == predictions[1]["label"] == expected_label(RED)
    assert predictions[0]["probability"] == pytest.approx(predictions[1]["probability"], abs=1e-5)


def test_special_files_as_videos_are_one_line(tiny_models, tmp_path):
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    for path, message in ((fifo, "is a named pipe (FIFO), not a video file"), ("/dev/zero", "is a device, not a video file")):
        result = run("classify", "-m", tiny_models.base, path)
        assert result.exit_code == 1
        assert_one_line_error(result, str(path), message)


@pytest.mark.slow
def test_a_name_that_is_not_utf8_is_classified_and_printed_as_its_bytes(tiny_models, colour_video, tmp_path):
    video = os.path.join(os.fsencode(tmp_path), b"bad\xffutf8.mp4")
    os.rename(colour_video("plain.mp4", [(RED, 1.0)]), video)
    result = subprocess.run(
        [sys.executable, "-m", "movinet_cli", "classify", "-m", tiny_models.base, "--size", "16", "-f", "csv", os.fsdecode(video)],
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr
    assert video in result.stdout and expected_label(RED).encode() in result.stdout


@pytest.mark.slow
def test_a_full_stdout_is_one_line_and_exit_1(tiny_models, colour_video):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "movinet_cli", "classify", "-m", tiny_models.base, "--size", "16", colour_video("red.mp4", [(RED, 1.0)])],
            stdout=full, stderr=subprocess.PIPE, text=True,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: cannot write to stdout: No space left on device"


@pytest.mark.parametrize(
    "content, message",
    [
        ("red\n\nblue\n", "line 2 is blank"),
        ("red\nblue\nred\n", "line 3 repeats the label 'red' of line 1"),
    ],
)
def test_label_files_with_blanks_or_repeats_are_refused_with_the_line(tiny_models, colour_video, tmp_path, content, message):
    labels = tmp_path / "labels.txt"
    labels.write_text(content)
    result = run("classify", "-m", tiny_models.base, "--labels", labels, colour_video("red.mp4", [(RED, 1.0)]))
    assert result.exit_code == 1
    assert_one_line_error(result, str(labels), message)


def test_a_byte_order_mark_is_not_part_of_the_first_label(palette_models, colour_video, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_bytes(b"\xef\xbb\xbf" + open(palette_models.labels, "rb").read())
    result = run("classify", "-m", palette_models.base, "--labels", labels, "--size", 16, "-k", 8, "-f", "json", colour_video("red.mp4", [(RED, 1.0)]))
    names = {p["label"] for p in json.loads(result.stdout)["results"][0]["predictions"]}
    assert names == set(open(palette_models.labels).read().split())


def test_terminal_escapes_in_names_are_shown_not_obeyed(tiny_models, colour_video, tmp_path):
    sneaky = tmp_path / "title\x1b]0;pwned\x07.mp4"
    os.rename(colour_video("red.mp4", [(RED, 1.0)]), sneaky)
    shown = run("classify", "-m", tiny_models.base, "--size", 16, sneaky)
    assert shown.exit_code == 0 and "title\\x1b]0;pwned\\x07.mp4" in shown.stdout and "\x1b" not in shown.stdout
    missing = run("classify", "-m", tiny_models.base, tmp_path / "gone\x1b[2J.mp4")
    assert missing.exit_code == 1 and "\x1b" not in missing.stderr and "gone\\x1b[2J.mp4" in missing.stderr
    as_data = run("classify", "-m", tiny_models.base, "--size", 16, "-f", "json", sneaky)
    assert json.loads(as_data.stdout)["results"][0]["path"] == str(sneaky)  # machine-readable output keeps the name


@pytest.mark.parametrize("native", ["1", "0"])
def test_the_precision_used_and_why_are_reported(tiny_models, colour_video, monkeypatch, native):
    from movinet_cli.environment import NATIVE_BF16 as NATIVE_BF16_VARIABLE

    monkeypatch.setenv(NATIVE_BF16_VARIABLE, native)  # the CPU's answer, given both ways
    expected, reason = ("bf16", "native bf16") if native == "1" else ("f32", "no native bf16")
    video = colour_video("red.mp4", [(RED, 1.0)])
    verbose = run("classify", "-m", tiny_models.base, "--size", 16, "-v", video)
    assert re.search(rf"^precision: {expected} \(auto: the CPU has {reason}[,)]", verbose.stderr, re.M), verbose.stderr
    document = json.loads(run("classify", "-m", tiny_models.base, "--size", 16, "-f", "json", video).stdout)
    assert document["precision"] == expected and document["precision_reason"].startswith(f"auto: the CPU has {reason}")
    pinned = json.loads(run("classify", "-m", tiny_models.base, "--size", 16, "-f", "json", "--precision", "f32", video).stdout)
    assert (pinned["precision"], pinned["precision_reason"]) == ("f32", "requested with --precision f32")
    asked = run("classify", "-m", tiny_models.base, "--size", 16, "-f", "json", "--precision", "bf16", video)
    if native == "1":
        assert (json.loads(asked.stdout)["precision"], json.loads(asked.stdout)["precision_reason"]) == ("bf16", "requested with --precision bf16")
    else:
        assert asked.exit_code == 2 and "this CPU has no native bf16 (AVX-512 BF16 or AMX): use --precision auto or f32" in asked.stderr


def test_movinet_alone_prints_its_help_and_every_summary_whole():
    alone = run()
    assert alone.exit_code == 0 and "Commands:" in alone.stdout
    assert "..." not in alone.stdout.split("Commands:")[1]


@pytest.mark.parametrize("command", ["classify", "batch", "live"])
def test_bf16_on_a_cpu_without_it_is_a_usage_error_in_every_command(command, monkeypatch, tiny_models, colour_video, tmp_path):
    from movinet_cli.environment import NATIVE_BF16 as NATIVE_BF16_VARIABLE

    monkeypatch.setenv(NATIVE_BF16_VARIABLE, "0")  # the CPU's answer, given (as conftest gives it to every test)
    video = colour_video("red.mp4", [(RED, 1.0)])
    target = {"classify": [video], "batch": [os.path.dirname(video), "-o", tmp_path / "r.csv"], "live": [video, "--no-window"]}[command]
    result = run(command, *target, "-m", tiny_models.stream, "--precision", "bf16")
    assert result.exit_code == 2 and "no native bf16" in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] and not (tmp_path / "r.csv").exists()
    on_tensorflow = run(command, *target, "-m", tiny_models.stream, "--precision", "bf16", "--engine", "tensorflow")
    assert on_tensorflow.exit_code == 2 and "OpenVINO engine only" in on_tensorflow.stderr


def test_movinet_model_sets_the_default_model_and_labels_beside_it_are_used(palette_models, colour_video, tmp_path, monkeypatch):
    import shutil

    video = colour_video("red.mp4", [(RED, 1.0)])
    model = tmp_path / "mine"
    shutil.copytree(palette_models.base, model)
    shutil.copy(palette_models.labels, model / "labels.txt")
    monkeypatch.setenv("MOVINET_MODEL", str(model))
    result = run("classify", "--size", 16, "-k", 1, "-f", "json", video)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["model"] == str(model) and document["results"][0]["predictions"][0]["label"] == "red"
    explicit = run("classify", "--size", 16, "-k", 1, "-f", "json", "-m", palette_models.base, "--labels", palette_models.labels, video)
    assert json.loads(explicit.stdout)["model"] == palette_models.base


def test_a_bad_model_from_movinet_model_says_where_it_came_from(colour_video, tmp_path, monkeypatch):
    video = colour_video("red.mp4", [(RED, 1.0)])
    monkeypatch.setenv("MOVINET_MODEL", str(tmp_path / "gone"))
    result = run("classify", video)
    assert result.exit_code == 1 and "gone" in result.stderr and "$MOVINET_MODEL" in result.stderr, result.stderr
    assert len(result.stderr.strip().split("\n")) == 1
    named = run("classify", "-m", str(tmp_path / "gone"), video)  # on the command line: no word of the variable
    assert named.exit_code == 1 and "MOVINET_MODEL" not in named.stderr


@pytest.mark.slow
@pytest.mark.parametrize("signals", ["SIGTERM", "SIGTERM, then more while it unwinds", "SIGINT, then more while it unwinds"])
def test_sigterm_unwinds_like_ctrl_c_and_leaves_no_partial_file(palette_models, colour_video, tmp_path, signals):
    """One signal, or one followed by more while the program cleans up (as GNU timeout sends
    one to the process and one to its group): the recording is finished either way."""
    import signal
    import time

    video = colour_video("long.mp4", [(RED, 30.0)], fps=10)
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "movinet_cli", "live", video, "--no-window", "-m", palette_models.stream, "--labels", palette_models.labels,
         "--size", "16", "--record", str(out / "rec.mp4")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    while not any(name.startswith(".partial-") for name in os.listdir(out)):  # recording (pytest-timeout bounds the wait)
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.05)
    first = getattr(signal, signals.split(",")[0])
    process.send_signal(first)
    while "more" in signals and process.poll() is None:  # more signals, until it has exited (pytest-timeout bounds it)
        process.send_signal(first)
        time.sleep(0.002)
    stderr = process.communicate(timeout=60)[1]
    code, said = (143, "Terminated.") if first == signal.SIGTERM else (130, "Interrupted.")
    assert process.returncode == code and said in stderr and "Traceback" not in stderr, (process.returncode, stderr[-2000:])
    assert os.listdir(out) == ["rec.mp4"]  # completed as after Ctrl-C (a live recording is kept), no .partial-* left


def test_below_min_probability_a_video_is_no_clear_action_with_its_probability_still_given(palette_models, tmp_path):
    import numpy as np
    from make_sample_videos import write_video

    undecided = np.zeros((48, 64, 3), np.uint8)
    undecided[:, :32], undecided[:, 32:] = RED, (0, 255, 0)  # no colour wins clearly
    video = write_video(str(tmp_path / "undecided.avi"), [undecided] * 24, 12)
    model = ["-m", palette_models.base, "--labels", palette_models.labels, "--size", 16]
    text = run("classify", *model, "--min-probability", 0.9, video)
    assert text.exit_code == 0 and "no clear action (no label reaches 90%)" in text.stdout
    document = json.loads(run("classify", *model, "--min-probability", 0.9, "-f", "json", video).stdout)
    entry = document["results"][0]
    assert entry["action"] == "no clear action" and entry["predictions"][0]["probability"] < 0.9
    rows = list(csv.DictReader(io.StringIO(run("classify", *model, "--min-probability", 0.9, "-f", "csv", video).stdout)))
    assert rows[0]["action"] == "no clear action" and float(rows[0]["prob_1"]) < 0.9
    plain = json.loads(run("classify", *model, "-f", "json", video).stdout)["results"][0]
    assert plain["action"] == plain["predictions"][0]["label"]
    assert run("classify", *model, "--min-probability", "nan", video).exit_code == 2


def test_an_empty_model_name_to_prepare_is_a_usage_error_not_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    for names in ([""], ["a0-base", "  "]):
        result = run("models", "--prepare", *names)
        assert result.exit_code == 2 and "empty model name" in result.stderr
    assert not (tmp_path / "tfhub").exists()  # nothing was fetched


@pytest.mark.parametrize("option", ["--smoothing", "--min-probability", "--threshold"])
def test_live_refuses_nan_for_its_float_options(option, colour_video):
    result = run("live", colour_video("red.mp4", [(RED, 1.0)]), "--no-window", option, "nan")
    assert result.exit_code == 2 and "'nan' is not a finite number" in result.stderr
