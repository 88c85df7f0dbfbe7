"""``params.yaml``: the single source of settings, read by section."""

from __future__ import annotations

from pathlib import Path

import yaml

from breastmri.data.errors import DataError


def load_params(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "parameters file not found")
    params = yaml.safe_load(path.read_text()) or {}
    if not isinstance(params, dict):
        raise DataError(path, "top level must be a mapping of sections")
    return params


OVERRIDES = "overrides"  # a section holding ``overrides: <earlier section>`` replaces some of that section's keys


def merged_sections(params: dict, sections: list[str], source: str | Path = "params.yaml") -> dict:
    """Merge the named sections into one flat mapping; a key defined by two sections is an error.

    The exception is declared: a section with ``overrides: <name>`` (``<name>`` listed before it) replaces
    values merged so far; every key it sets must already be there (a typo is an error) and not yet overridden
    by another such section (two would silently compete)."""
    merged: dict = {}
    owner: dict[str, str] = {}
    overriders: set[str] = set()
    for section in sections:
        if section not in params:
            raise DataError(source, f"no section '{section}' (sections: {', '.join(sorted(params))})")
        values = params[section]
        if not isinstance(values, dict):
            raise DataError(source, f"section '{section}' must be a mapping")
        values = dict(values)
        base = values.pop(OVERRIDES, None)
        if base is not None and base not in sections[:sections.index(section)]:
            raise DataError(source, f"section '{section}' overrides '{base}', which is not merged before it")
        for key, value in values.items():
            if base is not None and key not in merged:
                raise DataError(source, f"key '{key}' of '{section}' is not a key of '{base}', which it overrides")
            if base is not None and owner[key] in overriders:
                raise DataError(source, f"key '{key}' of '{section}' is already overridden by '{owner[key]}'")
            if key in merged and base is None:
                raise DataError(source, f"key '{key}' is set in both '{owner[key]}' and '{section}'")
            merged[key], owner[key] = value, section
        if base is not None:
            overriders.add(section)
    return merged


def call_with_section(func, params: dict, section: str, source: str | Path = "params.yaml", **fixed):
    """``func(**fixed, **params[section])``: a stage's settings passed by name; a key ``func`` does not take
    (a typo) is an error naming it."""
    import inspect

    values = params.get(section)
    if not isinstance(values, dict):
        raise DataError(source, f"no section '{section}' (sections: {', '.join(sorted(params))})")
    accepted = set(inspect.signature(func).parameters) - set(fixed)
    unknown = sorted(set(values) - accepted)
    if unknown:
        raise DataError(source, f"unknown key(s) in section '{section}': {', '.join(unknown)} "
                                f"(accepted: {', '.join(sorted(accepted))})")
    return func(**fixed, **values)
