"""A profile's pydantic ``ValidationError`` -> one ``UserError`` line naming the key path.

pydantic lists every problem; the one reported is the one a reader of the profile meets first:
at each level unknown keys before values, then the keys in the order the profile writes them,
list items by index. The message says what the key's annotation expects (a union names its
types: "must be int or null"), quotes the value short, and for an unknown key names the nearest
known key when one is close (a typo: "did you mean which_arm?").
"""

from __future__ import annotations

import difflib
import functools
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ValidationError

from spill2lerobot.errors import UserError
from spill2lerobot.profiles.checks import quote, shorten

_KEY_ERRORS = ("extra_forbidden", "invalid_key")  # a model's key that is no field (or no string)
_UNKNOWN, _KNOWN = 0, 1  # at one level, unknown keys are reported before any value
_MAPPING, _NAMES, _LIST = "a mapping", "a mapping of names", "a list"  # what a container's value must be
_VALUE, _UNKNOWN_KEY = "value", "unknown key"  # a value its annotation refuses; a key no model declares

Order = tuple[tuple[int, ...], ...]  # where a problem comes in reading order (compared as tuples)


class _At(NamedTuple):
    """A point of the walk along an error's ``loc``: its place in reading order, the annotation
    there (a section's model when its value is not null), the input value and its key path."""

    order: Order
    tp: Any
    value: Any
    key: str


Problem = tuple[Order, _At, str]  # where in reading order, the point, what is wrong there


def user_error(exc: ValidationError, model: type[BaseModel], data: dict[Any, Any]) -> UserError:
    """The first problem of ``exc`` (``model`` validating ``data``) as one line."""
    locator = _Locator(model, data)
    first: Problem | None = None
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        found = locator.locate(error["loc"], error["type"])
        if first is None or found[0] < first[0]:
            first = found
    assert first is not None  # a ValidationError has at least one error
    return UserError(_message(first[1], first[2]))  # made for this one only: there may be 100000


class _Locator:
    """Follows each error's ``loc`` through the annotations and the input. The walk stops at the
    key whose annotation decides the message; the walks of siblings share their parent's
    (a hostile profile may have 100000 problems, one per value)."""

    def __init__(self, model: type[BaseModel], data: Any) -> None:
        self._walked: dict[tuple[int | str, ...], _At] = {(): _At((), model, data, "")}
        self._positions: dict[int, dict[Any, int]] = {}  # id of a mapping of the input -> its keys' order

    def locate(self, loc: tuple[int | str, ...], kind: str) -> Problem:
        done = max(len(loc) - 1, 0)  # the parent's walk is shared by its children's problems
        while loc[:done] not in self._walked:
            done -= 1
        at = self._walked[loc[:done]]
        while True:
            step = self._step(at, loc[done:], kind)
            if not isinstance(step, _At):
                return step
            at, done = step, done + 1
            if done < len(loc):
                self._walked[loc[:done]] = at

    def _step(self, at: _At, rest: tuple[int | str, ...], kind: str) -> _At | Problem:
        """The problem at ``at`` (``rest``: what is left of the error's loc), or the next point."""
        shape, inner = _shape(at.tp)
        value, key = at.value, at.key
        if shape == "model":
            if not rest:
                return at.order, at, _MAPPING
            name = rest[0]
            if (kind in _KEY_ERRORS and len(rest) == 1) or name not in inner:
                return (*at.order, (_UNKNOWN,)), at, _UNKNOWN_KEY
            where = f"{key}.{name}" if key else str(name)
            return self._next(at, self._position(value, name), inner[name].annotation, value[name], where)
        if shape == "dict":
            item = rest[0] if rest else None
            on_key = len(rest) > 1 and rest[1] == "[key]"  # the key itself is no string
            if on_key or not isinstance(value, dict) or not isinstance(item, str) or item not in value:
                return (*at.order, (_UNKNOWN,)), at, _NAMES  # a key that is no name: before the values
            return self._next(at, self._position(value, item), inner, value[item], f"{key}.{shorten(item)}")
        if shape == "list":
            if not rest:
                return at.order, at, _LIST
            index = int(rest[0])
            return self._next(at, index, inner, value[index], f"{key}[{index}]")
        return at.order, at, _VALUE  # a union, a literal or a scalar: its annotation says what it must be

    def _next(self, at: _At, position: int, tp: Any, value: Any, key: str) -> _At:
        if value is not None:
            tp = _section(tp)
        return _At((*at.order, (_KNOWN, position)), tp, value, key)

    def _position(self, mapping: dict[Any, Any], key: Any) -> int:
        order = self._positions.get(id(mapping))
        if order is None:
            order = self._positions[id(mapping)] = {k: i for i, k in enumerate(mapping)}
        return order[key]


@functools.cache
def _shape(tp: Any) -> tuple[str, Any]:
    """What kind of annotation ``tp`` is, and what is inside: a model's fields, an item's type."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "model", tp.model_fields
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is dict:
        return "dict", args[1]
    if origin is list:
        return "list", args[0]
    if origin in (typing.Union, types.UnionType):
        return "union", args
    return ("literal" if origin is Literal else "scalar"), args


@functools.cache
def _section(tp: Any) -> Any:
    """``X | None`` for a model X (a section that may be left out) is X for a value; else ``tp``."""
    shape, args = _shape(tp)
    options = [t for t in args if t is not type(None)] if shape == "union" else []
    return options[0] if len(options) == 1 and _shape(options[0])[0] == "model" else tp


def _message(at: _At, what: str) -> str:
    if what == _UNKNOWN_KEY:
        return _unknown_key(at.value, _shape(at.tp)[1], at.key)
    expected = _expected(at.tp, at.value) if what == _VALUE else what
    return f"profile key '{at.key}' must be {expected}, got {quote(at.value)}"


def _expected(tp: Any, value: Any) -> str:
    """What a union, a literal or a scalar annotation expects, in words."""
    shape, args = _shape(tp)
    if shape == "union":
        return " or ".join(_type_name(t) for t in args)
    if shape == "literal":
        return f"one of {_type_name(tp)}"
    if tp is float:  # an integer is a number; one beyond any float is not a finite one
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return "a finite number" if number else "a number"
    words = {bool: "true or false", int: "an integer", str: "a string", type(None): "null"}
    return words.get(tp, _type_name(tp))


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(v) for v in typing.get_args(tp))
    return str(getattr(tp, "__name__", str(tp))).replace("NoneType", "null")


def _unknown_key(mapping: dict[Any, Any], fields: Mapping[str, Any], prefix: str) -> str:
    unknown = sorted((k for k in mapping if k not in fields), key=str)
    name = shorten(str(unknown[0]), 40)
    where = f"{prefix}.{name}" if prefix else name
    return f"unknown profile key '{where}'{_suggestion(str(unknown[0]), fields)} (known: {', '.join(sorted(fields))})"


def _suggestion(name: str, known: Iterable[str]) -> str:
    """ "; did you mean X?" for the nearest known key, when one is close (a typo), else ""."""
    if len(name) > 100:  # no key is that long; difflib's work grows with the length
        return ""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""
