"""The dataset options only the Kuavo rules read (``profiles/kuavo.py``).

Apart from ``kuavo.py`` so that the options module can include them without importing the rules
(which import the options): every profile carries them, and spills record them, as they always did.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spill2lerobot.profiles.options_model import OptionsModel

EefType = Literal["leju_claw", "qiangnao", "rq2f85"]
WhichArm = Literal["left", "right", "both"]


class KuavoDatasetOptions(OptionsModel):
    only_arm: bool = True
    eef_type: EefType = "leju_claw"
    which_arm: WhichArm = "both"
    # Depth cameras: "auto" = exactly when the bag has the profile's depth topics; true requires
    # them; false ignores them. depth_mode: lerobot's native depth video (millimetres), or the
    # original converter's 8-bit 3-channel picture of the depth clipped to depth_range.
    use_depth: bool | Literal["auto"] = "auto"
    depth_mode: Literal["native", "rgb8"] = "native"
    depth_range: list[int] = Field(default_factory=lambda: [0, 1500])
    dex_dof_needed: int = 1
    is_binary: bool = False
    delta_action: bool = False
    relative_start: bool = False
