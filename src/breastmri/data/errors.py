"""The one exception type for bad input: it always names the offending file and the problem."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad input data. ``str(err)`` is ``"<path>: <problem>"`` so the user knows what to fix."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")

    def __reduce__(self):  # pickled by its two arguments, so an error raised in a worker process arrives whole
        return type(self), (self.path, self.problem)
