"""The OpenVINO engine: MoViNet SavedModels converted once, cached on disk, run on the CPU.

On a 2-core CPU it runs the same SavedModel one to two orders of magnitude faster than
TensorFlow. This module is the runtime: the precision, compiling each input shape (a
window's or chunk's static shape makes faster CPU code than a dynamic one) and the clip
and stream models. Converting is ``engines.conversion``'s job (once, in a child process),
keeping conversions ``engines.cache``'s and compiled models ``engines.blobs``'s.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from movinet_cli import environment
from movinet_cli._lazy import openvino
from movinet_cli.errors import EngineError, one_line
from movinet_cli.model.engines.blobs import Blobs
from movinet_cli.model.engines.cache import ConversionCache
from movinet_cli.model.engines.conversion import Announcer, converted, entry_key
from movinet_cli.model.engines.features import pooled_input
from movinet_cli.model.registry import Variant
from movinet_cli.model.saved_model import describe
from movinet_cli.options import PRECISIONS

NAME = "openvino"
# Compiled input shapes kept per model (windows or chunk lengths). Live compiles every chunk
# length it uses at start, powers of two up to one second of frames (1..32 up to 63 fps), and
# must keep them all so that none is compiled again mid-session.
COMPILED_SHAPES_KEPT = 6
# What is compiled from a converted model, in the names of the compiled models kept in the cache
# (imported without the converted model, so nothing else tells them apart): change it with
# _with_features, _reshaped or the compile config, and the models compiled before are not used.
COMPILED_VERSION = 1


def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX), as OpenVINO sees it."""
    capabilities = openvino().Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "BF16" in capabilities


def supports_bf16() -> bool:
    """Whether to take the CPU as computing bf16 natively: ``$MOVINET_NATIVE_BF16`` where set
    (``environment.native_bf16``), else the CPU's own answer (``cpu_has_native_bf16``). Every
    precision decision asks this, so that each is tested on any CPU."""
    told = environment.native_bf16()
    return cpu_has_native_bf16() if told is None else told


def resolve_precision(precision: str) -> tuple[str, str]:
    """The precision to run (``"f32"`` or ``"bf16"``) for ``precision`` (one of PRECISIONS),
    and why. ``auto`` is bf16 where the CPU has it natively: the published MoViNets were
    trained and evaluated in bf16 (Model Garden configs: mixed_precision_dtype bfloat16), so
    it costs no fidelity, and it is faster there. Raises EngineError for bf16 without support."""
    if precision not in PRECISIONS:
        raise EngineError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        if supports_bf16():
            return "bf16", "auto: the CPU has native bf16, the precision the published models were trained and evaluated in"
        return "f32", "auto: the CPU has no native bf16"
    if precision == "bf16" and not supports_bf16():
        raise EngineError("--precision bf16 needs a CPU with bf16 support (AVX-512 BF16 or AMX); this one has none")
    return precision, f"requested with --precision {precision}"


class _Compiler:
    """Compiles OpenVINO models for the CPU with the chosen precision (and a blob cache)."""

    def __init__(self, precision: str):
        self.precision, self.precision_reason = resolve_precision(precision)
        self.core = openvino().Core()
        # OpenVINO otherwise picks bf16 silently on CPUs that have it: always say which.
        self.config: dict[str, str | int] = {"INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "LATENCY"}
        threads = environment.cpu_threads()
        if threads:  # a share of a machine (a Ray actor's CPUs)
            self.config["INFERENCE_NUM_THREADS"] = threads
        self.setup_seconds = 0.0  # converting and compiling so far: one-time work, not a video's

    @functools.cached_property
    def _blob_config(self) -> str:
        """The name of how this compiler compiles, for its compiled models in the cache: the
        precision, then a hash of COMPILED_VERSION, the config and the CPU's name. Not the
        threads: OpenVINO takes them when it imports."""
        made = {key: value for key, value in self.config.items() if key != "INFERENCE_NUM_THREADS"}
        what = json.dumps([COMPILED_VERSION, made, self.core.get_property("CPU", "FULL_DEVICE_NAME")], sort_keys=True)
        return f"{self.precision}-{hashlib.sha256(what.encode()).hexdigest()[:12]}"

    def compile(self, model_of: Callable[[], Any], blobs: Blobs, shape: str):
        """``model_of()`` compiled, or its compiled blob for ``shape`` (a name for its input
        shape) imported from ``blobs``, where the cache holds it (then ``model_of`` is not called)."""
        began = time.perf_counter()
        try:
            return blobs.compiled(
                shape,
                self._blob_config,
                lambda: self.core.compile_model(model_of(), "CPU", self.config),
                lambda blob: self.core.import_model(blob, "CPU", self.config),
            )
        except EngineError:  # a conversion's, say
            raise
        except Exception as error:
            raise EngineError(f"OpenVINO cannot compile the model: {one_line(error)}") from None
        finally:
            self.setup_seconds += time.perf_counter() - began


def _reshaped(model, input_index: int, shape: list[int]):
    """A copy of ``model`` with input ``input_index`` fixed to ``shape`` (static shapes
    compile to faster CPU code than dynamic ones)."""
    copy = model.clone()
    copy.reshape({copy.inputs[input_index]: shape})
    return copy


def in_background(work: Callable[[], object]) -> None:
    """Runs ``work`` in a thread of its own, a failure ignored: what it prepares is prepared
    again, raising then, by the call that needs it. OpenVINO releases the GIL while it reads,
    reshapes and compiles a model, so this runs beside a caller waiting for decoded frames.
    Not a daemon: the interpreter waits for it at exit rather than stop it inside OpenVINO."""

    def run() -> None:
        try:
            work()
        except Exception:  # the foreground call does it again, and reports
            pass

    threading.Thread(target=run, name="movinet-compile-ahead").start()


class _CompiledByShape:
    """Infer requests for one model (``model()`` returns it, read when a compile needs it),
    compiled per input shape, the least recently used dropped; one compile at a time
    (``compile_ahead`` compiles in a background thread)."""

    def __init__(self, model: Callable[[], Any], compiler: _Compiler, blobs: Blobs, input_index: int = 0, output: str = "logits"):
        self.model, self._compiler, self._blobs, self._input_index = model, compiler, blobs, input_index
        self._output = output  # what the model gives ("logits", "features"): two models of a shape are two blobs
        self._requests: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, shape: tuple):
        with self._lock:
            if shape not in self._requests:
                name = f"{self._output}-{'x'.join(map(str, [1, *shape]))}"
                compiled = self._compiler.compile(lambda: _reshaped(self.model(), self._input_index, [1, *shape]), self._blobs, name)
                self._requests[shape] = compiled.create_infer_request()
                while len(self._requests) > COMPILED_SHAPES_KEPT:
                    self._requests.popitem(last=False)
            self._requests.move_to_end(shape)
            return self._requests[shape]

    def holds(self, shape: tuple) -> bool:
        """Whether ``shape`` is compiled (and kept)."""
        return shape in self._requests


LINEAR_TYPES = {"Convolution", "GroupConvolution", "MatMul"}


def _with_features(model, logits_index: int, also: list[int]):
    """A model on ``model``'s inputs whose outputs are the pooled features before output
    ``logits_index`` (see ``engines.features``), then the outputs at ``also``."""

    def data_inputs(node):
        values = (node.input_value(index) for index in range(node.get_input_size()))
        return [(value, value.get_node()) for value in values if value.get_node().get_type_name() != "Constant"]

    features = pooled_input(model.outputs[logits_index].get_node(), data_inputs, lambda node: node.get_type_name() in LINEAR_TYPES)
    return openvino().Model([features, *(model.outputs[index] for index in also)], model.get_parameters(), "features")


def _image(frames: np.ndarray) -> np.ndarray:
    """Frames [T, H, W, 3] as the model's image input [1, T, H, W, 3] float32, C-contiguous:
    a view of ``frames`` where they are so already (a window, a chunk), else a copy."""
    return np.ascontiguousarray(frames[np.newaxis], np.float32)


def _infer(request: Any, inputs: dict[int, np.ndarray]) -> None:
    """Runs ``request`` on ``inputs`` (input port index -> array), sharing each array's
    memory rather than copying it into the request (``share_inputs``): a 10-s window at
    ``--fps 60 --size 640`` is 2.95 GB. OpenVINO still copies an array it cannot share (not
    C-contiguous or writable, or of another dtype than the port's). The arrays must not
    change while it runs: ``infer`` returns when it is done, and none of ours is written
    after it is made."""
    request.infer(inputs, share_inputs=True)


class OpenVinoClipModel:
    """A base MoViNet on OpenVINO: clip [T, H, W, 3] float32 -> logits [C] float32."""

    engine = NAME

    def __init__(self, model: Callable[[], Any], compiler: _Compiler, blobs: Blobs, num_classes: int):
        self._model, self._compiler, self._blobs = model, compiler, blobs
        self._request_for = _CompiledByShape(model, compiler, blobs)
        self._features_for: _CompiledByShape | None = None  # made on first use
        self.num_classes = num_classes
        self.precision, self.precision_reason = compiler.precision, compiler.precision_reason

    @property
    def setup_seconds(self) -> float:
        return self._compiler.setup_seconds

    def compile_ahead(self, clip_shape: tuple[int, int, int, int]) -> None:
        """Compiles clips of ``clip_shape`` [T, H, W, 3] in the background (see ``in_background``),
        so that the first ``logits`` of that shape need not (while its frames are decoded, say)."""
        if not self._request_for.holds(clip_shape):
            in_background(lambda: self._request_for(clip_shape))

    def logits(self, clip: np.ndarray) -> np.ndarray:
        request = self._request_for(clip.shape)
        _infer(request, {0: _image(clip)})
        return request.get_output_tensor(0).data[0].copy()

    def features(self, clip: np.ndarray) -> np.ndarray:
        """The pooled features [F] float32 before the classifier (see ``engines.features``)."""
        if self._features_for is None:
            self._features_for = _CompiledByShape(functools.cache(lambda: _with_features(self._model(), 0, [])), self._compiler, self._blobs, output="features")
        request = self._features_for(clip.shape)
        _infer(request, {0: _image(clip)})
        return request.get_output_tensor(0).data.reshape(-1).copy()


class StreamStates:
    """A stream's states, held by the engine between steps (callers pass them on unopened).

    The states live in two sets of OpenVINO tensors: a step reads one set and writes the
    other (bound to the request's ports: ``set_input_tensor``, ``set_output_tensor``), and the
    next step reads what it wrote, so no state is copied between steps nor passes through
    NumPy. States stay valid until the states made from them are stepped from in turn (which
    writes over their set): states may be stepped from again (the zero states, say), while
    states two steps back are gone, and stepping from them raises EngineError.

    OpenVINO's stateful models (ReadValue/Assign, ``MakeStateful``) were measured too, on the
    A0 stream export (f32, 1 thread, 8-frame steps, CPU time, median of 16 rounds): 0.963x
    the time of copying the states through NumPy, these 0.983x. They were not taken: each
    compiled chunk length's request holds its own states (live changes length from step to
    step: a copy each time), and the precision in which the CPU plugin keeps them under a
    bf16 hint was not checked (no bf16 CPU here); these stay at the model's own f32."""

    def __init__(self, sets: list[list[Any]], held: list[object], index: int):
        # held[i]: the token of the states that set i holds now (a token, not the states: no cycle)
        self._sets, self._held, self._index, self._token = sets, held, index, object()
        held[index] = self._token

    @classmethod
    def zeros(cls, specs: list[tuple[list[int], str]]) -> StreamStates:
        """Zero states of ``specs`` ((shape, NumPy dtype string) each), and room for the next."""
        ov = openvino()
        sets = [[ov.Tensor(np.zeros(shape, dtype)) for shape, dtype in specs] for _ in range(2)]
        return cls(sets, [None, None], 0)

    def bind(self, request: Any, inputs: list[int], outputs: list[int]) -> StreamStates:
        """Binds these states to ``request``'s state ``inputs`` and the other set to its state
        ``outputs`` (port indices); returns the states that its next inference writes."""
        if self._held[self._index] is not self._token:
            raise EngineError("these stream states were written over by a later step: step from the states the last step returned")
        read, write = self._sets[self._index], self._sets[1 - self._index]
        for port, tensor in zip(inputs, read):
            request.set_input_tensor(port, tensor)
        for port, tensor in zip(outputs, write):
            request.set_output_tensor(port, tensor)
        return StreamStates(self._sets, self._held, 1 - self._index)  # the other set's states are gone


class OpenVinoStreamModel:
    """A stream MoViNet on OpenVINO. Its states are a ``StreamStates``, kept in the engine.

    The model is converted once per frame size with a dynamic frame count, and compiled per
    chunk length (a reshape, about a second) rather than converted again.
    """

    engine = NAME

    def __init__(self, directory: str, cache: ConversionCache, compiler: _Compiler, num_classes: int, announce: Announcer):
        self._directory = directory
        self._cache, self._compiler, self._announce = cache, compiler, announce
        self._by_frame_size: dict[tuple, tuple[_CompiledByShape, dict]] = {}
        self._features_by_frame_size: dict[tuple, _CompiledByShape] = {}
        self._lock = threading.Lock()  # one load of a frame size's conversion at a time
        self.num_classes = num_classes
        self.precision, self.precision_reason = compiler.precision, compiler.precision_reason

    @property
    def setup_seconds(self) -> float:
        return self._compiler.setup_seconds

    def _converted(self, frame_size: tuple[int, int]) -> tuple[_CompiledByShape, dict]:
        with self._lock:
            if frame_size not in self._by_frame_size:
                began = time.perf_counter()
                key, model, meta = converted(self._cache, self._directory, frame_size, self._announce)
                request_for = _CompiledByShape(model, self._compiler, Blobs(self._cache, key), meta["inputs"][0])
                self._by_frame_size[frame_size] = (request_for, meta)
                self._compiler.setup_seconds += time.perf_counter() - began
            return self._by_frame_size[frame_size]

    def compile_ahead(self, chunk_shape: tuple[int, int, int, int]) -> None:
        """Loads the model for chunks of ``chunk_shape`` [n, H, W, 3] and compiles that shape in the
        background (see ``in_background``), where the cache holds its conversion (a conversion
        is the first step's, in the foreground, where it is announced)."""
        frame_size = (chunk_shape[1], chunk_shape[2])
        loaded = self._by_frame_size.get(frame_size)
        if loaded and loaded[0].holds(chunk_shape):
            return

        def load_and_compile() -> None:  # the cache key (a hash of the SavedModel) too, off the caller's time
            if loaded or self._cache.holds(entry_key(self._cache, self._directory, frame_size)):
                self._converted(frame_size)[0](chunk_shape)

        in_background(load_and_compile)

    def _features_converted(self, frame_size: tuple[int, int]) -> tuple[_CompiledByShape, dict]:
        """Like ``_converted``, for the model whose outputs are the pooled features, then the
        states (its ``meta`` says so: outputs 0, 1, ...)."""
        request_for, meta = self._converted(frame_size)
        if frame_size not in self._features_by_frame_size:
            logits, *states = meta["outputs"]
            model = functools.cache(lambda: _with_features(request_for.model(), logits, states))
            self._features_by_frame_size[frame_size] = _CompiledByShape(model, self._compiler, request_for._blobs, meta["inputs"][0], "features")
        return self._features_by_frame_size[frame_size], {**meta, "outputs": list(range(1 + len(meta["states"])))}

    def init_states(self, chunk_shape: tuple[int, int, int]) -> StreamStates:
        """Zero states (what the Hub's ``init_states`` returns) for chunks of (frames, height, width)."""
        _, meta = self._converted((chunk_shape[1], chunk_shape[2]))
        return StreamStates.zeros(meta["state_specs"])

    def _run(self, converted: tuple[_CompiledByShape, dict], frames: np.ndarray, states: StreamStates) -> tuple[np.ndarray, StreamStates]:
        """Runs the model of ``converted`` on ``frames`` from ``states``: its first output [F] (a copy) and the states after."""
        request_for, meta = converted
        request = request_for(frames.shape)
        (image_index, *state_inputs), (first, *state_outputs) = meta["inputs"], meta["outputs"]
        after = states.bind(request, state_inputs, state_outputs)
        _infer(request, {image_index: _image(frames)})
        return request.get_output_tensor(first).data.reshape(-1).copy(), after

    def step(self, frames: np.ndarray, states: StreamStates) -> tuple[np.ndarray, StreamStates]:
        return self._run(self._converted(frames.shape[1:3]), frames, states)

    def step_features(self, frames: np.ndarray, states: StreamStates) -> tuple[np.ndarray, StreamStates]:
        """Like ``step``, with the pooled features [F] float32 after these frames in place of the logits."""
        return self._run(self._features_converted(frames.shape[1:3]), frames, states)


def open_model(
    directory: str,
    cache_root: Path,
    precision: str = "f32",
    variant: Variant | None = None,
):
    """Opens ``directory`` on OpenVINO, converting (once) what the cache lacks.

    Its kind and class count come from ``saved_model.pb`` (no TensorFlow). A conversion is
    logged while it runs (``conversion.Announcer``), ``variant`` (if known) giving the expected time.
    Returns an OpenVinoClipModel or OpenVinoStreamModel. Raises EngineError if OpenVINO
    cannot convert or compile the model, or the cache is unusable.
    """
    info = describe(directory)
    cache = ConversionCache(cache_root)
    compiler = _Compiler(precision)
    announce = Announcer(variant, info.kind, directory, cache.root)
    if info.kind == "stream":
        return OpenVinoStreamModel(directory, cache, compiler, info.num_classes, announce)
    key, model, _ = converted(cache, directory, None, announce)
    return OpenVinoClipModel(model, compiler, Blobs(cache, key), info.num_classes)


def prepare(directory: str, cache_root: Path, size: int, variant: Variant | None = None) -> None:
    """Converts the model in ``directory`` into the cache now (a stream model for frames of
    ``size`` x ``size`` pixels), so that a later run starts without converting; a damaged
    conversion in the cache is found (it is read) and converted again."""
    info = describe(directory)
    cache = ConversionCache(cache_root)
    announce = Announcer(variant, info.kind, directory, cache.root)
    _, model, _ = converted(cache, directory, (size, size) if info.kind == "stream" else None, announce)
    model()


def is_converted(directory: str, cache_root: Path, frame_size: tuple[int, int] | None) -> bool:
    """Whether the cache holds the conversion of the model in ``directory`` that a run needs
    (``frame_size`` (height, width) for a stream model, None for a base model), without loading it."""
    cache = ConversionCache(cache_root)
    return cache.holds(entry_key(cache, directory, frame_size))
