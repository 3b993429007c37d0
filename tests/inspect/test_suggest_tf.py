"""``inspect --suggest`` on a bag with /tf and /tf_static (scripts/gen_tf_bag.py): the pose of
each leaf frame of the TF tree in its root is proposed, and the suggested profile converts."""

from __future__ import annotations

import json

import pytest
import yaml
from gen_tf_bag import write_tf_bag
from support import run_cli


@pytest.mark.slow
def test_suggest_proposes_tf_poses_of_the_leaf_frames_that_convert(tmp_path):
    bag = tmp_path / "bag"
    write_tf_bag(bag, seconds=2.0)
    text = run_cli("inspect", str(bag), "--suggest").stdout
    state = yaml.safe_load(text)["features"]["state"]
    # the tree: world -> base -> arm -> hand, world -> other: leaves hand and other, root world
    assert [{key: part[key] for key in ("frame", "relative_to")} for part in state] == [
        {"frame": "hand", "relative_to": "world"},
        {"frame": "other", "relative_to": "world"},
    ]
    config = tmp_path / "robot.yaml"
    config.write_text(text)
    out = tmp_path / "out"
    run_cli("convert", str(bag), str(out), "--config", str(config), "--set", "dataset.sample_drop=2")
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["features"]["observation.state"]["names"][:3] == ["hand.x", "hand.y", "hand.z"]
    assert info["total_frames"] > 0
