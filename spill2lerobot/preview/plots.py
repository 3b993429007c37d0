"""The preview's pictures, drawn with matplotlib (Agg) and returned as PNG data: URIs."""

from __future__ import annotations

import base64
import io
import itertools
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray
from PIL import Image

DPI = 60
THUMB_WIDTH = 128
JPEG_QUALITY = 70


def _uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def jpeg_uri(rgb: NDArray[Any]) -> str:
    """A frame, downscaled to THUMB_WIDTH wide and JPEG-encoded, as a data: URI."""
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    if image.width > THUMB_WIDTH:
        image = image.resize((THUMB_WIDTH, max(1, round(image.height * THUMB_WIDTH / image.width))))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def series_plot(fps: int, panels: Sequence[tuple[str, NDArray[Any], Sequence[str]]]) -> str:
    """One panel per vector feature (state, action): every entry over time."""
    figure, axes = plt.subplots(len(panels), 1, figsize=(9, 2.4 * len(panels)), squeeze=False, sharex=True)
    for ax, (title, values, names) in zip(axes[:, 0], panels, strict=True):
        seconds = np.arange(len(values)) / fps
        for column in range(values.shape[1]):
            label = names[column] if column < len(names) else str(column)
            ax.plot(seconds, values[:, column], linewidth=0.8, label=label)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        if values.shape[1] <= 20:
            ax.legend(fontsize=5, ncol=4, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1, 0].set_xlabel("time (s)", fontsize=8)
    return _uri(figure)


def timeline_plot(length: int, rows: Sequence[tuple[str, Sequence[Sequence[int]]]]) -> str:
    """One bar per fault kind and topic: the frames it covers."""
    height = 0.6 + 0.28 * max(1, len(rows))
    figure, ax = plt.subplots(figsize=(9, height))
    for y, (_, spans) in enumerate(rows):
        ax.broken_barh([(a, max(b - a, 0.6)) for a, b, *_ in spans], (y - 0.35, 0.7), color="tab:red")
    ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=7)
    ax.set_xlim(0, max(1, length))
    ax.set_ylim(-0.6, max(1, len(rows)) - 0.4)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("frame", fontsize=8)
    if not rows:
        ax.text(length / 2, 0, "no faults", ha="center", va="center", fontsize=9, color="tab:green")
    return _uri(figure)


def offsets_plot(edges: Sequence[float], offsets: dict[str, dict[str, Any]]) -> str:
    """Per topic (a row), how many frames' chosen message was in each offset bin (ms): one heat
    map, the count written in each non-empty cell."""
    topics = [topic for topic, summary in offsets.items() if summary.get("counts")]
    counts = np.array([offsets[topic]["counts"] for topic in topics], dtype=np.float64).reshape(len(topics), -1)
    figure, ax = plt.subplots(figsize=(9, 0.6 + 0.3 * max(1, len(topics))))
    ax.imshow(np.log1p(counts), aspect="auto", cmap="Blues")
    for (row, column), value in np.ndenumerate(counts):
        if value:
            ax.text(column, row, f"{value:g}", ha="center", va="center", fontsize=6)
    between = (f"{a:g}..{b:g}" for a, b in itertools.pairwise(edges))
    labels = [f"<{edges[0]:g}", *between, f">={edges[-1]:g}"]
    ax.set_xticks(range(len(labels)), labels, fontsize=6, rotation=45)
    names = [f"{topic[-34:]} (max |{offsets[topic]['max_abs_ms']:g}| ms)" for topic in topics]
    ax.set_yticks(range(len(topics)), names, fontsize=6)
    ax.set_title("pick time - frame time (ms)", fontsize=8)
    return _uri(figure)
