"""`spill2lerobot preview`: one self-contained page, rendered by a real headless Chromium (offline:
nothing fetched), showing frame strips and plots; a 40-episode dataset's page stays under 20 MB."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from support import run_cli, tiny_dataset

WIDTH, HEIGHT = 1200, 2400


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is needed: apt-get install -y --no-install-recommends chromium"
    return found


def page_requests(net_log) -> list[str]:
    """URLs the page asked for (Chromium's own background requests have no page initiator)."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    params = [event.get("params", {}) for event in log["events"] if event["type"] == start]
    return [p["url"] for p in params if "url" in p and p.get("initiator") != "not an origin"]


def screenshot(page, shot) -> tuple[str, list[str]]:
    """Render ``page`` headless with every host unresolvable; Chromium's log and the URLs the
    page requested."""
    net_log = shot.with_suffix(".netlog.json")
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            f"--log-net-log={net_log}",
            f"--window-size={WIDTH},{HEIGHT}",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stderr, page_requests(net_log)


def no_external_references(text: str) -> None:
    assert "<script" not in text and "<link" not in text
    for target in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", text):
        assert target.startswith("data:"), target[:80]
    assert not re.search(r"url\((?!data:)", text)


def busy(pixels: np.ndarray) -> tuple[float, int]:
    """Share of non-white pixels and number of distinct colours of a region."""
    flat = pixels.reshape(-1, pixels.shape[-1])[:, :3]
    non_white = float((flat < 245).any(axis=1).mean())
    return non_white, len(np.unique(flat, axis=0))


@pytest.mark.slow
def test_page_renders_offline_with_strips_and_plots(tmp_path):
    out = tiny_dataset(tmp_path, "stopped", 8.0, gap=(3.0, 5.5))
    page = tmp_path / "preview.html"
    run_cli("preview", str(out), "-o", str(page))
    text = page.read_text(encoding="utf-8")
    no_external_references(text)
    assert text.count("data:image/jpeg;base64,") >= 9  # 3 cameras x first, middle, last
    assert text.count("data:image/png;base64,") == 3  # state/action, fault timeline, pick offsets
    assert "repeats the previous frame" in text  # the stopped camera's frozen frames
    log, requests = screenshot(page, tmp_path / "shot.png")
    assert "CONSOLE" not in log, log[-2000:]
    assert requests == []
    pixels = np.asarray(Image.open(tmp_path / "shot.png").convert("RGB"))
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    strips, plots = pixels[300:700, :600], pixels[700:1500, :]
    strip_ink, strip_colours = busy(strips)
    plot_ink, plot_colours = busy(plots)
    assert strip_ink > 0.15 and strip_colours > 500, (strip_ink, strip_colours)  # noisy camera frames
    assert plot_ink > 0.03 and plot_colours > 20, (plot_ink, plot_colours)  # lines of many colours


@pytest.mark.slow
def test_forty_episode_page_is_under_20_mb(tmp_path):
    out = tiny_dataset(tmp_path, "many", 9.5, "--episodes", "chunk", "--set", "rosbag.chunk_size=2")
    page = tmp_path / "preview.html"
    result = run_cli("preview", str(out), "-o", str(page))
    text = page.read_text(encoding="utf-8")
    episodes = text.count('<section class="ep">')
    assert episodes >= 40, result.stderr
    assert page.stat().st_size < 20 * 1024 * 1024
    no_external_references(text)


@pytest.mark.slow
def test_the_network_check_sees_a_page_that_fetches(tmp_path):
    page = tmp_path / "fetching.html"
    page.write_text('<img src="http://example.com/x.png"><script>console.error("boom")</script>')
    log, requests = screenshot(page, tmp_path / "shot.png")
    assert requests == ["http://example.com/x.png"]
    assert "CONSOLE" in log and "boom" in log


def test_preview_of_a_missing_folder_is_one_line(tmp_path):
    result = run_cli("preview", str(tmp_path / "nothing"), check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nothing'}: no such folder; pass a LeRobot dataset folder"
