"""Converting MoViNet SavedModels into OpenVINO models, once, in a child process.

Both kinds convert straight from the SavedModel directory with OpenVINO's TensorFlow
frontend; no model is loaded into TensorFlow (loading the A5 stream model into it took 100 s
and 6 GB, more than the conversion itself). Base models convert with a dynamic ``image``
shape. Stream models convert the ``call`` signature (picked by its tensor names) of a copy
whose large function bodies are cut into chains of small ones (``graph_split``: OpenVINO's
translation time grows with the square of a body), then are reshaped to a static batch,
frame size and states with only the frame count dynamic (at least 1), their state slices
simplified (``stream_graph``), and cached per frame size; the
state shapes for a frame size come from converting and running the ``init_states``
signature first. (The runtime, ``engines.openvino``, reshapes either to
each chunk's or window's static shape before compiling.)

A conversion runs in a child process that saves its result into the cache
(``engines.cache``) and reports its phases: it logs a line per phase and a heartbeat,
and first what to expect: the model's graph size at this machine's pace, remembered from its
last conversion of that kind (``ConversionPace``). Where the cache cannot be written, it runs in
this process and its result is kept in memory.
"""

from __future__ import annotations

import datetime
import logging
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from movinet_cli._lazy import convert_model, openvino
from movinet_cli.errors import EngineError, one_line
from movinet_cli.inputs import children
from movinet_cli.machine import MachineBook, positive_number
from movinet_cli.model.engines import graph_split, stream_graph
from movinet_cli.model.engines.cache import CacheUnwritable, ConversionCache, saved_model_identity
from movinet_cli.model.registry import Variant
from movinet_cli.model.saved_model import Signature, read_signatures

logger = logging.getLogger(__name__)  # notices: the command line shows them on stderr

CONVERTER_VERSION = 6  # bump when the conversion below changes what it writes (6: stream slices simplified)
HEARTBEAT_S = 15  # a conversion says it is alive at least this often
# What a conversion will take is this machine's last pace times the model's graph size
# (saved_model.pb, MB) to a power, measured on a 2-core x86 machine: a base model's time
# grows to about the power 1.5 (0.05 s per MB**1.5); a stream model's, its graph cut into
# parts first (graph_split), in about proportion (Hub-like stream exports: A0, 22 MB, 10 s;
# A5, 118 MB, 49 s: 0.43 s per MB). Uncut, OpenVINO's TensorFlow frontend (2026.4)
# translated a function body in time ~ nodes x edges (A5: 310 to 542 s). Before a first
# conversion of a kind on a machine, DEFAULT_PACE.
GRAPH_EXPONENT = {"base": 1.5, "stream": 1.0}
DEFAULT_PACE = {"base": 0.05, "stream": 0.43}  # seconds per MB**GRAPH_EXPONENT of saved_model.pb (above)
PACE_FILE = "conversion-pace.json"  # in the conversion cache: per machine and kind, the last pace
PACE_FILE_LIMIT = 1 << 16  # bytes: hundreds of machines
PACE_VERSION = 2  # 2: a stream pace per MB (per MB**1.5 before the graph was cut)

Phase = Callable[[str], None]  # told the name of each phase of a conversion as it starts


def entry_key(cache: ConversionCache, directory: str, frame_size: tuple[int, int] | None) -> str:
    """The cache key of a model's conversion: one per base model (``frame_size`` None), one
    per frame size (height, width) for a stream model; keyed by the SavedModel's content and
    this converter's version too."""
    identity = saved_model_identity(directory)
    if frame_size:
        return cache.key(model=identity, kind="stream", frame_size=list(frame_size), converter=CONVERTER_VERSION)
    return cache.key(model=identity, kind="base", converter=CONVERTER_VERSION)


def converted(cache: ConversionCache, directory: str, frame_size: tuple[int, int] | None, announce: Announcer) -> tuple[str, Callable[[], Any], dict]:
    """The model in ``directory`` converted (a base model: ``frame_size`` None; a stream
    model: for frames of ``frame_size`` (height, width)), from the cache, or converted into
    it now. Returns its cache key, a function that returns the ``ov.Model`` and its
    description (``meta``: for a stream model, where the image, states and logits sit among
    its ports). Where the cache holds the conversion, the model is read (and checked) when
    that function is first called: a compiled model in the cache needs no converted one.
    Raises EngineError if OpenVINO cannot convert it."""
    key = entry_key(cache, directory, frame_size)
    meta = cache.description(key)
    if meta is None:
        now, meta = _read_or_convert(cache, key, directory, frame_size, announce)
        return key, lambda: now, meta
    lock, read = threading.Lock(), list[Any]()

    def model() -> Any:
        with lock:  # a compile ahead (a thread of its own) may ask too
            if not read:  # a damaged entry is converted again
                read.append(_read_or_convert(cache, key, directory, frame_size, announce)[0])
            return read[0]

    return key, model, meta


def _read_or_convert(cache: ConversionCache, key: str, directory: str, frame_size: tuple[int, int] | None, announce: Announcer) -> tuple[Any, dict]:
    """Entry ``key``'s ``(ov.Model, meta)``, checked, converting it first where it is missing or damaged."""
    cached = cache.load(key)
    if cached is None:
        if frame_size is None:
            convert(cache, key, announce, _convert_base, directory)
        else:
            detail = f" at {frame_size[0]}x{frame_size[1]}"
            convert(cache, key, announce, _convert_stream, directory, tuple(frame_size), detail=detail)
        cached = cache.load_converted(key)
    return cached


def convert(cache: ConversionCache, key: str, announce: Announcer, function: Callable[..., tuple[Any, dict]], *args: object, detail: str = "") -> None:
    """Runs ``function(*args, phase) -> (ov.Model, meta)`` in a child process that saves the
    result as ``cache``'s entry ``key``, unless another process (a second run, another Ray
    actor on this node) is converting it: then waits for that one, under the entry's lock,
    and uses its entry. Where the cache cannot be written, converts in this process and
    keeps the result in memory."""
    if cache.writable:
        try:
            with cache.locked(key, announce.waiting):
                if not cache.holds(key):  # else converted by the process we waited for
                    announce.start(detail)
                    _in_child(_convert_into, (str(cache.root), key, function, *args), announce, cache.sweep)
                    announce.done()
            return
        except CacheUnwritable as error:
            cache.cannot_write(str(error))
    announce.start(detail, cached=False)
    cache.keep(key, *function(*args, announce.phase))
    announce.done()


def _convert_stream(directory: str, frame_size: tuple[int, int], phase: Callable[[str], None]) -> tuple[object, dict]:
    """Converts the ``call`` signature with static batch, frame size and states, and a
    dynamic frame count, straight from the SavedModel (OpenVINO's TensorFlow frontend takes
    the signature's tensor names as inputs and outputs: no TensorFlow). Returns the model
    and where (image, *states) and (logits, *states) sit among its inputs and outputs."""
    signatures = read_signatures(directory)
    call = signatures["call"]
    names = sorted(name for name in call.inputs if name != "image")
    phase("finding the state shapes")
    shapes = _state_shapes(directory, signatures["init_states"], frame_size)
    for name in names:
        shapes.setdefault(name, call.inputs[name].shape or ())  # constant states (frame counts) fold away there
    unknown = [name for name in names if not shapes[name] or min(shapes[name]) < 0]
    if unknown:
        raise EngineError(f"OpenVINO cannot convert the stream model: no static shape for states {unknown[:3]}")
    outputs = [call.outputs[name].name for name in ["logits", *names]]
    try:
        with tempfile.TemporaryDirectory(prefix="movinet-split-") as split:
            # OpenVINO translates a function body in time ~ nodes x edges: the large `call`
            # body is cut into a chain of small ones first (A5 Hub-like: 589 s to 26 s).
            phase("cutting the graph into parts")
            graph_split.split_saved_model(directory, split)
            phase("converting")
            # Converted with the signature's own (dynamic) shapes, then fixed: OpenVINO's frontend
            # takes about half the time than when given the static shapes (A5: 66 s against 115 s).
            model = convert_model(split, output=outputs)
        input_positions = _positions([["image"], *([name] for name in names)], model.inputs)
        # At least one frame a step: the bound that proves the state slices' rewrite exact.
        frames = openvino().PartialShape([1, openvino().Dimension(1, -1), *frame_size, 3])
        static = [frames, *(list(shapes[name]) for name in names)]
        model.reshape({model.inputs[i]: shape for i, shape in zip(input_positions, static)})
        phase("simplifying the state plumbing")
        stream_graph.simplify_slices(model)
    except EngineError:
        raise
    except Exception as error:
        raise EngineError(f"OpenVINO cannot convert the stream model: {one_line(error)}") from None
    # OpenVINO names an output that shares its input's name "<name>_1".
    output_positions = _positions([["logits"], *([name, f"{name}_1"] for name in names)], model.outputs)
    state_specs = [(list(shapes[name]), model.inputs[i].get_element_type().to_dtype().str) for name, i in zip(names, input_positions[1:])]
    meta = {"kind": "stream", "frame_size": list(frame_size), "states": names, "state_specs": state_specs}
    return model, {**meta, "inputs": input_positions, "outputs": output_positions}


def _state_shapes(directory: str, init_states: Signature, frame_size: tuple[int, int]) -> dict[str, tuple[int, ...]]:
    """The shapes of the states for one-frame chunks of ``frame_size``: the ``init_states``
    signature alone, converted and run (it only makes zeros)."""
    try:
        model = convert_model(directory, output=[tensor.name for tensor in init_states.outputs.values()])
        request = openvino().Core().compile_model(model, "CPU").create_infer_request()
        request.infer({0: np.array([1, 1, *frame_size, 3], model.inputs[0].get_element_type().to_dtype())})
    except Exception as error:
        raise EngineError(f"OpenVINO cannot convert the stream model's init_states: {one_line(error)}") from None
    return {port.get_any_name(): tuple(request.get_output_tensor(i).shape) for i, port in enumerate(model.outputs)}


def _positions(candidates: list[list[str]], ports) -> list[int]:
    """For each list of candidate names, the index of the OpenVINO port carrying one of them."""
    by_name = {name: index for index, port in enumerate(ports) for name in port.get_names()}
    positions = [next((by_name[name] for name in names if name in by_name), None) for names in candidates]
    missing = [names[0] for names, position in zip(candidates, positions) if position is None]
    if missing:
        raise EngineError(f"converted model lacks ports for {missing[:3]}")
    return [position for position in positions if position is not None]  # all of them


def _convert_base(directory: str, phase: Callable[[str], None]) -> tuple[object, dict]:
    """OpenVINO reads the base SavedModel itself (its TensorFlow frontend): no TensorFlow here."""
    phase("converting")
    try:
        return convert_model(directory), {"kind": "base"}
    except Exception as error:
        raise EngineError(f"OpenVINO cannot convert the model: {one_line(error)}") from None


def _convert_into(cache_root: str, key: str, convert: Callable[..., tuple[Any, dict]], *args: Any) -> None:
    """``convert(*args[:-1], phase)`` (``phase`` last in ``args``), saved as entry ``key``."""
    model, meta = convert(*args)
    args[-1]("saving")
    ConversionCache(Path(cache_root)).store(key, model, meta)


def graph_size(directory: str) -> float:
    """The size of the SavedModel's graph (``saved_model.pb``) in MB (1e6 bytes); 0 if unreadable."""
    try:
        return (Path(directory) / "saved_model.pb").stat().st_size / 1e6
    except OSError:
        return 0.0


def _valid_pace(entry) -> bool:
    return isinstance(entry, dict) and positive_number(entry.get("seconds_per_unit"), 1e6)


class ConversionPace(MachineBook):
    """This machine's conversion pace, remembered in ``directory`` (the conversion cache) as
    ``PACE_FILE``: for each kind (base, stream), the seconds per unit of graph
    (``saved_model.pb`` MB ** GRAPH_EXPONENT[kind]) of the last conversion (see ``MachineBook``:
    a damaged file is ignored, the default pace used, and replaced by the next ``remember``)."""

    def __init__(self, directory: Path):
        super().__init__(Path(directory) / PACE_FILE, "conversion pace file", PACE_FILE_LIMIT, PACE_VERSION, _valid_pace)

    def expected_s(self, kind: str, graph_mb: float) -> tuple[float, bool]:
        """Seconds a conversion of a ``kind`` model whose graph is ``graph_mb`` MB will take
        here, and whether that comes from a conversion on this machine (else DEFAULT_PACE)."""
        entry = self.entry(kind)
        pace = float(entry["seconds_per_unit"]) if entry else DEFAULT_PACE[kind]
        return pace * graph_mb ** GRAPH_EXPONENT[kind], entry is not None

    def remember(self, kind: str, graph_mb: float, seconds: float) -> None:
        """Records that converting a ``kind`` model of ``graph_mb`` MB took ``seconds`` here
        (written atomically; a file that cannot be written is only not remembered)."""
        if graph_mb > 0 and seconds > 0:  # else nothing to learn from
            entry = {"seconds_per_unit": seconds / graph_mb ** GRAPH_EXPONENT[kind], "measured_at": datetime.datetime.now().isoformat(timespec="seconds")}
            self.record(kind, entry)


def duration(seconds: float) -> str:
    """``seconds`` as a person says it ahead: "a few seconds", "about 40 seconds", "about 9 minutes"."""
    if seconds < 20:
        return "a few seconds"
    if seconds < 90:
        return f"about {round(seconds / 10) * 10} seconds"
    return f"about {round(seconds / 60)} minutes"


class Announcer:
    """Tells the user that a conversion runs: which phase, for how long so far, and what to
    expect (from this machine's last conversion pace and the model's graph size: ``ConversionPace``),
    on a line at each phase and every HEARTBEAT_S seconds within one; and remembers the pace
    of each conversion it saw done."""

    def __init__(self, variant: Variant | None, kind: str, directory: str, cache_root: Path):
        self._kind, self._directory, self._cache_root = kind, directory, cache_root
        self._name = f"{variant.model_id.upper()} {kind}" if variant else f"this {kind} model"
        self._graph_mb = 0.0  # read when a conversion starts
        self._pace: ConversionPace | None = None
        self._started = self._said = time.monotonic()
        self._phase = "starting"

    def waiting(self) -> None:
        self._say("Another movinet is converting this model for OpenVINO; waiting for it...")

    def start(self, detail: str = "", cached: bool = True) -> None:
        self._started = time.monotonic()
        self._graph_mb, self._pace = graph_size(self._directory), ConversionPace(self._cache_root)
        expected_s, measured = self._pace.expected_s(self._kind, self._graph_mb)
        size = f"{self._graph_mb:.0f}" if self._graph_mb >= 10 else f"{self._graph_mb:.1f}"
        basis = "at this machine's last conversion pace" if measured else f"from its {size} MB graph"
        then = ", once; then cached" if cached else ""
        self._say(f"Converting the model for OpenVINO{detail} ({self._name}: {duration(expected_s)} {basis}{then})...")

    def phase(self, name: str) -> None:
        self._phase = name
        self._say(f"  {name}... ({self.elapsed_s():.0f} s)")

    def tick(self) -> None:
        if time.monotonic() - self._said >= HEARTBEAT_S:
            self._say(f"  {self._phase}... ({self.elapsed_s():.0f} s)")

    def done(self) -> None:
        elapsed = self.elapsed_s()
        self._say(f"  converted in {elapsed:.0f} s")
        if self._pace:
            self._pace.remember(self._kind, self._graph_mb, elapsed)

    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    def _say(self, message: str) -> None:
        self._said = time.monotonic()
        logger.info(message)


def _in_child(function: Callable[..., Any], args: tuple, announce: Announcer, sweep: Callable[[], None]) -> Any:
    """Runs ``function(*args, phase)`` in a fresh process, relaying its phases to
    ``announce``. Converting loads the SavedModel into TensorFlow and builds OpenVINO's
    graph: gigabytes for A5 that this process would keep, slowing its own first inferences
    (measured here: 36 s instead of 13 s for an A5 window).

    The child ignores Ctrl-C: on Ctrl-C, an error or exit here it is killed, and ``sweep``
    then removes what it was writing; it exits by itself if this process dies. A daemonic
    process (a multiprocessing.Pool worker) may not start one: it converts itself.
    """
    if multiprocessing.current_process().daemon:
        return function(*args, announce.phase)
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(sender, os.getpid(), function, args), daemon=True)
    children.start(child)
    sender.close()
    try:
        while True:
            if not receiver.poll(1.0):
                announce.tick()
                continue
            try:
                what, value = receiver.recv()
            except EOFError:
                child.join()
                raise EngineError(f"the OpenVINO conversion process died ({children.exit_reason(child.exitcode)})") from None
            if what == "phase":
                announce.phase(value)
            elif what == "error":
                raise value
            else:
                return value
    finally:
        receiver.close()
        children.end(child)
        sweep()


def _child_main(sender: Connection, parent_pid: int, function: Callable[..., Any], args: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides, and cleans up
    children.end_with_parent(parent_pid)
    try:
        result = ("result", function(*args, lambda name: sender.send(("phase", name))))
    except EngineError as error:
        result = ("error", error)
    except Exception as error:  # sent as one picklable type; the parent shows one line
        result = ("error", EngineError(f"the OpenVINO conversion failed: {type(error).__name__}: {one_line(error)}"))
    sender.send(result)
