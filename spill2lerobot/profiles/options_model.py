"""The base of the option models: pydantic, as strict as a profile's YAML deserves.

A value must already have its annotation's type (no "3" -> 3, no true as an integer; an integer
is a number), floats must be finite, and a key no model declares is an error. A failed
validation becomes one line naming the key in ``validation_errors.py``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OptionsModel(BaseModel):
    """Options read from a profile. Not frozen: ``inspect`` edits a copy of the options it suggests
    (assignments are not validated; the checks run when a profile is read)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
