"""The OpenVINO conversion's life cycle: offline, interruptible, self-healing, ahead of time."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, library_messages

from movinet_cli import machine
from movinet_cli.cli import cli
from movinet_cli.model import engines, registry
from movinet_cli.model.engines import conversion
from movinet_cli.model.engines.cache import saved_model_identity

# Installed in every Python process of a run through sitecustomize (PYTHONPATH), so it also
# watches the spawned conversion child, the decoding children and anything forked: every
# AF_INET/AF_INET6 socket made, connected or sent on, and every name lookup, is appended to
# $NETWORK_LOG with the process id. (AF_UNIX sockets, which multiprocessing uses between
# our own processes, are not network traffic.)
NETWORK_GUARD = """
import os, socket, sys

INET = (socket.AF_INET, socket.AF_INET6)
LOOKUPS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"}
ON_A_SOCKET = {"socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"}

def _watch(event, args):
    if (
        event in LOOKUPS
        or event == "socket.__new__" and args[1] in INET
        or event in ON_A_SOCKET and getattr(args[0], "family", None) in INET
    ):
        with open(os.environ["NETWORK_LOG"], "a") as log:
            log.write(f"{os.getpid()} {event} {args!r:.200}\\n")

sys.addaudithook(_watch)
"""

# Converts and runs both test models (the conversions in their child process), then reports
# which threads and child processes are left: OpenVINO's telemetry leaves sender threads.
CONVERT_RUN_AND_REPORT = """
import json, multiprocessing, sys, threading
from movinet_cli import load_classifier
from movinet_cli.model import engines
video, directories = sys.argv[1], sys.argv[2:]
for directory in directories:
    engines.prepare(directory, 32)
    load_classifier(directory, engine="openvino").classify(video)
from movinet_cli.inputs.decoders import release
release()  # the decoding processes kept for the next video, and the watchdog's thread
print(json.dumps({"threads": [t.name for t in threading.enumerate()], "children": len(multiprocessing.active_children())}))
"""


def offline_environment(tmp_path) -> dict:
    """A first-time user's environment: no CI variable (OpenVINO's telemetry turns itself off
    when it sees one), a fresh home (no telemetry opt-out file), an empty cache."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NETWORK_GUARD)
    home = tmp_path / "home"
    home.mkdir()
    env.update(
        PYTHONPATH=os.pathsep.join([str(guard), str(ROOT)]),
        NETWORK_LOG=str(tmp_path / "network.log"),
        HOME=str(home),
        MOVINET_CACHE_DIR=str(tmp_path / "cache"),
    )
    return env


@pytest.mark.slow
def test_conversion_and_inference_open_no_socket_and_leave_no_thread_or_process(tiny_models, tmp_path):
    env = offline_environment(tmp_path)
    video = str(ROOT / "sample_videos" / "red.mp4")
    command = [sys.executable, "-c", CONVERT_RUN_AND_REPORT, video, tiny_models.base, tiny_models.stream]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    left = json.loads(result.stdout.splitlines()[-1])
    assert left == {"threads": ["MainThread"], "children": 0}
    network = Path(env["NETWORK_LOG"])
    assert not network.exists(), network.read_text()
    assert not (tmp_path / "home" / "intel").exists()  # nor did OpenVINO's telemetry write its files


@pytest.mark.slow
def test_a_stream_conversion_prints_nothing_of_tensorflows(tiny_models, tmp_path, monkeypatch, capfd):
    """The conversion child imports TensorFlow to cut the graph into parts: its start-up logs
    (absl, oneDNN, CUDA probes) reached the terminal between the progress lines."""
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    engines.prepare(tiny_models.stream, 32)
    assert capfd.readouterr().err == ""


@pytest.mark.slow
def test_the_network_guard_sees_openvino_telemetry(tmp_path):
    """The guard above can fail: importing OpenVINO plainly, telemetry on, is caught."""
    env = offline_environment(tmp_path)
    # The child waits until its telemetry was seen (polled, however busy the machine; the timeout bounds it).
    code = (
        "import openvino, os, pathlib, time; log = pathlib.Path(os.environ['NETWORK_LOG'])\n"
        "while 'www.google-analytics.com' not in (log.read_text() if log.exists() else ''): time.sleep(0.05)"
    )
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120, check=True)
    assert "www.google-analytics.com" in Path(env["NETWORK_LOG"]).read_text()


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def is_running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def conversion_child(parent: int) -> int:
    (child,) = [pid for pid in children_of(parent) if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text()]
    return child


def ended_or_ending(pid: int) -> bool:
    """Whether ``pid`` has ended or has a SIGTERM pending (a stopped process keeps it until
    it is continued, and then dies of it before running anything; SIGKILL ends it at once)."""
    if not is_running(pid):
        return True
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    pending = int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)
    return bool(pending & 1 << (signal.SIGTERM - 1))


def interrupted_conversion(tiny_models, tmp_path, signal_number):
    """Starts `movinet models --prepare` on the stream model and, once its child reports the
    first phase, freezes the child (SIGSTOP, so that the tiny model cannot finish first),
    sends ``signal_number`` to the process group (SIGINT: Ctrl-C in a terminal) or to the
    command alone (SIGKILL: a crash), waits until the frozen child has ended (or been told
    to), and lets it go on. Returns the command's exit code, its child processes (the
    conversion and multiprocessing's resource tracker), once none runs, and the cache."""
    env = offline_environment(tmp_path)
    command = [sys.executable, "-m", "movinet_cli", "models", "--prepare", tiny_models.stream]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    for line in process.stderr:
        if "finding the state shapes" in line:
            break
    children, child = children_of(process.pid), conversion_child(process.pid)
    os.kill(child, signal.SIGSTOP)
    if signal_number == signal.SIGINT:
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, signal.SIGKILL)
    try:  # The command must end even a child that runs no Python code (frozen here; in real life
        # busy in OpenVINO's converter, which holds the GIL for minutes): polled for, however long the
        # machine takes, and the test's timeout fails a child that is never ended.
        while not ended_or_ending(child):
            time.sleep(0.05)
    finally:  # a frozen child is not left behind, whatever happens
        with contextlib.suppress(ProcessLookupError):  # it may have ended already
            os.kill(child, signal.SIGCONT)
    process.stderr.read()
    exit_code = process.wait()
    while any(map(is_running, children)):
        time.sleep(0.2)
    return exit_code, children, Path(env["MOVINET_CACHE_DIR"]) / "openvino"


@pytest.mark.slow
@pytest.mark.timeout(180)  # a child that is never ended (or a command that never ends) fails here
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_conversion_leaves_no_child_and_no_half_entry(tiny_models, tmp_path, signal_number, monkeypatch):
    exit_code, children, cache = interrupted_conversion(tiny_models, tmp_path, signal_number)  # the frozen child ended
    assert exit_code == (130 if signal_number == signal.SIGINT else -signal.SIGKILL)
    assert len(children) == 2
    assert [pid for pid in children if is_running(pid)] == []
    assert [p for p in cache.iterdir() if p.name != "compiled" and p.suffix != ".lock"] == []  # a lock file is no entry
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(cache.parent))
    engines.prepare(tiny_models.stream, 32)  # and the next run converts
    assert [p.name for p in cache.iterdir() if ".partial-" in p.name] == []


@pytest.mark.slow
def test_a_damaged_cache_entry_description_is_rebuilt(tiny_models, tmp_path, monkeypatch, library_log):
    """Issue 10: a damaged description failed every later run. Each entry's meta.json is now
    written with the entry and renamed into place with it, and a damaged one is rebuilt; the
    <identity>.json of earlier versions is no longer read (kind and classes come from
    saved_model.pb), so a damaged one left behind is harmless."""
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    engines.prepare(tiny_models.base, 32)
    (meta,) = (tmp_path / "openvino").glob("*/meta.json")
    meta.write_text(meta.read_text()[:20])  # cut short, as by a crash or a full disk
    (tmp_path / "openvino" / f"{saved_model_identity(tiny_models.base)}.json").write_text('{"kind": "ba')
    messages = library_log
    messages.clear()  # what the calls below log
    model, _ = engines.open_model(tiny_models.base, engine="openvino")
    assert any("Converting" in m for m in messages)
    assert json.loads(meta.read_text())["kind"] == "base"
    assert model.num_classes == 600


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def test_a_cache_directory_that_is_a_file_is_one_line(tiny_models, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    for cache in (tmp_path / "file", tmp_path / "file" / "below"):
        monkeypatch.setenv("MOVINET_CACHE_DIR", str(cache))
        for args in (["classify", "--model", tiny_models.base, ROOT / "sample_videos" / "red.mp4"], ["models"]):
            result = run(*args)
            assert result.exit_code == 1
            (line,) = result.stderr.splitlines()
            assert line.startswith("Error: the cache directory") and f"{tmp_path / 'file'} is a file" in line


@pytest.mark.slow
def test_prepare_converts_ahead_and_models_says_so(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    for kind in ("base", "stream"):  # registry entries served from the download cache
        directory = registry.cached_model_dir(registry.VARIANTS[f"a0-{kind}"].url)
        directory.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(getattr(tiny_models, kind), directory)
    listed = run("models", "a0-base", "a0-stream", "a1-base")
    assert listed.exit_code == 0
    assert all(line.split()[7:9] == ["yes", "no"] for line in listed.stdout.splitlines()[1:3])
    assert "--prepare" in listed.stdout
    prepared = run("models", "--prepare", "a0-base", "a0-stream")
    assert prepared.exit_code == 0, prepared.stderr
    assert prepared.stdout.splitlines() == ["a0-base: ready", "a0-stream: ready"]
    assert "(A0 stream: a few seconds from its 0." in prepared.stderr and "MB graph, once; then cached)" in prepared.stderr and "converted in" in prepared.stderr
    document = json.loads(run("models", "--format", "json").stdout)
    converted = {m["name"] for m in document["models"] if m["converted"]}
    assert converted == {"a0-base", "a0-stream"}
    again = run("models", "--prepare", "a0-stream")
    assert again.exit_code == 0 and "Converting" not in again.stderr


def test_prepare_reports_each_failure_and_exits_1(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    result = run("models", "--prepare", tiny_models.base, tmp_path / "nowhere")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"{tiny_models.base}: ready"]
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")][0].startswith(f"Error: {tmp_path / 'nowhere'}:")
    assert run("models", "--prepare").exit_code == 2


def test_what_a_killed_conversion_was_writing_is_swept(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    staging = tmp_path / "openvino" / f"0123abcd.partial-{int(ended.stdout)}-x1y2"
    staging.mkdir(parents=True)
    (staging / "model.bin").write_bytes(b"half")
    live = tmp_path / "openvino" / f"0123abcd.partial-{os.getpid()}-x1y2"  # still being written
    live.mkdir()
    engines.prepare(tiny_models.base, 32)
    assert not staging.exists() and live.exists()


@pytest.mark.slow
def test_a_script_without_a_main_guard_converts(tiny_models, tmp_path):
    """The conversion child does not run the user's script again (it would start its own
    conversion child, and so on)."""
    script = tmp_path / "script.py"
    script.write_text(f"from movinet_cli.model import engines\nprint('run')\nengines.prepare({tiny_models.stream!r}, 32)\n")
    result = subprocess.run([sys.executable, str(script)], env=offline_environment(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["run"]


@pytest.mark.slow
def test_two_processes_converting_one_model_convert_it_once(tmp_path):
    """The second waits on the first's lock and uses its entry (several Ray actors on a node)."""
    import subprocess
    import sys

    from make_test_model import build_models

    base, _ = build_models(str(tmp_path / "models"))
    script = (
        "import sys; from movinet_cli.model.engines import openvino as ov; from pathlib import Path\n"
        "import logging; lines = []; handler = logging.Handler(); handler.emit = lambda record: lines.append(record.getMessage())\n"
        "logging.getLogger('movinet_cli').addHandler(handler); logging.getLogger('movinet_cli').setLevel(logging.INFO)\n"
        "ov.open_model(sys.argv[1], Path(sys.argv[2]), 'f32')\n"
        "print('converted' if any(l.startswith('Converting') for l in lines) else 'waited' if lines else 'cached')\n"
    )
    command = [sys.executable, "-c", script, base, str(tmp_path / "cache")]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = sorted(process.communicate(timeout=300)[0].strip() for process in runs)
    assert outcomes in (["converted", "waited"], ["cached", "converted"])
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir() and p.name != "compiled"]) == 1


# Issue 22: a damaged cache gave wrong answers ("white nan%") or broke every later run.
RED = ROOT / "sample_videos" / "red.mp4"


def classify_red(palette_models, kind="base"):
    """The top label of the red sample clip with a palette test model, and the log lines."""
    from movinet_cli import load_classifier

    with library_messages() as lines:  # a damaged compiled blob is found when the model first runs
        classifier = load_classifier(getattr(palette_models, kind), engine="openvino", labels=palette_models.labels)
        result = classifier.classify(str(RED), top_k=2)
    return result.predictions[0], [line for line in lines if line.startswith("warning")]


def damage(path: Path, offset_fraction: float, data: bytes) -> None:
    """Overwrites bytes of ``path`` in place (as a bad block or a stray write would)."""
    path.chmod(0o644)  # OpenVINO writes its blobs read-only
    content = bytearray(path.read_bytes())
    offset = min(int(len(content) * offset_fraction), len(content) - len(data))
    content[offset : offset + len(data)] = data
    path.write_bytes(bytes(content))


def fresh_cache(tmp_path, monkeypatch, palette_models, kind="base") -> Path:
    """A cache with the model converted and compiled; returns its openvino folder."""
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "cache"))
    prediction, warnings = classify_red(palette_models, kind)
    assert (prediction.label, warnings) == ("red", [])
    return tmp_path / "cache" / "openvino"


def entry_of(cache: Path) -> Path:
    (entry,) = [p for p in cache.iterdir() if p.is_dir() and p.name != "compiled"]
    return entry


@pytest.mark.slow
@pytest.mark.parametrize("where", ["blob weights", "blob zeroed", "blob recorded", "model.bin", "model.xml"])
def test_a_damaged_cache_file_is_rebuilt_with_one_notice(palette_models, tmp_path, monkeypatch, capfd, where):
    """A damaged model.xml also printed 5 lines of OpenVINO's native log on stderr. A damaged
    converted model is found when a compile needs it (a compiled blob of the shape needs none)."""
    cache = fresh_cache(tmp_path, monkeypatch, palette_models)
    if where.startswith("blob"):
        (blob,) = (cache / "compiled").rglob("*.blob")
        if where == "blob weights":  # 64 bytes over the blob's weights: NaN answers before
            weights = blob.read_bytes().find(bytes.fromhex("000080bf"))  # -1.0f, in the prototypes
            damage(blob, weights / blob.stat().st_size - 0.001, b"\xff" * 64)
        elif where == "blob zeroed":
            damage(blob, 0.02, bytes(4096))
        else:  # cut short and recorded so: its checksums match, yet OpenVINO cannot read it
            blob.chmod(0o644)
            blob.write_bytes(blob.read_bytes()[:1000])
            checksums = blob.parent / "checksums.json"
            checksums.write_text(json.dumps({blob.name: [1000, zlib.crc32(blob.read_bytes())]}))
    else:
        damage(entry_of(cache) / where, 0.5, b"\x00" * 64 if where == "model.bin" else b"x" * 64)
        assert classify_red(palette_models)[1] == []  # the compiled blob runs: the converted model is not read
        shutil.rmtree(cache / "compiled")  # a compile now needs it
    prediction, warnings = classify_red(palette_models)
    assert prediction.label == "red" and prediction.probability > 0.99
    assert len(warnings) == 1 and ("cannot read" if where == "blob recorded" else "damaged") in warnings[0]
    assert capfd.readouterr().err == ""  # nothing from OpenVINO's native code
    assert classify_red(palette_models)[1] == []  # repaired: the next run says nothing


@pytest.mark.slow
def test_an_entry_replaced_by_a_file_and_a_lock_that_is_a_directory_are_rebuilt(palette_models, tmp_path, monkeypatch):
    cache = fresh_cache(tmp_path, monkeypatch, palette_models, "stream")
    entry = entry_of(cache)
    shutil.rmtree(entry)
    entry.write_text("not an entry")
    (cache / f"{entry.name}.lock").unlink()
    (cache / f"{entry.name}.lock" / "inside").mkdir(parents=True)
    blobs = cache / "compiled" / entry.name
    shutil.rmtree(blobs)
    blobs.write_text("not a directory")
    prediction, warnings = classify_red(palette_models, "stream")
    assert prediction.label == "red"
    assert len(warnings) == 3 and "a file, not a directory" in warnings[0] and "lock" in warnings[1]
    assert f"{blobs} in the OpenVINO cache is not a directory" in warnings[2]
    assert entry.is_dir() and (cache / f"{entry.name}.lock").is_file() and blobs.is_dir()
    assert classify_red(palette_models, "stream")[1] == []


@contextlib.contextmanager
def read_only(directory: Path):
    """``directory`` read-only even for root (a read-only bind mount); skips where that cannot be made."""
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", str(directory), str(directory)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot make a read-only directory as root here (no bind mounts)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(directory)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def test_a_read_only_cache_runs_without_caching_saying_so_once(palette_models, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "cache"))
    with read_only(tmp_path / "cache"):
        prediction, warnings = classify_red(palette_models)
    assert prediction.label == "red"
    (warning,) = warnings
    assert "cannot be written" in warning and "running without caching" in warning


@pytest.mark.slow
def test_a_full_cache_filesystem_runs_without_caching_and_says_no_space_left(palette_models, tmp_path, monkeypatch):
    full = tmp_path / "full"
    full.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(full)], capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        (full / "cache").mkdir()
        with contextlib.suppress(OSError):  # fill it
            with open(full / "filler", "wb") as filler:
                filler.write(bytes(1 << 20))
        monkeypatch.setenv("MOVINET_CACHE_DIR", str(full / "cache"))
        prediction, warnings = classify_red(palette_models)
    finally:
        subprocess.run(["umount", str(full)], check=True)
    assert prediction.label == "red"
    (warning,) = warnings
    assert "no space left" in warning and "running without caching" in warning


def converting_line(messages: list[str]) -> str:
    (line,) = [message for message in messages if message.startswith("Converting the model")]
    return line


def pace_file(cache: Path) -> Path:
    return cache / "openvino" / conversion.PACE_FILE


def remembered_pace(cache: Path) -> dict:
    document = json.loads(pace_file(cache).read_text())
    return document["machines"][machine.machine()]


@pytest.mark.slow
def test_a_first_conversion_expects_from_the_graph_size_and_remembers_this_machines_pace(tiny_models, tmp_path, monkeypatch, library_log):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    graph_mb = (Path(tiny_models.stream) / "saved_model.pb").stat().st_size / 1e6
    messages = library_log
    messages.clear()  # what the calls below log
    engines.prepare(tiny_models.stream, 32)
    assert f"(this stream model: a few seconds from its {graph_mb:.1f} MB graph, once; then cached)" in converting_line(messages)
    seconds = float(next(m for m in messages if "converted in" in m).split()[2])
    entry = remembered_pace(tmp_path)["stream"]
    assert entry["seconds_per_unit"] == pytest.approx(seconds / graph_mb ** conversion.GRAPH_EXPONENT["stream"], abs=1 / graph_mb)


@pytest.mark.slow
def test_a_remembered_slow_pace_says_minutes_at_the_start(tiny_models, tmp_path, monkeypatch, library_log):
    """A machine whose last conversion was slow: the next one says, before it starts, that it
    will take minutes (the pace faked in the file, as a slow machine would have left it)."""
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    graph_mb = (Path(tiny_models.stream) / "saved_model.pb").stat().st_size / 1e6
    slow = 540 / graph_mb ** conversion.GRAPH_EXPONENT["stream"]  # this graph in 9 minutes
    pace_file(tmp_path).parent.mkdir(parents=True)
    document = {"version": conversion.PACE_VERSION, "machines": {machine.machine(): {"stream": {"seconds_per_unit": slow, "measured_at": "2026-01-01T00:00:00"}}}}
    pace_file(tmp_path).write_text(json.dumps(document))
    messages = library_log
    messages.clear()  # what the calls below log
    engines.prepare(tiny_models.stream, 32, variant=registry.VARIANTS["a5-stream"])
    assert "(A5 stream: about 9 minutes at this machine's last conversion pace, once; then cached)" in converting_line(messages)
    assert remembered_pace(tmp_path)["stream"]["seconds_per_unit"] < slow / 10  # this conversion's own pace replaced it


@pytest.mark.slow
def test_a_pace_remembered_before_the_graph_was_cut_is_not_used(tiny_models, tmp_path, monkeypatch, library_log):
    """Version 1 paces are per MB**1.5 of an uncut stream graph: read as per MB, they would
    promise minutes for seconds' work."""
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    pace_file(tmp_path).parent.mkdir(parents=True)
    document = {"version": 1, "machines": {machine.machine(): {"stream": {"seconds_per_unit": 1000.0, "measured_at": "2026-01-01T00:00:00"}}}}
    pace_file(tmp_path).write_text(json.dumps(document))
    messages = library_log
    messages.clear()  # what the calls below log
    engines.prepare(tiny_models.stream, 32)
    assert "a few seconds from its" in converting_line(messages)
    assert remembered_pace(tmp_path)["stream"]["seconds_per_unit"] < 1000


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["garbage", "fifo", "huge"])
def test_a_damaged_pace_file_is_not_trusted_and_a_good_one_replaces_it(tiny_models, tmp_path, monkeypatch, damage, library_log):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    path = pace_file(tmp_path)
    path.parent.mkdir(parents=True)
    if damage == "fifo":
        os.mkfifo(path)  # never opened for reading: that would hang
    else:
        bad = {"version": conversion.PACE_VERSION, "machines": {machine.machine(): {"stream": {"seconds_per_unit": float("nan")}}}}
        path.write_text(json.dumps(bad) if damage == "garbage" else " " * (conversion.PACE_FILE_LIMIT + 1))
    messages = library_log
    messages.clear()  # what the calls below log
    engines.prepare(tiny_models.stream, 32)
    assert "MB graph, once" in converting_line(messages)  # the default pace, from the graph's size
    if damage == "fifo":
        assert path.is_fifo()  # not ours to replace
    else:
        assert remembered_pace(tmp_path)["stream"]["seconds_per_unit"] > 0


def test_compiled_blobs_are_kept_for_the_shapes_used_last_and_checked_one_shape_at_a_time(palette_models, tmp_path, monkeypatch):
    """Every length of a clip shorter than a window is a shape of its own, with a blob of its
    own (75 MB for A5 base): the cache keeps those of the shapes used last, in a folder each,
    and removes the others and blobs of the layout before folders; the answers stay right."""
    import numpy as np

    from movinet_cli import load_classifier
    from movinet_cli.model.engines import blobs as blobs_module
    from movinet_cli.model.engines import openvino as openvino_engine

    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(blobs_module, "BLOB_SHAPES_KEPT", 2)
    classifier = load_classifier(palette_models.base, engine="openvino", labels=palette_models.labels)
    red = np.zeros((8, 32, 32, 3), np.float32)
    red[..., 0] = 1.0
    classifier.model.logits(red[:3])
    (compiled,) = [path for path in (tmp_path / "cache" / "openvino" / "compiled").iterdir() if path.is_dir()]
    (compiled / "0123.blob").write_bytes(b"a blob of the layout before folders")
    for length in (3, 4, 5, 4):  # 3 is used first, and not since
        again = load_classifier(palette_models.base, engine="openvino", labels=palette_models.labels)  # a process's compiles: from the cache
        logits = again.model.logits(red[:length])
        assert again.labels[int(np.argmax(logits))] == "red"
    assert sorted(path.name for path in compiled.iterdir()) == ["logits-1x4x32x32x3", "logits-1x5x32x32x3"]
    assert all(len(list(folder.glob("*.blob"))) == 1 and (folder / "checksums.json").is_file() for folder in compiled.iterdir())
    folder = compiled / "logits-1x4x32x32x3"
    (blob,) = folder.glob("*.blob")
    leftovers = [folder / "8417.blob", folder / f"{blob.name}.partial-99999"]  # OpenVINO's own cache's; a writer's that died
    for path in leftovers:
        path.write_bytes(b"left over")
    logits = load_classifier(palette_models.base, engine="openvino", labels=palette_models.labels).model.logits(red[:4])
    assert sorted(path.name for path in folder.iterdir()) == sorted([blob.name, "checksums.json"])
    assert np.argmax(logits) == np.argmax(again.model.logits(red[:4]))
    (folder / "checksums.json").write_text("null")  # JSON, but no records: its blob is compiled again
    logits = load_classifier(palette_models.base, engine="openvino", labels=palette_models.labels).model.logits(red[:4])
    assert again.labels[int(np.argmax(logits))] == "red" and json.loads((folder / "checksums.json").read_text())[blob.name][0] > 0
    monkeypatch.setattr(openvino_engine, "COMPILED_VERSION", openvino_engine.COMPILED_VERSION + 1)  # what is compiled changed
    load_classifier(palette_models.base, engine="openvino", labels=palette_models.labels).model.logits(red[:4])
    assert len(list(folder.glob("*.blob"))) == 2  # compiled anew, not the blob of before
