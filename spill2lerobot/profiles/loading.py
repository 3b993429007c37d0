"""Reading a YAML profile: a file checked before it is parsed, YAML screened before it is built,
``--set KEY=VALUE`` overrides, then the typed, range-checked options.

Unknown keys, wrong types and values out of range are a one-line error naming the key, checked
when the profile is read (before any bag). The file itself must be a regular UTF-8 file of at
most 1 MiB, and its YAML may not use aliases (``*name``): bounded memory on hostile input.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from spill2lerobot.errors import UserError
from spill2lerobot.profiles.checks import check_core, quote, shorten
from spill2lerobot.profiles.options import Profile
from spill2lerobot.profiles.robots import check_robot_options
from spill2lerobot.profiles.validation_errors import user_error

# Shipped inside the package (a wheel has it); configs/ at the top of the checkout holds the same
# files for users to read and copy (tests/profiles/test_packaged_profiles.py keeps them equal).
DEFAULT_PROFILE = Path(__file__).resolve().parents[1] / "configs" / "kuavo.yaml"

# Reading: a profile is a few KB; these bound the work a hostile file can cause.
MAX_PROFILE_BYTES = 1 << 20
MAX_YAML_DEPTH = 16  # a profile nests 5 levels (features.state[0].slice)
MAX_YAML_SCALAR = 10_000  # characters of one value (also bounds YAML's base-60 integers: quadratic)
MAX_YAML_VALUES = 100_000


def _show_path(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 200 else f"{text[:60]}...{text[-100:]}"


class _Refused(Exception):
    """YAML a profile may not hold (aliases, deep nesting, huge values); ``line`` is 1-based."""

    def __init__(self, mark: Any, reason: str) -> None:
        super().__init__(reason)
        self.line = mark.line + 1 if mark is not None else None
        self.reason = reason


# libyaml's parser when installed: ~20x faster
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ProfileLoader(_BaseLoader):  # type: ignore[valid-type,misc]  # chosen at run time (libyaml or not)
    """SafeLoader whose values that cannot be converted (an integer of more than 4300 digits, a
    date of month 13) name their line instead of raising a bare ValueError."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError):
            reason = "this value cannot be read (too long a number or an invalid date)"
            raise _Refused(node.start_mark, reason) from None


def _screen(text: str) -> None:
    """Refuse aliases, deep nesting, huge scalars and too many values before building anything.

    A first pass over the parser's events (no values built): an alias bomb ("billion laughs")
    expands to gigabytes only when composed, so it is refused here at its first alias.
    """
    loader = _ProfileLoader(text)
    try:
        depth = values = 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent):
                raise _Refused(event.start_mark, "YAML aliases are not allowed in profiles; write the value out")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    reason = f"nested more than {MAX_YAML_DEPTH} levels deep; a profile needs 5"
                    raise _Refused(event.start_mark, reason)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_YAML_SCALAR:
                raise _Refused(
                    event.start_mark, f"a value of more than {MAX_YAML_SCALAR} characters; profile values are short"
                )
            if isinstance(event, yaml.NodeEvent):
                values += 1
                if values > MAX_YAML_VALUES:
                    raise _Refused(event.start_mark, f"more than {MAX_YAML_VALUES} values; a profile has a few hundred")
    finally:
        loader.dispose()


def _yaml_load(text: str) -> Any:
    """Parse profile YAML (raises ``_Refused`` or ``yaml.YAMLError``)."""
    _screen(text)
    loader = _ProfileLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _read_profile_text(source: Path) -> str:
    """The text of a profile file: a regular file of sane size, UTF-8; anything else is one line."""
    shown = _show_path(source)
    try:
        # stat before open: opening a FIFO blocks and opening a device can have effects.
        if not stat.S_ISREG(os.stat(source).st_mode):
            raise UserError(f"{shown}: not a regular file; pass a YAML profile")
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between stat and open
                raise UserError(f"{shown}: not a regular file; pass a YAML profile")
            data = file.read(MAX_PROFILE_BYTES + 1)
    except FileNotFoundError:
        raise UserError(f"{shown}: profile not found; pass an existing --config") from None
    except PermissionError:
        raise UserError(f"{shown}: cannot read the profile (permission denied); check its permissions") from None
    except OSError as exc:
        raise UserError(f"{shown}: cannot read the profile ({exc.strerror}); pass a YAML profile") from None
    if len(data) > MAX_PROFILE_BYTES:
        raise UserError(f"{shown}: larger than {MAX_PROFILE_BYTES // (1 << 20)} MiB; a profile is a few KB of YAML")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{shown}: not UTF-8 text (byte {exc.start}); save the profile as UTF-8") from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> dict[str, Any]:
    """``dataset.which_arm=left`` -> ``{"dataset": {"which_arm": "left"}}`` (value parsed as YAML)."""
    if "=" not in text:
        raise UserError(f"--set expects KEY=VALUE (e.g. rosbag.chunk_size=500), got {quote(text)}")
    dotted, raw = text.split("=", 1)
    try:
        value = _yaml_load(raw) if raw.strip() else ""
    except _Refused as exc:
        raise UserError(f"--set {shorten(dotted.strip())}: {exc.reason}") from None
    except yaml.YAMLError:
        value = raw  # not YAML: the text itself (a task description, say)
    nested: dict[str, Any] = {}
    node = nested
    parts = dotted.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return nested


def _load_file(source: Path) -> dict[str, Any]:
    shown = _show_path(source)
    text = _read_profile_text(source)
    try:
        loaded = _yaml_load(text)
    except _Refused as exc:
        raise UserError(f"{shown} line {exc.line}: {exc.reason}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"{shown}:{line} is not valid YAML; fix the file") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise UserError(f"{shown}: a profile must be a YAML mapping")
    return loaded or {}


def load_profile(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Profile:
    """Read a YAML profile (default: configs/kuavo.yaml), apply ``KEY=VALUE`` overrides, validate."""
    data: dict[str, Any] = {}
    source = Path(path) if path else DEFAULT_PROFILE
    if path is not None or source.exists():
        data = _load_file(source)
    for text in overrides:
        data = _merge(data, parse_override(text))
    _anchor_decoders(data, source.parent)
    return profile_from_dict(data)


def _anchor_decoders(data: dict[str, Any], folder: Path) -> None:
    """A generic part's ``decoder: file.py:function`` made absolute (the profile's folder), so
    that a spill's manifest names the same file wherever it is read."""
    features = data.get("features")
    if not isinstance(features, dict):
        return
    for key in ("state", "action"):
        for part in features.get(key) or ():
            spec = part.get("decoder") if isinstance(part, dict) else None
            if isinstance(spec, str) and ".py:" in spec and not Path(spec.split(".py:")[0]).is_absolute():
                module, _, function = spec.rpartition(":")
                part["decoder"] = f"{(folder / module).resolve()}:{function}"


def profile_from_dict(data: dict[str, Any]) -> Profile:
    """Typed, range-checked settings from a parsed profile (a file's or a spill manifest's)."""
    if not isinstance(data, dict):
        raise UserError(f"a profile must be a mapping, got {quote(data)}")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise user_error(exc, Profile, data) from None
    check_core(profile)
    check_robot_options(profile)
    return profile
