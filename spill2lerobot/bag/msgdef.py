"""Message definitions as bags carry them -> a rosbags typestore.

rosbags only accepts UPPER_CASE constant names. Kuavo's ``lejuClawState`` declares
``int8 kError = -1`` and friends, which rosbags then parses as extra fields, giving a wrong
layout and md5. We rename such constants before parsing and restore the names afterwards, so
the layout is right and the md5 rosbags computes equals the one ``rosbag record`` stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rosbags.interfaces.typing import Typesdict
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

if TYPE_CHECKING:
    from rosbags.interfaces import Connection

# A constant line: builtin type, name, '=', value (comments allowed after the value).
_CONSTANT_LINE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<type>(?:bool|byte|char|u?int(?:8|16|32|64)|float(?:32|64)|string))"
    r"(?P<space>[ \t]+)(?P<name>[A-Za-z][A-Za-z0-9_]*)(?P<eq>[ \t]*=)",
    re.MULTILINE,
)
_UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _mangle_constants(text: str) -> tuple[str, dict[str, str]]:
    """Rename constants that are not UPPER_SNAKE to placeholders rosbags accepts."""
    renamed: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if _UPPER_SNAKE.match(name):
            return match.group(0)
        placeholder = f"S2L_CONST_{len(renamed)}"
        renamed[placeholder] = name
        return f"{match['indent']}{match['type']}{match['space']}{placeholder}{match['eq']}"

    return _CONSTANT_LINE.sub(replace, text), renamed


def types_from_definition(msgtype: str, definition: str) -> Typesdict:
    """Parse a full ROS1 message definition (with its ``MSG:`` sections) into rosbags types."""
    mangled, renamed = _mangle_constants(definition)
    types = get_types_from_msg(mangled, msgtype)
    if not renamed:
        return types
    restored: Typesdict = {}
    for name, (consts, fields) in types.items():
        consts = [(renamed.get(cname, cname), ctype, value) for cname, ctype, value in consts]
        restored[name] = (consts, fields)
    return restored


def typestore_for(definitions: dict[str, str]) -> Typestore:
    """A ROS1 Noetic typestore extended with the bag's own definitions ({msgtype: text}).

    The bag's definitions win over the built-in ones: a robot's message package may differ
    from the version rosbags ships, and the bag says what was actually recorded.
    """
    store = get_typestore(Stores.ROS1_NOETIC)
    for msgtype, definition in definitions.items():
        types = types_from_definition(msgtype, definition)
        for name in types:  # forget built-in versions so register() accepts the bag's
            store.fielddefs.pop(name, None)
            store.types.pop(name, None)
            store.cache.pop(name, None)
        store.register(types)
    return store


def typestore_for_connections(connections: Iterable[Connection]) -> Typestore:
    """A ROS2 (Humble) typestore extended with the definitions a rosbag2's connections carry
    (msg text, parsed like ROS1's so lower-case constants work, or IDL)."""
    from rosbags.interfaces import MessageDefinitionFormat
    from rosbags.typesys import get_types_from_idl

    store = get_typestore(Stores.ROS2_HUMBLE)
    types: Typesdict = {}
    for conn in connections:
        msgdef = conn.msgdef
        if msgdef.format == MessageDefinitionFormat.MSG and msgdef.data:
            types.update(types_from_definition(conn.msgtype, msgdef.data))  # lower-case constants too
        elif msgdef.format == MessageDefinitionFormat.IDL and msgdef.data:
            sep = "=" * 80 + "\n"
            if msgdef.data.startswith(f"{sep}IDL: "):
                for section in msgdef.data.split(sep)[1:]:
                    types.update(get_types_from_idl(section.split("\n", 1)[1]))
            else:
                types.update(get_types_from_idl(msgdef.data))
    for name in types:  # the bag's definitions win over the built-in ones
        store.fielddefs.pop(name, None)
        store.types.pop(name, None)
        store.cache.pop(name, None)
    store.register(types)
    return store
