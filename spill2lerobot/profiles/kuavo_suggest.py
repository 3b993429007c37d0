"""A Kuavo profile fitted to one bag: the arm, effector and timeline camera its topics show.

``inspect --suggest`` adds what is the same for every robot (the timeline camera's measured
rate and image size) and checks the result the way convert would.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from spill2lerobot.profiles.kuavo import CAMERA_TOPICS, CMD_POSE_WORLD, EEF_TOPICS, RAW_CAMERA_TOPICS, cameras
from spill2lerobot.profiles.kuavo_values import hands
from spill2lerobot.profiles.options import Profile

_Arm = Literal["left", "right", "both"]
_Eef = Literal["leju_claw", "qiangnao", "rq2f85"]


@dataclass
class KuavoFit:
    profile: Profile  # a copy of the base profile with which_arm, eef_type and main_timeline set
    values: list[tuple[str, Any, str]] = field(default_factory=list)  # (dotted key, value, why)
    warnings: list[str] = field(default_factory=list)
    cameras: dict[str, str] = field(default_factory=dict)  # camera name -> its topic in this bag

    @property
    def main_topic(self) -> str:
        """The timeline camera's topic in this bag (compressed, else raw)."""
        main = self.profile.dataset.main_timeline
        return self.cameras.get(main, CAMERA_TOPICS[main])


def fit_kuavo_profile(base: Profile, present: Callable[[str], bool]) -> KuavoFit:
    """``base`` with the arm, effector and timeline camera that the bag's topics (``present``) show."""
    fit = KuavoFit(copy.deepcopy(base))
    fit.cameras = {  # each camera on its compressed topic, else on its raw one (as the profile reads them)
        name: next(t for t in (topic, RAW_CAMERA_TOPICS[name]) if present(t))
        for name, topic in CAMERA_TOPICS.items()
        if present(topic) or present(RAW_CAMERA_TOPICS[name])
    }
    _fit_arm(fit, base)
    _fit_effector(fit, present)
    _fit_timeline(fit)
    _fit_whole_body(fit, present)
    return fit


def _fit_whole_body(fit: KuavoFit, present: Callable[[str], bool]) -> None:
    """A bag with the walking command is a whole-body recording (Kuavo task 4), as the original
    converts it with ``only_arm: false``; one without it cannot be converted that way."""
    ds = fit.profile.dataset
    if present(CMD_POSE_WORLD) and ds.only_arm:
        ds.only_arm = False
        fit.values.append(("dataset.only_arm", False, f"{CMD_POSE_WORLD} present: a whole-body recording"))
    elif not present(CMD_POSE_WORLD) and not ds.only_arm:
        ds.only_arm = True
        fit.values.append(("dataset.only_arm", True, f"no {CMD_POSE_WORLD}: arm joints only"))


def _fit_arm(fit: KuavoFit, base: Profile) -> None:
    ds, cams = fit.profile.dataset, fit.cameras
    wrists = [hand for hand in ("left", "right") if f"wrist_cam_{hand[0]}" in cams]
    if wrists:
        names = ", ".join(cams[f"wrist_cam_{h[0]}"] for h in wrists)
        if set(hands(base)) <= set(wrists):  # the chosen arm(s) have their cameras: keep
            why = f"kept; wrist cameras present: {names}"
        else:
            ds.which_arm = cast("_Arm", "both" if len(wrists) == 2 else wrists[0])
            why = f"wrist cameras present: {names}"
        fit.values.append(("dataset.which_arm", ds.which_arm, why))
    else:
        fit.warnings.append(
            f"no wrist camera ({CAMERA_TOPICS['wrist_cam_l']}, {CAMERA_TOPICS['wrist_cam_r']}):"
            f" which_arm kept as {ds.which_arm}"
        )
    if "head_cam_h" not in cams:
        fit.warnings.append(f"no head camera ({CAMERA_TOPICS['head_cam_h']}): the Kuavo profile always records it")


def _fit_effector(fit: KuavoFit, present: Callable[[str], bool]) -> None:
    ds = fit.profile.dataset
    full = [eef for eef, pair in EEF_TOPICS.items() if all(present(t) for t in pair)]
    partial = [eef for eef, pair in EEF_TOPICS.items() if any(present(t) for t in pair)]
    if full:
        ds.eef_type = cast("_Eef", ds.eef_type if ds.eef_type in full else full[0])
        fit.values.append(("dataset.eef_type", ds.eef_type, f"{' and '.join(EEF_TOPICS[ds.eef_type])} present"))
    elif partial:
        ds.eef_type = cast("_Eef", ds.eef_type if ds.eef_type in partial else partial[0])
        have = [t for t in EEF_TOPICS[ds.eef_type] if present(t)]
        lacks = [t for t in EEF_TOPICS[ds.eef_type] if not present(t)]
        fit.values.append(("dataset.eef_type", ds.eef_type, f"{', '.join(have)} present"))
        fit.warnings.append(f"effector {ds.eef_type} lacks {', '.join(lacks)}")
    else:
        known = ", ".join(t for pair in EEF_TOPICS.values() for t in pair)
        fit.warnings.append(f"no effector topic ({known}): eef_type kept as {ds.eef_type}")


def _fit_timeline(fit: KuavoFit) -> None:
    ds, cams = fit.profile.dataset, fit.cameras
    if "head_cam_h" in cams:
        main, why = "head_cam_h", "head camera present"
    elif cams:
        used = [cam.name for cam in cameras(fit.profile)]
        main = sorted(cams, key=lambda name: (name not in used, name))[0]  # prefer a camera the profile records
        why = "no head camera; a wrist camera"
    else:
        main, why = ds.main_timeline, ""
        fit.warnings.append(f"no camera at all: main_timeline kept as {main}")
    if why:
        ds.main_timeline = main
        fit.values.append(("dataset.main_timeline", main, why))
