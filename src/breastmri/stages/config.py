"""A stage's settings: a frozen dataclass whose fields are exactly the keys of its ``params.yaml`` sections.

No field has a default: ``params.yaml`` is the only place a value lives, so a key missing there, a key the stage
does not know (a typo) or a value of the wrong type is an error naming the file and the key."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from breastmri.data.errors import DataError
from breastmri.pipeline.params import load_params, merged_sections


def _accepts(kind, value) -> bool:
    """Whether ``value`` (as YAML gives it) fits the annotation ``kind`` (str, int, float, bool, list, dict or a
    union of them); float accepts an int, int never accepts a bool."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return any(_accepts(k, value) for k in typing.get_args(kind))
    kind = typing.get_origin(kind) or kind
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _type_name(kind) -> str:
    return " or ".join(getattr(k, "__name__", str(k)) for k in typing.get_args(kind)) or getattr(kind, "__name__",
                                                                                                str(kind))


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """Base of every stage's config. ``SECTIONS``: the ``params.yaml`` sections merged, in order, by default."""

    SECTIONS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_mapping(cls, values: Mapping, source: str | Path = "params.yaml"):
        """The config holding ``values``: exactly the fields' keys, each of the field's type."""
        names = cls.keys()
        unknown = sorted(set(values) - set(names))
        missing = [k for k in names if k not in values]
        if unknown or missing:
            problems = ([f"unknown key(s) {', '.join(unknown)}"] if unknown else []) + (
                [f"missing key(s) {', '.join(missing)}"] if missing else [])
            raise DataError(source, f"{'; '.join(problems)} for the stage's sections "
                                    f"{', '.join(cls.SECTIONS)} (keys: {', '.join(names)})")
        hints = typing.get_type_hints(cls)
        for name in names:
            if not _accepts(hints[name], values[name]):
                raise DataError(source, f"'{name}' must be {_type_name(hints[name])}, not {values[name]!r}")
        return cls(**values)

    @classmethod
    def from_params(cls, params_path: str | Path = "params.yaml", sections: Sequence[str] | None = None):
        """The config of ``sections`` (default ``SECTIONS``) of ``params_path``, merged in order."""
        sections = list(sections or cls.SECTIONS)
        return cls.from_mapping(merged_sections(load_params(params_path), sections, params_path), params_path)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.keys()}

    def updated(self, source: str | Path = "overrides", **changes):
        """A copy with ``changes`` (checked like the file's values; a ``Path`` is given as its string)."""
        changes = {k: str(v) if isinstance(v, Path) else v for k, v in changes.items()}
        return type(self).from_mapping({**self.as_dict(), **changes}, source)


def optional(path: str) -> str | None:
    """A path setting where ``""`` means "none"."""
    return path or None


@dataclasses.dataclass(frozen=True)
class DataConfig(StageConfig):
    """The ``data`` section: where the datasets live and how far their affines describe the anatomy."""

    seed_root: str
    mamamia_root: str
    truth_dir: str
    seed_affine: str
    mamamia_affine: str
