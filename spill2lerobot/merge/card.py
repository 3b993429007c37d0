"""The dataset card ``OUT/README.md``, in the form lerobot 0.6.1 writes for the Hub
(``create_lerobot_dataset_card``: YAML front matter, then meta/info.json), with what
spill2lerobot knows besides: the episodes' sources and the conversion settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from spill2lerobot.fsutil import write_bytes_atomic

CARD_PATH = "README.md"
CARD_MARK = "<!-- written by spill2lerobot: rewritten by `merge --append` -->"
LICENSE = "apache-2.0"  # lerobot's default when it pushes a dataset


def card_is_ours(path: Path) -> bool:
    """No card yet, or one spill2lerobot wrote (a card someone else wrote is never replaced)."""
    if path.is_symlink():
        return False
    try:
        return CARD_MARK in path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return True


def dataset_card(info: dict[str, Any], provenance: dict[str, Any]) -> str:
    front = {
        "license": LICENSE,
        "task_categories": ["robotics"],
        "tags": ["LeRobot", "spill2lerobot", str(info.get("robot_type") or "robot")],
        "configs": [{"config_name": "default", "data_files": "data/*/*.parquet"}],
    }
    run = provenance["runs"][-1]
    cameras = [key for key, ft in info["features"].items() if ft.get("dtype") == "video"]
    lines = [
        "---",
        "# For reference on dataset card metadata, see the spec: "
        "https://github.com/huggingface/hub-docs/blob/main/datasetcard.md?plain=1",
        "# Doc / guide: https://huggingface.co/docs/hub/datasets-cards",
        yaml.safe_dump(front, sort_keys=False).rstrip(),
        "---",
        CARD_MARK,
        "",
        "This dataset was created using [LeRobot](https://github.com/huggingface/lerobot) format "
        f"{info['codebase_version']}, converted from ROS bags by spill2lerobot.",
        "",
        "## Dataset Description",
        "",
        f"- **Episodes:** {info['total_episodes']}",
        f"- **Frames:** {info['total_frames']}",
        f"- **FPS:** {info['fps']}",
        f"- **Robot type:** {info.get('robot_type')}",
        f"- **Cameras:** {', '.join(cameras) or 'none'}",
        f"- **Source:** {len(provenance['sources'])} ROS bag(s), listed with sizes, fingerprints and "
        "recording times in [meta/spill2lerobot_provenance.json](meta/spill2lerobot_provenance.json)",
        f"- **Conversion settings:** profile sha256 `{run['profile_sha256']}`, "
        f"spill2lerobot {run['versions']['spill2lerobot']}",
        f"- **License:** {LICENSE}",
        "",
        "## Dataset Structure",
        "",
        "[meta/info.json](meta/info.json):",
        f"```json\n{json.dumps(info, indent=4)}\n```",
        "",
        "## Conversion settings",
        "",
        f"```yaml\n{yaml.safe_dump(run['profile'], sort_keys=False).rstrip()}\n```",
        "",
    ]
    return "\n".join(lines)


def write_card(root: Path, info: dict[str, Any], provenance: dict[str, Any]) -> None:
    write_bytes_atomic(root / CARD_PATH, dataset_card(info, provenance).encode("utf-8"))
