"""Parsed YAML -> the option dataclasses, each value checked against its annotation.

An error names the key path; an unknown key also names the nearest known key when one is close
(a typo: "did you mean which_arm?").
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Literal, TypeVar

from spill2lerobot.errors import UserError
from spill2lerobot.profiles.checks import quote, shorten

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(v) for v in typing.get_args(tp))
    return str(getattr(tp, "__name__", str(tp))).replace("NoneType", "null")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (nested dataclasses built)."""
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"profile key '{key}' must be a mapping, got {quote(value)}")
        return build(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, tp, key)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise UserError(f"profile key '{key}' must be one of {_type_name(tp)}, got {quote(value)}")
        return value
    if origin is dict:
        key_tp, item_tp = typing.get_args(tp)
        if not isinstance(value, dict) or not all(isinstance(k, key_tp) for k in value):
            raise UserError(f"profile key '{key}' must be a mapping of names, got {quote(value)}")
        return {k: _coerce(v, item_tp, f"{key}.{shorten(k)}") for k, v in value.items()}
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise UserError(f"profile key '{key}' must be a list, got {quote(value)}")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    return _coerce_scalar(value, tp, key)


def _coerce_union(value: Any, tp: Any, key: str) -> Any:
    options = [t for t in typing.get_args(tp) if t is not type(None)]
    if value is not None and len(options) == 1 and dataclasses.is_dataclass(options[0]):
        return _coerce(value, options[0], key)  # a section: its own error names the inner key
    for option in typing.get_args(tp):
        try:
            return _coerce(value, option, key)
        except UserError:
            continue
    names = " or ".join(_type_name(t) for t in typing.get_args(tp))
    raise UserError(f"profile key '{key}' must be {names}, got {quote(value)}")


def _coerce_scalar(value: Any, tp: Any, key: str) -> Any:
    if tp is type(None):
        if value is not None:
            raise UserError(f"profile key '{key}' must be null, got {quote(value)}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"profile key '{key}' must be true or false, got {quote(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"profile key '{key}' must be an integer, got {quote(value)}")
        return value
    if tp is float:
        return _coerce_float(value, key)
    if tp is str:
        if not isinstance(value, str):
            raise UserError(f"profile key '{key}' must be a string, got {quote(value)}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")  # a bug in this module


def _coerce_float(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"profile key '{key}' must be a number, got {quote(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        number = math.inf
    if not math.isfinite(number):
        raise UserError(f"profile key '{key}' must be a finite number, got {quote(value)}")
    return number


def build(cls: type[T], data: dict[Any, Any], prefix: str) -> T:
    """An instance of the dataclass ``cls`` from a mapping; ``prefix`` is its key path."""
    hints = typing.get_type_hints(cls)
    unknown = sorted((k for k in data if k not in hints), key=str)
    if unknown:
        name = shorten(str(unknown[0]), 40)
        where = f"{prefix}.{name}" if prefix else name
        hint = _suggestion(str(unknown[0]), hints)
        raise UserError(f"unknown profile key '{where}'{hint} (known: {', '.join(sorted(hints))})")
    kwargs = {name: _coerce(value, hints[name], f"{prefix}.{name}" if prefix else name) for name, value in data.items()}
    return cls(**kwargs)


def _suggestion(name: str, known: typing.Iterable[str]) -> str:
    """ "; did you mean X?" for the nearest known key, when one is close (a typo), else ""."""
    if len(name) > 100:  # no key is that long; difflib's work grows with the length
        return ""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""
