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
    import openvino

    return openvino
