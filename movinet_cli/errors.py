"""Typed errors raised by the library; the CLI turns each into one line on stderr."""


class MovinetError(Exception):
    """Base class for every error a user can cause or fix (bad file, missing model, ...)."""


class VideoError(MovinetError):
    """A video cannot be opened or does not hold enough frames to classify."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelError(MovinetError):
    """A model cannot be found, downloaded, loaded or run."""


class UsageError(MovinetError):
    """A request that cannot be carried out as asked, found before any work is done: exit
    code 2 on the command line."""


class ModelKindError(ModelError, UsageError):
    """A model of one kind (base or stream) was asked to run in the other kind's mode."""


class LabelsError(MovinetError):
    """A label file is missing or does not match the model's output width."""


class EngineError(ModelError):
    """An inference engine is unavailable or failed to prepare a model."""


class OutputError(MovinetError):
    """An output file cannot be written (a missing directory, a full disk, ...)."""


def one_line(error: BaseException, limit: int = 300) -> str:
    """``error``'s message on one line (its name if it has none), at most ``limit`` characters:
    a library's multi-line message fits in an error row or after "Error: "."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
