"""Typed settings read from YAML: the one checker every section of every layer goes through, and
the monitor layer's own section (`train:`).

A section is a dataclass with annotated fields and defaults. `build_section` checks every key and
type of a parsed mapping against it and fails with one line naming the setting and what was expected;
`read_yaml_file` reads any of the project's YAML files (config, calibration) with yaml.safe_load.
Each section also states the values it accepts in a `check(self, c: Checks)` method (ranges,
choices, one setting against another); pipelines.config.validate_config runs every section's.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A configuration file or setting is wrong; the message is one line naming it."""


class Checks:
    """The value rules of one section, stated by its `check` method. The first broken rule raises
    ConfigError in one line: "<where>: <section>.<setting> must be <rule>, got <value>"."""

    def __init__(self, section: object, name: str, where: str = "config") -> None:
        self.section, self.name, self.where = section, name, where

    def _key(self, setting: str) -> str:
        return f"{self.name}.{setting}"

    def _value(self, setting: str) -> typing.Any:
        return getattr(self.section, setting)

    def require(self, ok: bool, setting: str, must: str) -> None:
        """The general rule: `ok` or fail saying what `setting` must be."""
        if not ok:
            raise ConfigError(f"{self.where}: {self._key(setting)} must be {must}, got {self._value(setting)!r}")

    def positive(self, *settings: str) -> None:
        for s in settings:
            self.require(self._value(s) > 0, s, "> 0")

    def not_negative(self, *settings: str) -> None:
        for s in settings:
            self.require(self._value(s) >= 0, s, ">= 0")

    def choice(self, setting: str, allowed: typing.Sequence[object]) -> None:
        names = ", ".join("null" if a is None else str(a) for a in allowed)
        self.require(self._value(setting) in allowed, setting, f"one of {names}")

    def between(
        self, setting: str, low: float, high: float, *, open_low: bool = False, open_high: bool = False
    ) -> None:
        """low <= value <= high; an open end excludes its bound."""
        v = self._value(setting)
        ok = (v > low if open_low else v >= low) and (v < high if open_high else v <= high)
        self.require(ok, setting, f"in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}")

    def at_most(self, setting: str, other: str) -> None:
        """setting <= other, both of this section."""
        self.require(
            self._value(setting) <= self._value(other), setting, f"<= {self._key(other)} ({self._value(other)!r})"
        )


@dataclass
class TrainConfig:
    channels: int = 3
    size: int = 28
    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-3
    alpha: float = 0.03
    val_fraction: float = 0.2
    seed: int = 0

    def check(self, c: Checks) -> None:
        c.choice("channels", (1, 3))
        c.positive("size", "epochs", "batch_size", "lr")
        c.not_negative("alpha")
        c.between("val_fraction", 0.0, 1.0, open_high=True)


def _type_name(tp: object) -> str:
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def _coerce(value: object, tp: object, where: str) -> object:
    """Check `value` against the annotation `tp`; ints are accepted for floats."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                pass
        names = " or ".join(_type_name(a) for a in args)
        raise ConfigError(f"config: {where} must be {names}, got {value!r}")
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and type(value) is tp:
        return value
    raise ConfigError(f"config: {where} must be {_type_name(tp)}, got {value!r}")


def build_section(cls: type, data: object, where: str) -> object:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"config: {where or 'top level'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ConfigError(
                f"config: unknown setting {where + '.' if where else ''}{key} (expected one of: {', '.join(sorted(names))})"
            )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        path = f"{where}.{f.name}" if where else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = build_section(tp, data[f.name], path)
        else:
            kwargs[f.name] = _coerce(data[f.name], tp, path)
    return cls(**kwargs)


def read_yaml_file(path: Path, what: str, error: type[Exception] = ConfigError) -> typing.Any:
    """Parse a YAML file with yaml.safe_load; any failure raises `error` in one line
    "<what> file <path>: not found | cannot be read (...) | not valid YAML (...)".

    The parsed value is returned as it is (None for an empty file, or a list): the caller checks
    its shape, with its own messages."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} file {path}: not found") from None
    except IsADirectoryError:
        raise error(f"{what} file {path}: is a directory") from None
    except OSError as e:
        raise error(f"{what} file {path}: cannot be read ({e.strerror})") from None
    except UnicodeDecodeError as e:  # e.g. a model checkpoint passed where YAML belongs
        raise error(
            f"{what} file {path}: not a YAML text file (byte 0x{e.object[e.start]:02x} at offset {e.start} "
            "is not UTF-8; a binary file such as a model checkpoint?)"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise error(f"{what} file {path}: not valid YAML ({yaml_problem(e)})") from None


def yaml_problem(e: Exception) -> str:
    """A YAML error in one line with its line and column (1-based), where yaml knows them."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or (str(e).splitlines()[0] if str(e) else "invalid YAML")
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
