"""The environment variables movinet reads: each named, read and checked here, once.

==========================  =====================================================================
``MOVINET_MODEL``           the default ``--model`` of every command but ``live`` (``default_model``)
``MOVINET_CACHE_DIR``       the cache root: downloads, conversions, measurements (``cache_root``)
``TFHUB_CACHE_DIR``         where downloads go, if not the cache root's ``tfhub`` (``hub_cache``)
``MOVINET_CPU_THREADS``     inference threads this process may use; Ray actors set it (``cpu_threads``)
``MOVINET_DECODER_STALL_S`` seconds a decoding child may send nothing before it is stuck (``decoder_stall_s``)
``MOVINET_DOWNLOAD_TIMEOUT_S`` seconds to connect to a video's URL, and per wait for its body (``download_timeout_s``)
``MOVINET_DEBUG``           a failure that is a bug of ours shows its traceback (``debug``)
``MOVINET_NATIVE_BF16``     1 or 0: take the CPU to have native bf16 or not (``native_bf16``; tests set 0)
``RAY_ADDRESS``             the Ray cluster of ``batch --ray`` without an address (``ray_address``)
==========================  =====================================================================

A value that cannot be used is a UsageError naming the variable, raised where it is first
needed (before any video), never a silent default.
"""

from __future__ import annotations

import os
from pathlib import Path

from movinet_cli.errors import UsageError

MODEL = "MOVINET_MODEL"
CACHE_DIR = "MOVINET_CACHE_DIR"
HUB_CACHE_DIR = "TFHUB_CACHE_DIR"
CPU_THREADS = "MOVINET_CPU_THREADS"
DECODER_STALL_S = "MOVINET_DECODER_STALL_S"
DOWNLOAD_TIMEOUT_S = "MOVINET_DOWNLOAD_TIMEOUT_S"
DEBUG = "MOVINET_DEBUG"
NATIVE_BF16 = "MOVINET_NATIVE_BF16"
RAY_ADDRESS = "RAY_ADDRESS"

MAX_CPU_THREADS = 4096
MIN_STALL_S = 1.0  # seconds: below it a decoder that is merely starting (a new process opening a file) would count as stalled
MAX_STALL_S = 7 * 24 * 3600.0  # seconds: a longer wait is no watchdog (and overflows the timer's clock)
DEFAULT_DOWNLOAD_TIMEOUT_S = 30.0  # seconds: a server silent for longer is taken as gone


def _text(name: str) -> str:
    return os.environ.get(name, "").strip()


def default_model() -> str | None:
    """``$MOVINET_MODEL``, None if unset or empty."""
    return _text(MODEL) or None


def cache_root() -> Path | None:
    """``$MOVINET_CACHE_DIR`` (``~`` expanded), None if unset or blank."""
    return Path(os.environ[CACHE_DIR]).expanduser() if _text(CACHE_DIR) else None


def hub_cache() -> Path | None:
    """``$TFHUB_CACHE_DIR`` (``~`` expanded), None if unset or blank."""
    return Path(os.environ[HUB_CACHE_DIR]).expanduser() if _text(HUB_CACHE_DIR) else None


def cpu_threads() -> int | None:
    """``$MOVINET_CPU_THREADS``: the inference threads this process may use, None if unset.
    Raises UsageError (one line naming the variable) unless it is a whole number from 1 to
    MAX_CPU_THREADS (not capped at this machine's CPUs: a Ray node may claim more than it has,
    and OpenVINO uses at most the cores there are)."""
    text = _text(CPU_THREADS)
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_CPU_THREADS):
        raise UsageError(f"{CPU_THREADS} must be a whole number of threads from 1 to {MAX_CPU_THREADS}, got {text!r}")
    return int(text)


def decoder_stall_s() -> float | None:
    """``$MOVINET_DECODER_STALL_S`` as seconds, None if unset; UsageError if it is no
    number of seconds from MIN_STALL_S to MAX_STALL_S."""
    return _seconds(DECODER_STALL_S, MIN_STALL_S)


def download_timeout_s() -> float:
    """``$MOVINET_DOWNLOAD_TIMEOUT_S`` as seconds, DEFAULT_DOWNLOAD_TIMEOUT_S if unset;
    UsageError if it is no positive number of seconds up to MAX_STALL_S."""
    seconds = _seconds(DOWNLOAD_TIMEOUT_S)
    return DEFAULT_DOWNLOAD_TIMEOUT_S if seconds is None else seconds


def _seconds(name: str, minimum: float = 0.0) -> float | None:
    """``$name`` as seconds, above 0 and at least ``minimum``, up to MAX_STALL_S; None if
    unset; else UsageError."""
    text = _text(name)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value <= MAX_STALL_S and value >= minimum):
        least = f"from {minimum:g}" if minimum else "above 0,"
        raise UsageError(f"{name} must be a number of seconds {least} {'to' if minimum else 'at most'} {MAX_STALL_S:g} (a week), got {text!r}")
    return value


def native_bf16() -> bool | None:
    """``$MOVINET_NATIVE_BF16``: "1" takes the CPU to have native bf16, "0" not; None if
    unset (ask the CPU). The one place where the machine's answer can be replaced, so that
    every decision that follows it (auto's precision, the notices saying which ran,
    --precision bf16's refusal) is tested on any CPU; the test suite sets "0". Where OpenVINO
    has no bf16 kernels for the CPU, "1" still computes in f32. UsageError for another value."""
    told = _text(NATIVE_BF16)
    if not told:
        return None
    if told not in ("0", "1"):
        raise UsageError(f"{NATIVE_BF16} must be 1 (take the CPU to have native bf16) or 0 (not), got {told!r}")
    return told == "1"


def debug() -> bool:
    """Whether ``$MOVINET_DEBUG`` is set, to anything but empty, 0, false or no."""
    return _text(DEBUG).lower() not in ("", "0", "false", "no")


def ray_address() -> str | None:
    """``$RAY_ADDRESS``, None if unset or empty."""
    return _text(RAY_ADDRESS) or None
