"""The profiles shipped in the package (what a wheel install reads) are the ones in configs/."""

from __future__ import annotations

from support import ROOT

from spill2lerobot.profiles.loading import DEFAULT_PROFILE


def test_packaged_profiles_equal_the_top_level_configs():
    packaged = DEFAULT_PROFILE.parent
    top = ROOT / "configs"
    names = sorted(p.name for p in top.glob("*.yaml"))
    assert names == sorted(p.name for p in packaged.glob("*.yaml"))
    assert "kuavo.yaml" in names
    for name in names:
        assert (packaged / name).read_bytes() == (top / name).read_bytes(), name


def test_default_profile_is_inside_the_package():
    assert DEFAULT_PROFILE.is_file()
    assert DEFAULT_PROFILE.parent.parent.name == "spill2lerobot"
