"""Option types and the option groups shared by the commands, with the values they build.

Each default is the library's (``options.py``): the options only show it. The groups turn
the parsed options into ``ReadOptions``, ``RunOptions`` and ``ModelOptions`` once, at the edge.
"""

from __future__ import annotations

import functools
import math
import os

import click

from movinet_cli import environment
from movinet_cli.model.registry import MODES
from movinet_cli.options import (
    AGGREGATES,
    ENGINES,
    MAX_CHUNK,
    MAX_DOWNLOAD_BYTES,
    MAX_FPS,
    MAX_SIZE,
    MIN_FPS,
    MIN_SIZE,
    MODEL_RESIZE,
    PRECISIONS,
    RESIZE_MODES,
    ModelOptions,
    ReadOptions,
    RunOptions,
)
from movinet_cli.text import format_size, parse_size

MODEL_VARIABLE = environment.MODEL  # the default --model, for people who always run their own

# The exit codes of the commands that classify videos (classify, train, embed): their --help's epilog.
EXIT_CODES = """\b
Exit codes: 0 all videos classified, 1 a video or the model failed
(the others still run), 2 usage error (a model of the wrong kind for
--mode too), 130 interrupted."""


class FiniteFloat(click.FloatRange):
    """A FloatRange that refuses nan and inf (which pass its comparisons): every float option's type."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def options(*decorators):
    """One decorator applying several click options, listed in --help order."""

    def decorate(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate


engine_option = click.option(
    "--engine", type=click.Choice(ENGINES), default=ModelOptions.engine, show_default=True, help="auto: TensorFlow if it sees a GPU, else OpenVINO."
)
precision_option = click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=ModelOptions.precision,
    show_default=True,
    help="OpenVINO inference precision: auto is bf16 (the published models' own) where the CPU has it natively, else f32; "
    "bf16 is refused on a CPU without it.",
)
labels_option = click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False),
    default=ModelOptions.labels,
    help="Label file, one per line in logit order (for a fine-tuned model).  [default: labels.txt inside a local model's directory, else Kinetics-600]",
)
fps_option = click.option(
    "--fps", type=FiniteFloat(min=MIN_FPS, max=MAX_FPS), default=ReadOptions.fps, help=f"Frames/s fed to the model, {MIN_FPS:g} to {MAX_FPS}.  [default: the model's]"
)
size_option = click.option(
    "--size",
    type=click.IntRange(min=MIN_SIZE, max=MAX_SIZE),
    default=ReadOptions.size,
    help=f"Frame size in pixels (square), {MIN_SIZE} to {MAX_SIZE}.  [default: the model's]",
)
top_k_option = click.option("--top-k", "-k", type=click.IntRange(min=1), default=RunOptions.top_k, show_default=True, help="Labels per video.")
min_probability_option = click.option(
    "--min-probability",
    type=FiniteFloat(0, 1),
    default=RunOptions.min_probability,
    show_default=True,
    help="A video or timeline segment whose top label is less probable is 'no clear action' (its probability still given).",
)
def _console_setting(name: str):
    """An option callback setting the run's console (``console.Console``) field ``name``."""

    def callback(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        from movinet_cli.cli.console import of_context

        if value:
            setattr(of_context(ctx), name, True)

    return callback


def quiet_option(help: str = "No progress bars or notices on stderr."):
    """--quiet/-q: the run's console says only failures and results."""
    return click.option("--quiet", "-q", is_flag=True, expose_value=False, callback=_console_setting("quiet"), help=help)


verbose_option = click.option(
    "--verbose", "-v", is_flag=True, expose_value=False, callback=_console_setting("verbose"), help="Say which model and engine run, and why."
)


class ByteSize(click.ParamType):
    """A number of bytes as people write it (``text.parse_size``: 500M, 2G, 4096), at least 1."""

    name = "size"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            size = parse_size(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)
        if size < 1:
            self.fail(f"{value!r} is less than a byte.", param, ctx)
        return size


max_download_option = click.option(
    "--max-download",
    type=ByteSize(),
    default=MAX_DOWNLOAD_BYTES,
    show_default=format_size(MAX_DOWNLOAD_BYTES),
    help="The most bytes a VIDEO from a URL or standard input may have (it is held in a temporary file): 500M, 4G, ...",
)


def model_inputs(load: ModelOptions, limit: int = 10_000) -> list[str]:
    """The files a run reads its model from, which no output of it may replace: the label
    file, and a local model directory (a SavedModel or a MODEL_DIR of ``movinet train``, in
    which no output may be written) with its files (its ``labels.txt`` included), ``limit``
    at most."""
    paths = [load.labels] if load.labels else []
    if load.model and os.path.isdir(load.model):
        paths.append(load.model)
        for folder, _, names in os.walk(load.model):
            paths += [os.path.join(folder, name) for name in names]
            if len(paths) > limit:
                break
    return paths[:limit]


def check_precision(engine: str, precision: str) -> None:
    """Refuses, before any work, a precision that cannot run as named: bf16 on a CPU without
    native bf16 or on TensorFlow (a silent f32 would be another precision than the one asked for)."""
    if precision != "bf16":
        return
    if engine == "tensorflow":
        raise click.BadParameter("bf16 runs on the OpenVINO engine only; --engine tensorflow computes in f32", param_hint="--precision")
    from movinet_cli.model.engines.openvino import supports_bf16

    if not supports_bf16():
        raise click.BadParameter(
            "this CPU has no native bf16 (AVX-512 BF16 or AMX): use --precision auto or f32", param_hint="--precision"
        )


def _model_value(function):
    """Passes the command ``load`` (``options.ModelOptions``) in place of the options it is built from."""

    @functools.wraps(function)
    def wrapper(*args, model, mode, engine, precision, labels, **kwargs):
        check_precision(engine, precision)
        return function(*args, load=ModelOptions(model=model, mode=mode, engine=engine, precision=precision, labels=labels), **kwargs)

    return wrapper


def _note_model_from_environment(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Notes in ``ctx.meta`` (shared with the group) a model taken from $MOVINET_MODEL, so
    that an error about it can say where it came from."""
    if value is not None and param.name and ctx.get_parameter_source(param.name) is click.core.ParameterSource.ENVIRONMENT:
        ctx.meta[MODEL_VARIABLE] = value
    return value


model_option = click.option(
    "--model",
    "-m",
    default=ModelOptions.model,
    envvar=MODEL_VARIABLE,
    show_envvar=True,
    callback=_note_model_from_environment,
    help="Registry name (a0-base ... a5-stream, or a0 ... a5), TF Hub/Kaggle URL, or SavedModel "
    "directory.  [default: a5-base; a5-stream with --mode stream]",
)

model_options = options(
    model_option,
    click.option(
        "--mode",
        type=click.Choice(tuple(MODES)),
        default=ModelOptions.mode,
        help="clip: a base model on windows of up to 10 s; stream: a stream model frame by frame, "
        "states carried.  [default: clip, or the kind of --model]",
    ),
    engine_option,
    precision_option,
    labels_option,
    _model_value,
)


def _stream_model_value(function):
    """Passes ``load`` (``options.ModelOptions`` in stream mode) in place of live's model options."""

    @functools.wraps(function)
    def wrapper(*args, model, engine, precision, labels, **kwargs):
        check_precision(engine, precision)
        return function(*args, load=ModelOptions(model=model, mode="stream", engine=engine, precision=precision, labels=labels), **kwargs)

    return wrapper


stream_model_options = options(
    click.option(
        "--model", "-m", default=None,
        help="A stream model: registry name, URL or SavedModel directory.  [default: the largest downloaded stream "
        "variant that keeps up on this machine, measured once; a5-stream if none is downloaded]",
    ),
    engine_option,
    precision_option,
    labels_option,
    _stream_model_value,
)


def _frame_value(function):
    """Passes ``read`` (``options.ReadOptions`` of --fps and --size) in place of those options."""

    @functools.wraps(function)
    def wrapper(*args, fps, size, **kwargs):
        return function(*args, read=ReadOptions(fps=fps, size=size), **kwargs)

    return wrapper


frame_options = options(fps_option, size_option, _frame_value)


def _option_values(function):
    """Passes the command ``read`` and ``run`` (``options.ReadOptions`` and ``RunOptions``)
    in place of the options they are built from (--top-k and --min-probability where the
    command has them)."""

    @functools.wraps(function)
    def wrapper(*args, fps, size, resize, start, end, chunk, aggregate, top_k=RunOptions.top_k, min_probability=RunOptions.min_probability, **kwargs):
        if end is not None and end <= start:
            raise click.BadParameter(f"--end ({end:g}) must be after --start ({start:g})", param_hint="--end")
        read = ReadOptions(fps=fps, size=size, resize=resize, start=start, end=end)
        run = RunOptions(top_k=top_k, chunk=chunk, aggregate=aggregate, min_probability=min_probability)
        return function(*args, read=read, run=run, **kwargs)

    return wrapper


input_options = options(
    fps_option,
    size_option,
    click.option(
        "--resize",
        type=click.Choice(RESIZE_MODES),
        default=ReadOptions.resize,
        help=(
            "crop: shorter side to the variant's eval size, then centre crop (Kinetics eval); squash; pad (letterbox). "
            f"Default: {MODEL_RESIZE}; for a MODEL_DIR of movinet train, the one it was trained with (the only one it takes)."
        ),
    ),
    click.option("--start", type=FiniteFloat(min=0), default=ReadOptions.start, help="Start at this second of the video."),
    click.option("--end", type=FiniteFloat(min=0, min_open=True), default=ReadOptions.end, help="Stop at this second."),
    click.option(
        "--chunk",
        type=click.IntRange(min=1, max=MAX_CHUNK, clamp=True),
        default=RunOptions.chunk,
        show_default=True,
        help=f"Stream mode: frames per model call, at most {MAX_CHUNK} (the result does not depend on it).",
    ),
    click.option(
        "--aggregate",
        type=click.Choice(AGGREGATES),
        default=RunOptions.aggregate,
        show_default=True,
        help="Stream mode: the model's latest output, or the mean over all frames.",
    ),
    _option_values,
)
