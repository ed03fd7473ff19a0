"""Typed configuration: one dataclass per concern, loaded from YAML, validated, saved resolved.

Every concern (simulation, data collection, model, training, runtime, evaluation) has its own
dataclass. A YAML file in ``config/`` holds one section per concern::

    sim:
      image_size: 64
    model:
      latent_channels: 16

``load_section(path, "sim", SimConfig, overrides=["image_size=32"])`` reads one section, applies
``key=value`` overrides from the command line, and validates: an unknown key or a value of the
wrong type raises :class:`ConfigError` naming the key. ``save_resolved`` writes the resolved
dataclasses beside an output so the output alone says how it was made.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from df_policy.errors import ConfigError

T = TypeVar("T")


def require(ok: bool, key: str, why: str) -> None:
    """Raise ConfigError naming ``key`` unless ``ok``; for ``__post_init__`` validation."""
    if not ok:
        raise ConfigError(f"config key '{key}' {why}")


# --------------------------------------------------------------------------------------------
# Loading, overriding, saving


def from_dict(cls: type[T], values: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``values``, checking every key and value type.

    Raises:
        ConfigError: for an unknown key or a value that does not fit the field's type.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"config section '{where or cls.__name__}' must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        name = f"{where}.{key}" if where else key
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown config key '{name}' (known keys: {known})")
        kwargs[key] = _coerce(value, hints[key], name)
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(f"{where + ': ' if where else ''}{err}") from None


def _coerce(value: Any, hint: Any, name: str) -> Any:
    """Check ``value`` against type ``hint`` (with the few safe conversions YAML needs)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, name)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"config key '{name}' has a bad value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{name}' must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], name) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"config key '{name}' must have {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, name) for v, a in zip(value, args, strict=True))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{name}' must be a mapping, got {value!r}")
        return {_coerce(k, args[0], name): _coerce(v, args[1], name) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, name)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{name}' must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{name}' must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 5e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key '{name}' must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"config key '{name}' must be a string, got {value!r}")
    if hint is Any:
        return value
    raise ConfigError(f"config key '{name}' has an unsupported type {hint!r}")


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """Turn ``["a=1", "b=[2, 3]"]`` into ``{"a": 1, "b": [2, 3]}`` (values parsed as YAML)."""
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{item}' must look like key=value")
        parsed[key.strip()] = yaml.safe_load(raw)
    return parsed


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    return data


def load_section(
    path: str | Path | None, section: str, cls: type[T], overrides: Iterable[str] = ()
) -> T:
    """Load section ``section`` of YAML file ``path`` (or defaults if None) into ``cls``.

    ``overrides`` are ``key=value`` strings applied on top of the file.
    """
    values: dict[str, Any] = {}
    if path is not None:
        data = read_yaml(path)
        values = dict(data.get(section) or {})
    values.update(parse_overrides(overrides))
    return from_dict(cls, values, section)


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass (or a mapping) as plain YAML/JSON-friendly data (tuples become lists)."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config)


def save_resolved(path: str | Path, **sections: Any) -> None:
    """Write the resolved dataclasses as one YAML file, one section per keyword."""
    body = {name: to_dict(cfg) for name, cfg in sections.items()}
    Path(path).write_text(yaml.safe_dump(body, sort_keys=False))
