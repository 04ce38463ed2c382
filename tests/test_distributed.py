"""``movinet batch --ray``: on a local Ray started here, and on a simulated two-node cluster."""

import csv
import os
import signal
import sys

import pytest
from click.testing import CliRunner
from conftest import expected_label, needs_ray, needs_sklearn
from make_sample_videos import write_colour_video

from movinet_cli import environment
from movinet_cli.cli import cli
from movinet_cli.commands.batch import find_videos
from movinet_cli.environment import NATIVE_BF16 as NATIVE_BF16_VARIABLE
from movinet_cli.options import ModelOptions, ReadOptions, RunOptions
from movinet_cli.outputs.results_sink import ResultsSink

pytestmark = pytest.mark.slow  # Ray starts a cluster: seconds per test

try:
    import ray
except ImportError:  # the optional extra (.ci/run installs it): the tests that need it skip
    ray = None

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def read_rows(path):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in csv.DictReader(open(path, newline="", encoding="utf-8"))]


@pytest.fixture
def videos(tmp_path):
    root = tmp_path / "videos"
    for index, colour in enumerate([RED, GREEN, BLUE, RED, GREEN, BLUE]):
        name = f"{'sub/' if index % 2 else ''}clip {index}.mp4"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_colour_video(str(root / name), [(colour, 1.0)], fps=20, size=(48, 32))
    (root / "empty.mp4").write_bytes(b"")
    os.symlink(root / "gone.mp4", root / "dangling.mp4")  # unreadable on every node
    return root


@pytest.fixture(scope="module")
def local_ray(cache_root):
    """A Ray of 2 CPUs on this machine; its workers cache models where the tests do, and take
    the CPU as the tests do (no native bf16), so that their rows equal the driver's."""
    if ray is None:  # a test that forgot @needs_ray skips here rather than erring
        pytest.skip(needs_ray.kwargs["reason"])
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test hooks below
    ray.init(num_cpus=2, log_to_driver=False, runtime_env={"env_vars": {"MOVINET_CACHE_DIR": str(cache_root), "MOVINET_DEBUG": "1", NATIVE_BF16_VARIABLE: "0"}})
    yield
    ray.shutdown()


def assert_same_rows(local, distributed):
    """The rows of both runs agree, but for an error row's note naming the node that could not read the file."""
    assert [row["path"] for row in distributed] == [row["path"] for row in local]
    for mine, theirs in zip(local, distributed):
        if mine["status"] == "error" and theirs["error"] != mine["error"]:
            assert theirs["error"].startswith(mine["error"] + " on node ") and "filesystem that every node shares" in theirs["error"]
            mine, theirs = dict(mine, error=""), dict(theirs, error="")
        assert theirs == mine


@needs_ray
def test_ray_gives_the_rows_of_the_local_batch(local_ray, tiny_models, videos, tmp_path):
    common = ["-m", tiny_models.base, "--size", 16, "-k", 3]
    for name in ("local", "ray"):
        (tmp_path / f"{name}-timelines").mkdir()
    local = run("batch", videos, "-o", tmp_path / "local.csv", *common, "--timelines", tmp_path / "local-timelines")
    distributed = run(
        "batch", videos, "-o", tmp_path / "ray.csv", *common, "--ray", "--ray-actors", 2, "--timelines", tmp_path / "ray-timelines",
        "--report", tmp_path / "ray.html",
    )
    assert distributed.exit_code == local.exit_code == 1  # the empty and the dangling file
    timelines = {name: {p.relative_to(tmp_path / f"{name}-timelines"): p.read_text() for p in (tmp_path / f"{name}-timelines").rglob("*.csv")} for name in ("local", "ray")}
    assert len(timelines["ray"]) == 6 and timelines["ray"] == timelines["local"]  # the driver writes them from the actors' outcomes
    assert (tmp_path / "ray.html").read_text().count('clip') >= 4
    assert "6 ok, 2 failed, 0 skipped" in distributed.stderr
    rows = read_rows(tmp_path / "ray.csv")
    assert_same_rows(read_rows(tmp_path / "local.csv"), rows)
    assert {row["path"]: row["error"] for row in rows}["dangling.mp4"].startswith("no such file on node ")
    on_stdout = run("batch", videos, "-o", "-", "--format", "jsonl", *common, "--ray")  # in order as they come
    assert [line.split('"')[3] for line in on_stdout.stdout.splitlines()] == find_videos(videos)


@needs_ray
def test_an_interrupted_ray_run_resumes_to_the_same_file(local_ray, tiny_models, videos, tmp_path, monkeypatch):
    common = ["-m", tiny_models.base, "--size", 16, "--ray"]
    whole = tmp_path / "whole.csv"
    run("batch", videos, "-o", whole, *common)
    real_write, written = ResultsSink.write, []

    def interrupted_after_three(self, row):
        if len(written) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the driver, with rows still in flight
        written.append(row["path"])
        real_write(self, row)

    monkeypatch.setattr(ResultsSink, "write", interrupted_after_three)
    out = tmp_path / "results.csv"
    first = run("batch", videos, "-o", out, *common)
    assert first.exit_code == 130 and "--resume" in first.stderr
    assert [row["path"] for row in read_rows(out)] == written  # complete rows only
    monkeypatch.setattr(ResultsSink, "write", real_write)
    resumed = run("batch", videos, "-o", out, "--resume", *common)
    assert resumed.exit_code == 1
    assert f"{sum(path not in ('empty.mp4', 'dangling.mp4') for path in written)} skipped" in resumed.stderr
    assert read_rows(out) == read_rows(whole)


class KillActor:
    """A test hook run in the actor before each video: kills its process (SIGKILL, as the
    out-of-memory killer does) on the first try of ``once``, and on every try of ``always``;
    and makes the decoder crash on ``crafted`` (from the actor's first video on: the next
    video starts decoding while one runs)."""

    def __init__(self, markers, once, always, crafted):
        self.markers, self.once, self.always, self.crafted = str(markers), once, always, crafted
        self.crashing = False

    def __call__(self, path):
        if not self.crashing:
            self.crash_the_decoder()
            self.crashing = True
        tried = os.path.join(self.markers, path.replace("/", "_"))
        if path == self.always or (path == self.once and not os.path.exists(tried)):
            open(tried, "a").close()
            os.kill(os.getpid(), signal.SIGKILL)

    def crash_the_decoder(self):
        """As test_batch does: a native crash in this video's decoding process (forked, so
        that it sees the stand-in decoder; the product forks from a clean server)."""
        import ctypes
        import faulthandler
        import multiprocessing

        from movinet_cli.inputs import children, video

        real_frames = video.VideoReader.rgb_frames

        def frames(reader):
            if self.crafted in reader.path:
                faulthandler.disable()
                ctypes.string_at(0)
            return real_frames(reader)

        children.decoding_context = lambda: multiprocessing.get_context("fork")
        video.VideoReader.rgb_frames = frames


@needs_ray
def test_a_killed_actor_is_replaced_and_no_row_is_lost_or_doubled(local_ray, tiny_models, videos, tmp_path):
    from movinet_cli.commands.distributed import connected, run_batch_on_ray
    from movinet_cli.commands.ray_actors import MAX_ATTEMPTS
    from movinet_cli.outcomes.loading import load_classifier

    crafted = videos / "crafted.mp4"
    write_colour_video(str(crafted), [(RED, 1.0)], fps=20, size=(48, 32))
    (tmp_path / "markers").mkdir()
    hook = KillActor(tmp_path / "markers", once="clip 2.mp4", always="sub/clip 3.mp4", crafted="crafted.mp4")
    paths = find_videos(videos)
    load = ModelOptions(model=tiny_models.base, engine="openvino")
    results = ResultsSink(str(tmp_path / "results.csv"), "csv")
    with connected():
        summary = run_batch_on_ray(
            load_classifier(tiny_models.base, engine="openvino"), videos, results, paths, ReadOptions(size=16), RunOptions(top_k=2),
            load=load, actors=2, fail_hook=hook,
        )
    results.close()
    rows = {row["path"]: row for row in read_rows(tmp_path / "results.csv")}
    assert list(rows) == paths and len(read_rows(tmp_path / "results.csv")) == len(paths)
    assert (summary.ok, summary.failed) == (5, 4)  # empty, dangling, crafted, and the video that kills its actor
    assert rows["clip 2.mp4"]["status"] == "ok"  # retried on a new actor
    assert rows["sub/clip 3.mp4"]["status"] == "error"
    assert f"the worker process died {MAX_ATTEMPTS} times classifying this video" in rows["sub/clip 3.mp4"]["error"]
    assert "the decoder crashed on this file (killed by SIGSEGV)" in rows["crafted.mp4"]["error"]


@needs_ray
def test_a_node_that_cannot_load_the_model_stops_the_run_with_one_line(local_ray, tiny_models, videos, tmp_path):
    from movinet_cli.commands.distributed import connected, run_batch_on_ray
    from movinet_cli.errors import ModelError
    from movinet_cli.outcomes.loading import load_classifier

    results = ResultsSink(str(tmp_path / "results.csv"), "csv")
    missing = ModelOptions(model=str(tmp_path / "not-on-this-node"), engine="openvino")  # as if not shared
    with connected(), pytest.raises(ModelError, match=r"^cannot load the model on node .*not-on-this-node[^\n]*$"):
        run_batch_on_ray(load_classifier(tiny_models.base), videos, results, find_videos(videos), load=missing, actors=1)
    results.close()
    assert read_rows(tmp_path / "results.csv") == []


@needs_ray
def test_an_actor_that_no_node_can_hold_is_refused_naming_the_clusters_cpus(local_ray):
    from movinet_cli.commands.distributed import RayResourcesError, check_resources

    with pytest.raises(RayResourcesError, match=r"an actor of 3 CPUs cannot start: the Ray cluster has 2 CPUs in 1 node"):
        check_resources(None, 3)
    with pytest.raises(RayResourcesError, match=r"3 actors of 1 CPUs cannot all start: the Ray cluster has 2 CPUs"):
        check_resources(3, 1)
    check_resources(2, 1)
    check_resources(None, 2)


@needs_ray
@pytest.mark.parametrize("kind", ["base", "stream"])
def test_an_actor_compiles_its_videos_shape_before_the_first_and_loads_once(local_ray, tiny_models, colour_video, kind, monkeypatch):
    """The constructor loads the model once and compiles the shape that a video's steps
    take (a whole 10-s window; a stream chunk), so that the first video compiles nothing
    that a later one would not."""
    from movinet_cli.commands import ray_actors
    from movinet_cli.model.engines import openvino as engine
    from movinet_cli.outcomes.pipeline import classify_many

    monkeypatch.setenv(environment.CPU_THREADS, "1")  # the constructor sets it: restored after the test
    compiled, loads = [], []
    real_compile, real_load = engine._Compiler.compile, ray_actors.load_classifier
    monkeypatch.setattr(engine._Compiler, "compile", lambda self, model_of, blobs, shape: compiled.append(shape) or real_compile(self, model_of, blobs, shape))
    monkeypatch.setattr(ray_actors, "load_classifier", lambda **options: loads.append(options) or real_load(**options))
    video = colour_video("ten seconds.mp4", [(RED, 10.0)], fps=20, size=(48, 32))
    actor = ray_actors.VideoClassifier(
        directory=os.path.dirname(video), load=ModelOptions(model=getattr(tiny_models, kind), engine="openvino"),
        read=ReadOptions(size=16), run=RunOptions(top_k=2), cpus=1,
    )
    assert len(loads) == 1 and len(compiled) == 1  # warmed up, before any video
    warmed = compiled[0]
    outcome = classify_many(actor.classifier, ["ten seconds.mp4"], actor.read, actor.run, directory=actor.directory)
    assert next(outcome).result.predictions[0].label == expected_label(RED)
    assert len(loads) == 1 and compiled.count(warmed) == 1  # the video's shape was not compiled again
    if kind == "base":
        assert compiled == [warmed]  # one window: the shape the warm-up compiled


@needs_ray
def test_an_actor_starts_when_its_decoding_server_cannot(local_ray, tiny_models, colour_video, monkeypatch):
    from movinet_cli.commands import ray_actors

    def no_working_directory():
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setenv(environment.CPU_THREADS, "1")
    monkeypatch.setattr("multiprocessing.forkserver.ensure_running", no_working_directory)
    video = colour_video("red.mp4", [(RED, 1.0)])
    actor = ray_actors.VideoClassifier(
        directory=os.path.dirname(video), load=ModelOptions(model=tiny_models.base, engine="openvino"),
        read=ReadOptions(size=16), run=RunOptions(top_k=2), cpus=1,
    )
    assert actor.classifier.mode == "clip"


@needs_ray
def test_an_actor_decodes_its_next_video_while_one_runs(local_ray, tiny_models, colour_video, monkeypatch):
    from movinet_cli.commands import ray_actors
    from movinet_cli.outcomes.opened_video import OpenedVideo

    monkeypatch.setenv(environment.CPU_THREADS, "1")
    red = colour_video("red.mp4", [(RED, 1.0)])
    colour_video("green.mp4", [(GREEN, 1.0)])
    actor = ray_actors.VideoClassifier(
        directory=os.path.dirname(red), load=ModelOptions(model=tiny_models.base, engine="openvino"),
        read=ReadOptions(size=16), run=RunOptions(), cpus=1,
    )
    ran, real_run = [], actor.classifier.run

    def run(opened, *rest):
        ran.append((opened, actor.ahead))  # what is decoding ahead while the model runs
        return real_run(opened, *rest)

    monkeypatch.setattr(actor.classifier, "run", run)
    first = actor.outcome("red.mp4", "green.mp4", 2, "tiny")
    second = actor.outcome("green.mp4", None, 2, "tiny")
    assert (first.result.action, second.result.action) == (expected_label(RED), expected_label(GREEN))
    assert first.result.model == "tiny" and len(first.result.predictions) == 2
    (_, ahead), (green_run, nothing) = ran
    assert ahead[0] == "green.mp4" and isinstance(ahead[1], OpenedVideo)  # opened (its decoder sent its info) during red
    assert green_run is ahead[1] and nothing is None  # the video decoded ahead is the one run, not opened again


def test_every_video_is_given_once_and_an_idle_actor_takes_a_reserved_one():
    from movinet_cli.commands.distributed import Schedule

    schedule = Schedule(["a", "b", "c", "d"], actors=2)
    assert schedule.next(0) == ("a", "b")  # b decodes on actor 0 while a runs
    assert schedule.next(1) == ("c", "d")
    assert schedule.next(0) == ("b", None)
    assert schedule.next(0) == ("d", None)  # reserved for actor 1, still busy with c
    assert schedule.next(1) is None and schedule.next(0) is None


@pytest.mark.parametrize("seed", range(5))
def test_in_any_order_of_actors_finishing_each_video_is_given_once(seed):
    import random

    from movinet_cli.commands.distributed import Schedule

    videos, order = [f"v{index}" for index in range(11)], random.Random(seed)
    schedule, given, busy = Schedule(videos, actors=3), [], {}
    for actor in range(3):
        busy[actor] = schedule.next(actor)
    while any(busy.values()):
        actor = order.choice([actor for actor, task in busy.items() if task])
        given.append(busy[actor][0])
        busy[actor] = task = schedule.next(actor)
        assert task is None or task[0] not in given
    assert sorted(given) == sorted(videos)


def test_outcomes_that_come_in_any_order_leave_in_the_videos_order():
    from movinet_cli.commands.batch import in_order
    from movinet_cli.outcomes.result import Outcome

    outcomes = [Outcome(path, None, "") for path in ["c", "a", "d", "b"]]
    assert [outcome.video for outcome in in_order(outcomes, ["a", "b", "c", "d"])] == ["a", "b", "c", "d"]


@needs_ray
def test_the_actors_start_while_the_driver_loads_its_model(local_ray, tiny_models, colour_video, tmp_path, monkeypatch):
    """Observed from the driver's model load: the run's actors exist then and finish starting
    (loading their models) while it loads; a small job still gets every row once, in order."""

    from movinet_cli.cli.console import Console
    from movinet_cli.commands import distributed
    (tmp_path / "small").mkdir()
    for index, colour in enumerate([RED, GREEN, BLUE]):
        colour_video(f"small/{index}.mp4", [(colour, 1.0)], fps=20, size=(48, 32))
    started, ready = [], []
    real_init, real_load = distributed.Actors.__init__, Console.load_model
    monkeypatch.setattr(distributed.Actors, "__init__", lambda self, *args, **options: (real_init(self, *args, **options), started.append(self))[0])

    def load_model(self, *args, **options):
        ready.extend(ray.get([handle.__ray_ready__.remote() for actors in started for handle in actors.handles]))
        return real_load(self, *args, **options)

    monkeypatch.setattr(Console, "load_model", load_model)
    result = run("batch", tmp_path / "small", "-o", "-", "--format", "jsonl", "-m", tiny_models.base, "--size", 16, "--ray", "--ray-actors", 2)
    assert result.exit_code == 0, result.stderr
    assert len(ready) == 2
    assert [line.split('"')[3] for line in result.stdout.splitlines()] == ["0.mp4", "1.mp4", "2.mp4"]


@needs_ray
@needs_sklearn
def test_a_trained_model_dir_runs_on_ray_with_the_users_classes(local_ray, palette_models, labelled_folders, videos, tmp_path, monkeypatch):
    warm, cool = [(220, 40, 40), (200, 60, 50), (230, 200, 30)], [(40, 40, 220), (60, 50, 200), (30, 200, 60)]
    clips = labelled_folders({"warm": warm, "cool": cool})
    monkeypatch.chdir(tmp_path)  # a relative MODEL_DIR: each actor starts elsewhere
    trained = run("train", clips, "-o", "my-classes", "--model", palette_models.base, "--labels", palette_models.labels, "--size", 16, "-q")
    assert trained.exit_code == 0, trained.output
    common = ["--model", "my-classes", "-k", 1]
    local = run("batch", videos, "-o", tmp_path / "local.csv", *common)
    distributed = run("batch", videos, "-o", tmp_path / "ray.csv", *common, "--ray", "--ray-actors", 1)
    assert distributed.exit_code == local.exit_code == 1, distributed.output  # the empty and the dangling file
    rows = read_rows(tmp_path / "ray.csv")
    assert_same_rows(read_rows(tmp_path / "local.csv"), rows)
    answers = {row["path"]: row["label_1"] for row in rows if row["status"] == "ok"}
    assert answers["clip 0.mp4"] == answers["sub/clip 3.mp4"] == "warm" and answers["clip 2.mp4"] == "cool"
    refused = run("batch", videos, "-o", tmp_path / "crop.csv", *common, "--resize", "squash", "--ray")
    assert refused.exit_code == 2 and "trained on videos read with --resize crop, not squash" in refused.stderr
    assert not (tmp_path / "crop.csv").exists()  # before any work


def test_without_ray_the_option_says_what_to_install(tiny_models, videos, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    result = run("batch", videos, "-o", tmp_path / "r.csv", "-m", tiny_models.base, "--ray")
    assert result.exit_code == 1 and "pip install 'movinet-cli[ray]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "r.csv").exists()
    usage = run("batch", videos, "-o", tmp_path / "r.csv", "--ray-actors", 2)
    assert usage.exit_code == 2 and "with --ray only" in usage.stderr


@pytest.fixture
def two_nodes():
    """A simulated cluster on this machine: a head and a second node of 1 CPU each."""
    if ray is None:
        pytest.skip(needs_ray.kwargs["reason"])
    from ray.cluster_utils import Cluster

    ray.shutdown()  # the module's local Ray, if any
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


@needs_ray
def test_a_two_node_cluster_gives_the_rows_of_the_local_batch(two_nodes, tiny_models, videos, tmp_path):
    common = ["-m", tiny_models.stream, "--size", 16, "-k", 2]
    run("batch", videos, "-o", tmp_path / "local.csv", *common)
    # One actor of 1 CPU per node: both nodes work.
    distributed = run("batch", videos, "-o", tmp_path / "ray.csv", *common, f"--ray={two_nodes.address}")
    assert distributed.exit_code == 1 and "6 ok, 2 failed" in distributed.stderr
    assert_same_rows(read_rows(tmp_path / "local.csv"), read_rows(tmp_path / "ray.csv"))
    assert not ray.is_initialized()  # the CLI disconnected


@pytest.mark.parametrize(
    "address, message",
    [
        ("127.0.0.1:1", "cannot reach a Ray cluster at 127.0.0.1:1: Connection refused"),
        ("ray://127.0.0.1:1", "cannot reach a Ray cluster at ray://127.0.0.1:1: Connection refused"),
        ("nonexistent-host.invalid:6379", "cannot find the Ray cluster's host nonexistent-host.invalid"),
        ("garbage%%", "Ray address 'garbage%%' is not host:port"),
        ("127.0.0.1:99999", "Ray address '127.0.0.1:99999' is not host:port"),
    ],
)
def test_an_address_with_no_cluster_is_one_line_without_waiting(address, message):
    from movinet_cli.commands.distributed import RayConnectionError, reach

    with pytest.raises(RayConnectionError, match="^" + message.replace("(", r"\(")) as raised:
        reach(address, timeout_s=5)
    assert "\n" not in str(raised.value)


@needs_ray
@pytest.mark.parametrize("how", ["option", "environment"])
def test_batch_with_an_address_that_does_not_answer_fails_in_one_line(tiny_models, videos, tmp_path, how):
    import subprocess

    from conftest import ROOT

    command = [sys.executable, "-m", "movinet_cli", "batch", str(videos), "-o", str(tmp_path / "r.csv"), "-m", tiny_models.base, "-q"]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    if how == "option":
        command.append("--ray=127.0.0.1:1")
    else:
        command.append("--ray")
        environment["RAY_ADDRESS"] = "127.0.0.1:1"
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 1 and done.stderr == "Error: cannot reach a Ray cluster at 127.0.0.1:1: Connection refused\n", done.stderr
