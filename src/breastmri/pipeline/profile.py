"""Named parameter profiles (``params.yaml`` section ``profiles``) as ``dvc exp run -S`` options.

``dvc exp run $(breastmri profile gpu)`` runs the pipeline with the published GPU configuration; every
override names an existing ``section.key`` of ``params.yaml``, so a typo in a profile fails here.
"""

from __future__ import annotations

from pathlib import Path

from breastmri.data.errors import DataError


def profile_overrides(params: dict, name: str, source: str | Path = "params.yaml") -> dict[str, object]:
    """The overrides of profile ``name``: ``{"section.key": value}``, each checked against ``params``."""
    profiles = params.get("profiles") or {}
    if name not in profiles:
        raise DataError(source, f"no profile '{name}' (profiles: {', '.join(sorted(profiles)) or 'none'})")
    overrides = profiles[name] or {}
    for dotted in overrides:
        section, _, key = str(dotted).partition(".")
        if not key or section == "profiles" or key not in (params.get(section) or {}):
            raise DataError(source, f"profile '{name}': '{dotted}' is not an existing section.key")
    return dict(overrides)


def set_options(overrides: dict[str, object]) -> list[str]:
    """``["-S", "section.key=value", ...]`` (YAML spelling of booleans, as DVC parses them)."""
    options = []
    for dotted, value in overrides.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        options += ["-S", f"{dotted}={text}"]
    return options
