"""The suggested profile as YAML (ruamel.yaml's round-trip dumper, which writes comments).

A header of comments says what was inferred and why; each inferred key carries ``# inferred``.
Scalars are written as JSON writes them (strings double-quoted, lists and generic parts in flow
style), which is valid YAML and reads back as the same profile (``_check_loads`` proves it).
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from spill2lerobot.inspect.facts import BagFacts, Suggestion
from spill2lerobot.profiles import FieldPart, Profile, load_profile

_INFERRED = "# inferred"


def _header(profile: Profile, suggestion: Suggestion, bag: BagFacts) -> list[str]:
    lines = [
        f"Profile suggested by `spill2lerobot inspect --suggest` for {bag.path}",
        f"({bag.duration_s:.1f} s, {len(bag.topics)} topics). Inferred from the bag:",
    ]
    for item in suggestion.values:
        value = item.value
        shown = f"{value['width']}x{value['height']}" if item.key == "dataset.resize" else value
        lines.append(f"  {item.key} = {shown}  ({item.why})")
    for warning in suggestion.warnings:
        lines.append(f"WARNING: {warning}")
    if suggestion.frames is not None:
        lines.append(f"With this profile the bag gives {suggestion.frames} frames at {profile.dataset.train_hz} Hz.")
    else:
        lines.append(f"This profile cannot convert the bag yet: {suggestion.reason}")
    lines += [
        "Everything else is the Kuavo default (or what --config/--set gave). Use it with:",
        f"  spill2lerobot convert {bag.path} OUT/ --config THIS_FILE.yaml",
    ]
    return lines


def _scalar(value: Any) -> Any:
    """A value as JSON would write it: strings double-quoted, lists in flow style."""
    if isinstance(value, str):
        return DoubleQuotedScalarString(value)
    if isinstance(value, list):
        return _flow([_scalar(v) for v in value])
    if isinstance(value, Mapping):
        flow = CommentedMap((_scalar(k), _scalar(v)) for k, v in value.items())
        flow.fa.set_flow_style()
        return flow
    return value


def _flow(items: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _part(item: Mapping[str, Any]) -> Any:
    """A generic profile's part on one line, defaults left out."""
    defaults = FieldPart().model_dump()
    return _scalar({k: v for k, v in item.items() if k in ("topic", "field") or v != defaults.get(k)})


def _section(data: Mapping[str, Any], indent: int, prefix: str, inferred: set[str]) -> CommentedMap:
    out = CommentedMap()
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out[key] = _section(value, indent + 2, f"{name}.", inferred)
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            out[key] = CommentedSeq([_part(item) for item in value])
        else:
            out[key] = _scalar(value)
        if name in inferred:  # two spaces after the line (the value is written as JSON writes it)
            line = f"{key}:" if isinstance(value, Mapping) else f"{key}: {json.dumps(value, ensure_ascii=False)}"
            out.yaml_add_eol_comment(_INFERRED, key, column=indent + len(line) + 2)
    return out


def _null(representer: RoundTripRepresenter, data: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def profile_yaml(profile: Profile, suggestion: Suggestion, bag: BagFacts) -> str:
    """The suggested profile as YAML, with a header saying what was inferred and why."""
    inferred = {item.key for item in suggestion.values}
    root = CommentedMap()
    for section, data in profile.to_dict().items():
        root[section] = _section(data, 2, f"{section}.", inferred)
        root.yaml_set_comment_before_after_key(section, before="\n")
    root.yaml_set_start_comment("\n".join(_header(profile, suggestion, bag)))
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 1 << 20  # never fold a line
    yaml.representer.add_representer(type(None), _null)
    out = io.StringIO()
    yaml.dump(root, out)
    text = out.getvalue()
    _check_loads(text)
    return text


def _check_loads(text: str) -> None:
    """The suggestion must be valid --config input: load it back (a failure is a bug here)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "suggested.yaml"
        path.write_text(text, encoding="utf-8")
        load_profile(path)
