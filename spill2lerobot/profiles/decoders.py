"""Decoder plugins of generic profiles: a part's ``decoder`` names a function (``module:function``
of an installed module, or ``/abs/path/file.py:function``, made absolute from the profile's
folder when the profile is read) that turns a field's value, or the whole message, into numbers.

A plugin is code the profile's author chose to run, like any Python package: it is imported only
when a frame needs it (stage 1, ``validate --against``), once per process.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from spill2lerobot.errors import UserError
from spill2lerobot.profiles.checks import shorten

Decoder = Callable[[Any], Any]


@cache
def load_decoder(spec: str) -> Decoder:
    """The function ``spec`` names; a one-line UserError if it cannot be loaded."""
    module_name, _, function = spec.rpartition(":")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            name = "spill2lerobot_decoder_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
            found = importlib.util.spec_from_file_location(name, path)
            if found is None or found.loader is None:
                raise ImportError(f"no Python file at {path}")
            module = importlib.util.module_from_spec(found)
            found.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        decoder = getattr(module, function)
    except Exception as exc:  # the plugin's own import may raise anything
        detail = shorten(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 120)
        raise UserError(
            f"decoder {shorten(spec, 200)} cannot be loaded ({type(exc).__name__}: {detail}); "
            "check the profile's features decoder (module:function, or file.py:function beside the profile)"
        ) from None
    if not callable(decoder):
        raise UserError(f"decoder {shorten(spec, 200)} is not a function; name a function (module:function)")
    return decoder  # type: ignore[no-any-return]


def run_decoder(spec: str, value: Any) -> Any:
    """The decoder's numbers for one value; its failure is a ValueError naming it (a frame that
    does not fit the profile)."""
    decoder = load_decoder(spec)
    try:
        return decoder(value)
    except Exception as exc:  # the plugin may raise anything
        raise ValueError(
            f"decoder {shorten(spec, 120)} failed ({type(exc).__name__}: {shorten(str(exc), 120)})"
        ) from None
