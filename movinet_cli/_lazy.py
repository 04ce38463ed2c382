"""Heavy imports, done on first use so that ``movinet --help`` stays instant."""

import contextlib
import functools
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """Sends C-level stderr to /dev/null: TensorFlow's absl logging prints start-up notices
    (CUDA probes) before TF_CPP_MIN_LOG_LEVEL takes effect. Python errors still raise."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@functools.cache
def tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_stderr_silenced():
        import tensorflow

        tensorflow.config.list_physical_devices()  # device start-up logs here, once
    return tensorflow


@functools.cache
def tensorflow_hub():
    tensorflow()
    import tensorflow_hub

    return tensorflow_hub


@functools.cache
def openvino():
    """OpenVINO, with its usage telemetry off for this process.

    OpenVINO sends usage events to Google Analytics when it is imported and on every model
    conversion, unless the user opted out (enable_opt_in_dialog=False in
    openvino/tools/ovc/telemetry_utils.py); each event is a forked sender, and without a
    network the interpreter's exit waits for them (a minute for one conversion). OpenVINO
    falls back to its own no-op stub (openvino/tools/ovc/telemetry_stub.py) when the
    ``openvino_telemetry`` package cannot be imported, so it is made unimportable here
    (None in sys.modules), before OpenVINO's first import. This touches neither the user's
    opt-in file nor the environment, and holds in the conversion child, which imports
    OpenVINO through here too. (If the host program imported OpenVINO first, its settings stand.)

    ``import openvino`` also imports its model converter (``openvino.tools.ovc``, for
    ``openvino.convert_model``), which it skips where that cannot be imported: 0.1 to 0.3 s of
    every run's start here (2-core AMD EPYC), and a run whose conversion is cached never
    converts. It is left out the same way, for this import only: ``convert_model`` imports it.
    """
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)
        sys.modules.setdefault("openvino.tools.ovc", None)
        try:
            import openvino  # noqa: F401
        finally:
            if sys.modules.get("openvino.tools.ovc", False) is None:
                del sys.modules["openvino.tools.ovc"]  # importable again, for convert_model
    import openvino

    return openvino


def convert_model(*args, **kwargs):
    """``openvino.convert_model`` (OpenVINO's model converter, imported now: see ``openvino``)."""
    openvino()
    from openvino.tools.ovc import convert_model as convert

    return convert(*args, **kwargs)
