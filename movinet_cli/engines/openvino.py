"""The OpenVINO engine: MoViNet SavedModels converted once, cached on disk, run on the CPU.

On a 2-core CPU it runs the same SavedModel one to two orders of magnitude faster than
TensorFlow. Conversion is slow (seconds for A0 base, minutes for A5 stream), so converted
models are kept under ``<cache>/openvino/``, keyed by the SavedModel's content, the input
shapes fixed at conversion, the OpenVINO version and this converter's version. An entry is
written to a temporary directory and renamed into place, and records the size and CRC-32 of
each file it holds; OpenVINO's compiled blobs (``<cache>/openvino/compiled/<key>/``) are
recorded the same way when written. Both are checked before use, so a partial or damaged
entry or blob, a file where an entry directory should be, or a lock that is not a file, is
removed and rebuilt, saying so in one line. A cache that cannot be written (a read-only or
full filesystem) is run without: the model is converted in this process, each run, saying so
in one line.

Both kinds convert straight from the SavedModel directory with OpenVINO's TensorFlow
frontend; TensorFlow is never loaded (loading the A5 stream model into it took 100 s and
6 GB, more than the conversion itself). Base models convert with a dynamic ``image``
shape. Stream models convert the ``call`` signature (picked by its tensor names), then are
reshaped to a static batch, frame size and states with only the frame count dynamic, and
cached per frame size; the state shapes for a frame size come from converting and running
the ``init_states`` signature first. Either is reshaped to each chunk's or window's
static shape before compiling, which makes faster CPU code.

Conversion runs in a child process that reports its phases; ``log`` gets a line per phase
and a heartbeat, with the expected duration for the variant.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import time
import tempfile
import threading
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

from .._lazy import openvino
from ..errors import EngineError, UsageError, one_line
from ..options import PRECISIONS
from ..models import Variant
from ..saved_model import Signature, describe, read_signatures
from .features import pooled_input

NAME = "openvino"
CPU_THREADS_VARIABLE = "MOVINET_CPU_THREADS"  # set: inference threads this process may use
MAX_CPU_THREADS = 4096
CONVERTER_VERSION = 4  # bump when the conversion below changes what it writes
# Compiled input shapes kept per model (windows or chunk lengths). Live compiles every chunk
# length it uses at start, powers of two up to one second of frames (1..32 up to 63 fps), and
# must keep them all so that none is compiled again mid-session.
COMPILED_SHAPES_KEPT = 6
HEARTBEAT_S = 15  # a conversion says it is alive at least this often
# What a first conversion costs, measured on a 2-core x86 machine (benchmarks/cold_start.py:
# A0 base 1-2 s, A5 base 5-8 s, A0 stream 10 s, A5 stream 60-100 s).
CONVERSION_TIMES = {
    **{(model_id, "base"): "a few seconds" for model_id in ("a0", "a1", "a2")},
    **{(model_id, "base"): "about ten seconds" for model_id in ("a3", "a4", "a5")},
    **{(model_id, "stream"): "about ten seconds" for model_id in ("a0", "a1", "a2")},
    **{(model_id, "stream"): "a minute or two" for model_id in ("a3", "a4", "a5")},
}
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_STAGING = re.compile(r"\.partial-(\d+)-")  # <key>.partial-<pid>-<random>: an entry being written


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(path: Path) -> list[int]:
    """``[size, CRC-32]`` of a file: what an entry records of each file and checks on use.
    CRC-32 rather than a cryptographic hash: it guards against damage (a torn write, a bad
    block, a stray edit), not against someone who can write the cache anyway, and it is
    cheap: about 0.07 s for an A5-sized (60 MB) model.bin here, against 0.5 s for SHA-256
    (one run on a busy 2-core machine)."""
    size = crc = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            size, crc = size + len(block), zlib.crc32(block, crc)
    return [size, crc]


def saved_model_identity(directory: str) -> str:
    """A content hash of a SavedModel: its graph and its variables index (which holds the
    checksum of every weight), so a changed model never reuses a stale conversion."""
    digest = hashlib.sha256()
    for name in ("saved_model.pb", "variables/variables.index"):
        path = Path(directory, name)
        if path.is_file():
            digest.update(name.encode() + _sha256_of(path).encode())
    return digest.hexdigest()[:24]


class CacheUnwritable(EngineError):
    """The cache cannot be written (read-only, full, not ours): run without it."""


# errno values that mean "this filesystem will not take our files", not a bug of ours.
_UNWRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}
ENTRY_FILES = ("model.xml", "model.bin")


def _remove(path: Path) -> None:
    """Removes whatever ``path`` is (a directory tree, a file, a link); gone already is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _damage(entry: Path) -> str | None:
    """What is wrong with the finished entry ``entry`` (None: nothing), checking each file
    against the size and CRC-32 its meta.json recorded."""
    if not entry.is_dir():
        return "a file, not a directory"
    try:
        recorded = json.loads((entry / "meta.json").read_text())["files"]
        for name in ENTRY_FILES:
            if _fingerprint(entry / name) != recorded[name]:
                return f"{name} does not match its recorded size and checksum"
    except FileNotFoundError as error:
        return f"{Path(error.filename).name} is missing"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"its description is unreadable ({type(error).__name__})"
    return None


class ConversionCache:
    """Converted OpenVINO models on disk: ``<root>/<key>/{model.xml, model.bin, meta.json}``.

    An entry is written by one process into ``<key>.partial-<pid>-*`` and renamed into place
    complete; staging directories of processes that no longer run are swept away. ``log``
    gets one line for each damaged entry rebuilt, and one if the cache cannot be written
    (then conversions are kept in memory for this process only)."""

    def __init__(self, root: Path, log: Callable[[str], None] | None = None):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise EngineError(f"the OpenVINO cache {self.root} is a file, not a directory; remove it or set MOVINET_CACHE_DIR")
        self._log = log
        self.writable = True
        self._in_memory: dict[str, tuple] = {}  # key -> (model, meta), when not writable

    def notice(self, message: str) -> None:
        if self._log:
            self._log(message)

    def cannot_write(self, reason: str) -> None:
        """From now on, this process converts without the cache (said once)."""
        if self.writable:
            self.writable = False
            self.notice(f"warning: the OpenVINO cache {self.root} cannot be written ({reason}); running without caching (converting in this process, on every run)")

    def key(self, **fields) -> str:
        fields.update(openvino=openvino().__version__, converter=CONVERTER_VERSION)
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]

    def holds(self, key: str) -> bool:
        """Whether a finished entry is there (not checked against its checksums)."""
        return (self.root / key / "meta.json").is_file()

    def load(self, key: str):
        """Returns ``(ov.Model, meta)`` for a complete entry, or None. A damaged entry is
        removed, saying so, to be converted again."""
        if key in self._in_memory:
            return self._in_memory[key]
        entry = self.root / key
        if not (entry.exists() or entry.is_symlink()):
            return None
        damage = _damage(entry)
        if damage is None:
            try:
                meta = json.loads((entry / "meta.json").read_text())
                return openvino().Core().read_model(str(entry / "model.xml")), meta
            except Exception as error:  # checksums match, yet OpenVINO refuses it (written by a bug)
                damage = f"OpenVINO cannot read it: {one_line(error, 120)}"
        self.notice(f"warning: the OpenVINO cache entry {entry} is damaged ({damage}); converting it again")
        _remove(entry)
        return None

    def load_converted(self, key: str):
        """Like ``load``, for an entry that a conversion just wrote: raises if it is not there."""
        cached = self.load(key)
        if cached is None:
            raise EngineError(f"the OpenVINO conversion left no usable model in {self.root / key}")
        return cached

    def convert(self, key: str, announce: "_Announcer", convert, *args, detail: str = "") -> None:
        """Runs ``convert(*args, phase) -> (ov.Model, meta)`` in a child process that saves the
        result as entry ``key``, unless another process (a second run, another Ray actor on
        this node) is converting it: then waits for that one, under a lock on ``<key>.lock``,
        and uses its entry. Where the cache cannot be written, converts in this process and
        keeps the result in memory."""
        if self.writable:
            try:
                self._convert_locked(key, announce, convert, args, detail)
                return
            except CacheUnwritable as error:
                self.cannot_write(str(error))
        announce.start(detail, cached=False)
        self._in_memory[key] = convert(*args, announce.phase)
        announce.done()

    def _convert_locked(self, key: str, announce: "_Announcer", convert, args: tuple, detail: str) -> None:
        lock_path = self.root / f"{key}.lock"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if lock_path.is_symlink() or lock_path.exists() and not lock_path.is_file():
                self.notice(f"warning: the OpenVINO cache lock {lock_path} is not a file; replacing it")
                _remove(lock_path)
            lock = open(lock_path, "a")
        except OSError as error:
            if error.errno in _UNWRITABLE:
                raise CacheUnwritable(_reason(error)) from None
            raise EngineError(f"cannot create the OpenVINO cache {self.root}: {error.strerror or error}") from None
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                announce.waiting()
                fcntl.flock(lock, fcntl.LOCK_EX)
            if self.holds(key):  # converted by the process we waited for
                return
            announce.start(detail)
            _in_child(_convert_into, (str(self.root), key, convert, *args), announce, self.sweep)
            announce.done()

    def store(self, key: str, model, meta: dict) -> None:
        """Saves ``model`` with ``meta`` atomically; another process's finished copy wins.
        Raises CacheUnwritable if the filesystem will not take it."""
        entry = self.root / key
        staging = None
        try:
            self.sweep()
            staging = Path(tempfile.mkdtemp(prefix=f"{key}.partial-{os.getpid()}-", dir=self.root))
            try:
                openvino().save_model(model, str(staging / "model.xml"), compress_to_fp16=False)
            except Exception as error:  # OpenVINO says "basic_ios::clear: iostream error", no errno
                raise _disk_full_or(error, staging, model) from None
            files = {name: _fingerprint(staging / name) for name in ENTRY_FILES}
            (staging / "meta.json").write_text(json.dumps({**meta, "files": files}, indent=1))
            if (entry.exists() or entry.is_symlink()) and _damage(entry):
                _remove(entry)  # a file or a broken entry in the way: ours replaces it
            os.replace(staging, entry)
        except OSError as error:
            if not self.holds(key):
                if error.errno in _UNWRITABLE:
                    raise CacheUnwritable(_reason(error)) from None
                raise
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)

    def sweep(self) -> None:
        """Removes staging directories whose writing process has ended (killed mid-write)."""
        for path in self.root.glob("*.partial-*"):
            match = _STAGING.search(path.name)
            if match and not _process_exists(int(match[1])):
                shutil.rmtree(path, ignore_errors=True)


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


def _disk_full_or(error: Exception, staging: Path, model) -> OSError:
    """The OSError for a failed save: ENOSPC when the filesystem has less room than the
    model's weights (OpenVINO's own message does not say so), else the error as it is."""
    weights = sum(op.get_byte_size() for op in model.get_ops() if op.get_type_name() == "Constant")
    shutil.rmtree(staging, ignore_errors=True)
    if shutil.disk_usage(staging.parent).free < weights + (1 << 20):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return OSError(f"OpenVINO cannot save the converted model: {one_line(error)}")


class _Blobs:
    """OpenVINO's compiled blobs for one cache entry, ``<root>/compiled/<key>/``, checked.

    OpenVINO loads a blob it finds there without checking its bytes (a damaged one gave NaN
    answers), so each blob it writes is recorded (size and CRC-32, in ``checksums.json``)
    and each one is checked before OpenVINO may read it, once per process; a damaged or
    unrecorded blob is removed, and OpenVINO compiles (and writes) it again."""

    def __init__(self, cache: ConversionCache, key: str):
        self.cache, self.directory = cache, cache.root / "compiled" / key
        self._checked: dict[str, list[int]] = {}  # blob name -> fingerprint checked in this process
        self._usable = cache.writable

    def compile(self, compile_with: Callable[[dict], object]):
        """``compile_with(extra_config)`` with OpenVINO's blob cache in this entry's directory
        when it can be trusted and written, else without it."""
        if not (self._usable and self.cache.writable):
            return compile_with({})
        lock_path = self.directory.parent / f"{self.directory.name}.lock"
        try:
            if self.directory.is_symlink() or self.directory.exists() and not self.directory.is_dir():
                self.cache.notice(f"warning: {self.directory} in the OpenVINO cache is not a directory; replacing it")
                _remove(self.directory)
            self.directory.mkdir(parents=True, exist_ok=True)
            if lock_path.is_symlink() or lock_path.exists() and not lock_path.is_file():
                self.cache.notice(f"warning: the OpenVINO cache lock {lock_path} is not a file; replacing it")
                _remove(lock_path)
            lock = open(lock_path, "a")
        except OSError as error:
            self._usable = False
            self.cache.cannot_write(_reason(error))
            return compile_with({})
        with lock:  # one process compiles and records a blob at a time
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._check()
            except OSError as error:  # a blob we cannot remove: do not let OpenVINO read it
                self._usable = False
                self.cache.cannot_write(_reason(error))
                return compile_with({})
            compiled = compile_with({"CACHE_DIR": str(self.directory)})
            with contextlib.suppress(OSError):  # unrecorded, the blob is only compiled again
                self._record()
            return compiled

    def _recorded(self) -> dict:
        try:
            return json.loads((self.directory / "checksums.json").read_text())
        except (OSError, ValueError):
            return {}

    def _check(self) -> None:
        recorded = self._recorded()
        for blob in self.directory.glob("*.blob"):
            if blob.name in self._checked and self._checked[blob.name] == recorded.get(blob.name):
                continue
            fingerprint = _fingerprint(blob)
            if fingerprint == recorded.get(blob.name):
                self._checked[blob.name] = fingerprint
                continue
            if blob.name in recorded:  # an unrecorded one was left by a process that died
                self.cache.notice(f"warning: the compiled model {blob} in the OpenVINO cache is damaged; compiling it again")
            _remove(blob)

    def _record(self) -> None:
        recorded = self._recorded()
        for blob in self.directory.glob("*.blob"):  # new ones (a damaged one's name included)
            if blob.name not in self._checked or self._checked[blob.name] != recorded.get(blob.name):
                recorded[blob.name] = self._checked[blob.name] = _fingerprint(blob)
        staging = self.directory / f"checksums.json.partial-{os.getpid()}"
        staging.write_text(json.dumps(recorded))
        os.replace(staging, self.directory / "checksums.json")


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def cpu_threads() -> int | None:
    """``$MOVINET_CPU_THREADS``: the inference threads this process may use, None if unset.
    Raises UsageError (one line naming the variable) unless it is a whole number from 1 to
    MAX_CPU_THREADS (not capped at this machine's CPUs: a Ray node may claim more than it has,
    and OpenVINO uses at most the cores there are)."""
    text = os.environ.get(CPU_THREADS_VARIABLE, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_CPU_THREADS):
        raise UsageError(f"{CPU_THREADS_VARIABLE} must be a whole number of threads from 1 to {MAX_CPU_THREADS}, got {text!r}")
    return int(text)


def supports_bf16() -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX), as OpenVINO sees it."""
    capabilities = openvino().Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "BF16" in capabilities


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
        self.config = {"INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "LATENCY"}
        threads = cpu_threads()
        if threads:  # a share of a machine (a Ray actor's CPUs)
            self.config["INFERENCE_NUM_THREADS"] = threads
        self.setup_seconds = 0.0  # converting and compiling so far: one-time work, not a video's

    def compile(self, model, blobs: _Blobs):
        """``model`` compiled, through the checked blob cache ``blobs``."""
        began = time.perf_counter()
        try:
            return blobs.compile(lambda extra: self.core.compile_model(model, "CPU", {**self.config, **extra}))
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


class _CompiledByShape:
    """Infer requests for one model, compiled per input shape, the least recently used dropped."""

    def __init__(self, model, compiler: _Compiler, blobs: _Blobs, input_index: int = 0):
        self._model, self._compiler, self._blobs, self._input_index = model, compiler, blobs, input_index
        self._requests: OrderedDict = OrderedDict()

    def __call__(self, shape: tuple):
        if shape not in self._requests:
            compiled = self._compiler.compile(_reshaped(self._model, self._input_index, [1, *shape]), self._blobs)
            self._requests[shape] = compiled.create_infer_request()
            while len(self._requests) > COMPILED_SHAPES_KEPT:
                self._requests.popitem(last=False)
        self._requests.move_to_end(shape)
        return self._requests[shape]


LINEAR_TYPES = {"Convolution", "GroupConvolution", "MatMul"}


def _with_features(model, logits_index: int, also: list[int]):
    """A model on ``model``'s inputs whose outputs are the pooled features before output
    ``logits_index`` (see ``engines.features``), then the outputs at ``also``."""

    def data_inputs(node):
        values = (node.input_value(index) for index in range(node.get_input_size()))
        return [(value, value.get_node()) for value in values if value.get_node().get_type_name() != "Constant"]

    features = pooled_input(model.outputs[logits_index].get_node(), data_inputs, lambda node: node.get_type_name() in LINEAR_TYPES)
    return openvino().Model([features, *(model.outputs[index] for index in also)], model.get_parameters(), "features")


class OpenVinoClipModel:
    """A base MoViNet on OpenVINO: clip [T, H, W, 3] float32 -> logits [C] float32."""

    engine = NAME

    def __init__(self, model, compiler: _Compiler, blobs: _Blobs, num_classes: int):
        self._model, self._compiler, self._blobs = model, compiler, blobs
        self._request_for = _CompiledByShape(model, compiler, blobs)
        self._features_for: _CompiledByShape | None = None  # made on first use
        self.num_classes = num_classes
        self.precision, self.precision_reason = compiler.precision, compiler.precision_reason

    @property
    def setup_seconds(self) -> float:
        return self._compiler.setup_seconds

    def logits(self, clip: np.ndarray) -> np.ndarray:
        request = self._request_for(clip.shape)
        request.infer({0: np.ascontiguousarray(clip[np.newaxis], np.float32)})
        return request.get_output_tensor(0).data[0].copy()

    def features(self, clip: np.ndarray) -> np.ndarray:
        """The pooled features [F] float32 before the classifier (see ``engines.features``)."""
        if self._features_for is None:
            self._features_for = _CompiledByShape(_with_features(self._model, 0, []), self._compiler, self._blobs)
        request = self._features_for(clip.shape)
        request.infer({0: np.ascontiguousarray(clip[np.newaxis], np.float32)})
        return request.get_output_tensor(0).data.reshape(-1).copy()


class OpenVinoStreamModel:
    """A stream MoViNet on OpenVINO. States are a list of NumPy arrays (sorted state names).

    The model is converted once per frame size with a dynamic frame count, and compiled per
    chunk length (a reshape, about a second) rather than converted again.
    """

    engine = NAME

    def __init__(self, directory: str, cache: ConversionCache, compiler: _Compiler, num_classes: int, announce):
        self._directory = directory
        self._cache, self._compiler, self._announce = cache, compiler, announce
        self._by_frame_size: dict[tuple, tuple[_CompiledByShape, dict]] = {}
        self._features_by_frame_size: dict[tuple, _CompiledByShape] = {}
        self.num_classes = num_classes
        self.precision, self.precision_reason = compiler.precision, compiler.precision_reason

    @property
    def setup_seconds(self) -> float:
        return self._compiler.setup_seconds

    def _converted(self, frame_size: tuple[int, int]) -> tuple[_CompiledByShape, dict]:
        if frame_size not in self._by_frame_size:
            began = time.perf_counter()
            key = _entry_key(self._cache, self._directory, frame_size)
            cached = self._cache.load(key)
            if cached is None:
                detail = f" at {frame_size[0]}x{frame_size[1]}"
                self._cache.convert(key, self._announce, _convert_stream, self._directory, tuple(frame_size), detail=detail)
                cached = self._cache.load_converted(key)
            model, meta = cached
            request_for = _CompiledByShape(model, self._compiler, _Blobs(self._cache, key), meta["inputs"][0])
            self._by_frame_size[frame_size] = (request_for, meta)
            self._compiler.setup_seconds += time.perf_counter() - began
        return self._by_frame_size[frame_size]

    def _features_converted(self, frame_size: tuple[int, int]) -> tuple[_CompiledByShape, dict]:
        """Like ``_converted``, for the model whose outputs are the pooled features, then the states."""
        request_for, meta = self._converted(frame_size)
        if frame_size not in self._features_by_frame_size:
            logits, *states = meta["outputs"]
            model = _with_features(request_for._model, logits, states)
            self._features_by_frame_size[frame_size] = _CompiledByShape(model, self._compiler, request_for._blobs, meta["inputs"][0])
        return self._features_by_frame_size[frame_size], meta

    def init_states(self, chunk_shape: tuple[int, int, int]) -> list[np.ndarray]:
        """Zero states (what the Hub's ``init_states`` returns) for chunks of (frames, height, width)."""
        _, meta = self._converted(tuple(chunk_shape[1:]))
        return [np.zeros(shape, dtype) for shape, dtype in meta["state_specs"]]

    def step(self, frames: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        request_for, meta = self._converted(frames.shape[1:3])
        request = request_for(frames.shape)
        image_index, *state_indices = meta["inputs"]
        feed = {image_index: np.ascontiguousarray(frames[np.newaxis], np.float32)}
        feed.update(zip(state_indices, states))
        request.infer(feed)
        logits, *new_states = (request.get_output_tensor(i).data.copy() for i in meta["outputs"])
        return logits[0], new_states

    def step_features(self, frames: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Like ``step``, with the pooled features [F] float32 after these frames in place of the logits."""
        request_for, meta = self._features_converted(frames.shape[1:3])
        request = request_for(frames.shape)
        image_index, *state_indices = meta["inputs"]
        feed = {image_index: np.ascontiguousarray(frames[np.newaxis], np.float32)}
        feed.update(zip(state_indices, states))
        request.infer(feed)
        features, *new_states = (request.get_output_tensor(i).data.copy() for i in range(1 + len(state_indices)))
        return features.reshape(-1), new_states


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
        shapes.setdefault(name, call.inputs[name].shape)  # constant states (frame counts) fold away there
    unknown = [name for name in names if not shapes[name] or min(shapes[name]) < 0]
    if unknown:
        raise EngineError(f"OpenVINO cannot convert the stream model: no static shape for states {unknown[:3]}")
    phase("converting")
    outputs = [call.outputs[name].name for name in ["logits", *names]]
    try:
        # Converted with the signature's own (dynamic) shapes, then fixed: OpenVINO's frontend
        # takes about half the time than when given the static shapes (A5: 66 s against 115 s).
        model = openvino().convert_model(directory, output=outputs)
        input_positions = _positions([["image"], *([name] for name in names)], model.inputs)
        static = [[1, -1, *frame_size, 3], *(list(shapes[name]) for name in names)]
        model.reshape({model.inputs[i]: shape for i, shape in zip(input_positions, static)})
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
        model = openvino().convert_model(directory, output=[tensor.name for tensor in init_states.outputs.values()])
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
    return positions


def _convert_base(directory: str, phase: Callable[[str], None]) -> tuple[object, dict]:
    """OpenVINO reads the base SavedModel itself (its TensorFlow frontend): no TensorFlow here."""
    phase("converting")
    try:
        return openvino().convert_model(directory), {"kind": "base"}
    except Exception as error:
        raise EngineError(f"OpenVINO cannot convert the model: {one_line(error)}") from None


def _convert_into(cache_root: str, key: str, convert, *args) -> None:
    """``convert(*args[:-1], phase)`` (``phase`` last in ``args``), saved as entry ``key``."""
    model, meta = convert(*args)
    args[-1]("saving")
    ConversionCache(Path(cache_root)).store(key, model, meta)


def open_model(
    directory: str,
    cache_root: Path,
    precision: str = "f32",
    log: Callable[[str], None] | None = None,
    variant: Variant | None = None,
):
    """Opens ``directory`` on OpenVINO, converting (once) what the cache lacks.

    Its kind and class count come from ``saved_model.pb`` (no TensorFlow). ``log`` is told
    about a conversion while it runs, with ``variant`` (if known) giving the expected time.
    Returns an OpenVinoClipModel or OpenVinoStreamModel. Raises EngineError if OpenVINO
    cannot convert or compile the model, or the cache is unusable.
    """
    info = describe(directory)
    cache = ConversionCache(cache_root, log)
    compiler = _Compiler(precision)
    announce = _Announcer(log, variant, info.kind)
    if info.kind == "stream":
        return OpenVinoStreamModel(directory, cache, compiler, info.num_classes, announce)
    key = _entry_key(cache, directory, None)
    cached = cache.load(key)
    if cached is None:
        cache.convert(key, announce, _convert_base, directory)
        cached = cache.load_converted(key)
    return OpenVinoClipModel(cached[0], compiler, _Blobs(cache, key), info.num_classes)


def prepare(directory: str, cache_root: Path, size: int, log: Callable[[str], None] | None = None, variant: Variant | None = None) -> None:
    """Converts the model in ``directory`` into the cache now (a stream model for frames of
    ``size`` x ``size`` pixels), so that a later run starts without converting."""
    opened = open_model(directory, cache_root, log=log, variant=variant)
    if isinstance(opened, OpenVinoStreamModel):
        opened.init_states((1, size, size))


def is_converted(directory: str, cache_root: Path, frame_size: tuple[int, int] | None) -> bool:
    """Whether the cache holds the conversion of the model in ``directory`` that a run needs
    (``frame_size`` (height, width) for a stream model, None for a base model), without loading it."""
    cache = ConversionCache(cache_root)
    return cache.holds(_entry_key(cache, directory, frame_size))


def _entry_key(cache: ConversionCache, directory: str, frame_size: tuple[int, int] | None) -> str:
    """The cache key of a model's conversion: one per base model (``frame_size`` None), one
    per frame size for a stream model."""
    identity = saved_model_identity(directory)
    if frame_size:
        return cache.key(model=identity, kind="stream", frame_size=list(frame_size))
    return cache.key(model=identity, kind="base")


class _Announcer:
    """Tells the user that a conversion runs: which phase, for how long so far, and what to
    expect, on a line at each phase and every HEARTBEAT_S seconds within one."""

    def __init__(self, log: Callable[[str], None] | None, variant: Variant | None, kind: str):
        self._log = log
        name = f"{variant.model_id.upper()} {kind}" if variant else f"this {kind} model"
        expected = CONVERSION_TIMES[variant.model_id, kind] if variant else "seconds to minutes"
        self.what = f"{name}: {expected}, once"
        self._started = self._said = time.monotonic()
        self._phase = "starting"

    def waiting(self) -> None:
        self._say("Another movinet is converting this model for OpenVINO; waiting for it...")

    def start(self, detail: str = "", cached: bool = True) -> None:
        self._started = time.monotonic()
        what = f"{self.what}; then cached" if cached else self.what.replace(", once", "")
        self._say(f"Converting the model for OpenVINO{detail} ({what})...")

    def phase(self, name: str) -> None:
        self._phase = name
        self._say(f"  {name}... ({self.elapsed_s():.0f} s)")

    def tick(self) -> None:
        if time.monotonic() - self._said >= HEARTBEAT_S:
            self._say(f"  {self._phase}... ({self.elapsed_s():.0f} s)")

    def done(self) -> None:
        self._say(f"  converted in {self.elapsed_s():.0f} s")

    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    def _say(self, message: str) -> None:
        self._said = time.monotonic()
        if self._log:
            self._log(message)


def _in_child(function, args: tuple, announce: _Announcer, sweep: Callable[[], None]):
    """Runs ``function(*args, phase)`` in a fresh process, relaying its phases to
    ``announce``. Converting loads the SavedModel into TensorFlow and builds OpenVINO's
    graph: gigabytes for A5 that this process would keep, slowing its own first inferences
    (measured here: 36 s instead of 13 s for an A5 window).

    The child ignores Ctrl-C: on Ctrl-C, an error or exit here it is terminated, and
    ``sweep`` then removes what it was writing; it exits by itself if this process dies.
    A daemonic process (a multiprocessing.Pool worker) may not start one: it converts itself.
    """
    from ..isolated import _main_module_hidden  # decoding children start the same way

    if multiprocessing.current_process().daemon:
        return function(*args, announce.phase)
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(sender, os.getpid(), function, args), daemon=True)
    with _main_module_hidden():  # a user's script is not run again in the child
        child.start()
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
                raise EngineError(f"the OpenVINO conversion process died ({_exit_reason(child.exitcode)})") from None
            if what == "phase":
                announce.phase(value)
            elif what == "error":
                raise value
            else:
                return value
    finally:
        receiver.close()
        if child.is_alive():
            child.terminate()
        child.join()
        sweep()


def _child_main(sender, parent_pid: int, function, args: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides, and cleans up
    _end_with_parent(parent_pid)
    try:
        result = ("result", function(*args, lambda name: sender.send(("phase", name))))
    except EngineError as error:
        result = ("error", error)
    except Exception as error:  # sent as one picklable type; the parent shows one line
        result = ("error", EngineError(f"the OpenVINO conversion failed: {type(error).__name__}: {one_line(error)}"))
    sender.send(result)


def _end_with_parent(parent_pid: int) -> None:
    """Ends this process when its parent dies without the chance to end it (SIGKILL, a
    crash). On Linux the kernel sends SIGKILL (PR_SET_PDEATHSIG): a watching thread would
    not run while OpenVINO's converter holds the GIL, for minutes. Elsewhere, that thread."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # it died before the request took effect
            os._exit(1)
    else:
        threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        return f"killed by {name}" + (", perhaps out of memory" if name == "SIGKILL" else "")
    return f"exit code {exitcode}"
