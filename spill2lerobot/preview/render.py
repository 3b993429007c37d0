"""One self-contained HTML page of a dataset: a summary, then per episode the frame strips, state
and action over time, the fault timeline and the pick-offset histograms. Everything is embedded
(data: URIs, inline CSS, no script), so the page opens offline and fetches nothing."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray

from spill2lerobot.merge.existing import REPORT_PATH
from spill2lerobot.preview.plots import jpeg_uri, offsets_plot, series_plot, timeline_plot
from spill2lerobot.validate.episodes import Episode
from spill2lerobot.validate.metadata import Info
from spill2lerobot.validate.quality import load_dataset, quality_findings, vector_keys

MAX_STRIP = 8  # frames per camera strip
CSS = (
    "body{font-family:sans-serif;margin:1em;color:#222}img{vertical-align:top}"
    ".strip img{margin:1px;border:1px solid #ccc}.ep{border-top:2px solid #888;margin-top:1.5em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:left}"
    "figure{display:inline-block;margin:0 2px;text-align:center;font-size:11px}.fault{color:#b00}"
)


@dataclass
class _Thumbs:
    """Frames wanted per (video key, episode), as JPEG data: URIs once decoded."""

    wanted: dict[int, list[int]]
    got: dict[tuple[str, int], dict[int, str]] = field(default_factory=dict)

    def hook(self, key: str, episode: int, k: int, frame: av.VideoFrame) -> None:
        if k in self.wanted.get(episode, ()):
            self.got.setdefault((key, episode), {})[k] = jpeg_uri(frame.to_ndarray(format="rgb24"))


def _report(root: Path) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
    """Per episode: (its bag's report, its details), from our conversion report if there is one."""
    path = root / REPORT_PATH
    if not path.exists():
        return {}
    out = {}
    for bag in json.loads(path.read_text(encoding="utf-8")).get("bags", []):
        for details in bag.get("episode_details", []):
            out[int(details["episode"])] = (bag, details)
    return out


def _wanted(ep: Episode, details: dict[str, Any] | None) -> list[int]:
    """First, middle, last and the first frame of each fault range, at most MAX_STRIP."""
    basic = sorted({0, ep.length // 2, ep.length - 1})
    faults: set[int] = set()
    for by_topic in (details or {}).get("fault_frames", {}).values():
        for spans in by_topic.values():
            faults.update(int(span[0]) for span in spans)
    extra = sorted(faults - set(basic))[: MAX_STRIP - len(basic)]
    return sorted({*basic, *extra})


def _series(root: Path, keys: list[str]) -> dict[int, dict[str, NDArray[Any]]]:
    """Per episode, each vector feature's values in frame order."""
    parts: dict[int, dict[str, list[NDArray[Any]]]] = {}
    for path in sorted((root / "data").glob("*/*.parquet")):
        table = pq.read_table(path, columns=["episode_index", *keys])
        eps = table.column("episode_index").to_numpy()
        for key in keys:
            flat = table.column(key).combine_chunks().flatten().to_numpy(zero_copy_only=False)
            matrix = flat.reshape(len(eps), -1)
            for ep in np.unique(eps).tolist():
                parts.setdefault(int(ep), {}).setdefault(key, []).append(matrix[eps == ep])
    return {ep: {key: np.concatenate(chunks) for key, chunks in by_key.items()} for ep, by_key in parts.items()}


def _summary(root: Path, info: Info, episodes: list[Episode], findings: dict[str, Any], bags: list[Any]) -> str:
    raw = json.loads((root / "meta/info.json").read_text(encoding="utf-8"))
    faults: dict[str, int] = {}
    for bag in bags:
        for kind, counts in bag.get("faults", {}).items():
            faults[kind] = faults.get(kind, 0) + sum(counts.values())
    rows = [
        ("dataset", str(root.name)),
        ("robot type", str(raw.get("robot_type"))),
        ("fps", str(info.fps)),
        ("episodes", str(len(episodes))),
        ("frames", str(sum(ep.length for ep in episodes))),
        ("cameras", ", ".join(info.video_keys) or "none"),
        ("quality score", f"{findings['score']}/100"),
        ("faults counted", ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(faults.items())) or "none"),
    ]
    recovered = [f"{bag.get('bag')}: {bag['recovery']}" for bag in bags if bag.get("recovery")]
    rows += [("recovered", "<br>".join(html.escape(r) for r in recovered))] if recovered else []
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v if k == 'recovered' else html.escape(v)}</td></tr>" for k, v in rows
    )
    return f"<h1>{html.escape(root.name)}</h1><table>{cells}</table>"


def _timeline_rows(details: dict[str, Any] | None, found: dict[str, Any]) -> list[tuple[str, list[list[int]]]]:
    rows: list[tuple[str, list[list[int]]]] = []
    for kind, by_topic in (details or {}).get("fault_frames", {}).items():
        rows += [(f"{kind.replace('_', ' ')}: {topic[-30:]}", spans) for topic, spans in by_topic.items()]
    rows += [(f"frozen: {key.split('.')[-1]}", spans) for key, spans in found["frozen_frames"].items()]
    rows += [(f"NaN/inf: {key}", spans) for key, spans in found["nonfinite_frames"].items()]
    return rows


def _strips(info: Info, ep: Episode, thumbs: _Thumbs) -> str:
    out = []
    for key in info.video_keys:
        got = thumbs.got.get((key, ep.index), {})
        figures = "".join(
            f'<figure><img alt="{html.escape(key)} frame {k}" src="{uri}"><figcaption>frame {k}</figcaption></figure>'
            for k, uri in sorted(got.items())
        )
        out.append(f'<div class="strip"><b>{html.escape(key)}</b><br>{figures or "no decodable frame"}</div>')
    return "".join(out)


def _episode(info: Info, ep: Episode, context: _Context) -> str:
    bag, details = context.report.get(ep.index, ({}, None))
    found = context.findings["episodes"][ep.index]
    names = {key: info.features[key].get("names") or [] for key in context.keys}
    values = context.series.get(ep.index, {})
    panels = [(key, values[key].astype(np.float64), names[key]) for key in context.keys if key in values]
    parts = [f'<section class="ep"><h2>episode {ep.index} ({ep.length} frames)</h2>']
    if bag:
        first = details["bag_frame"] if details else 0
        parts.append(f"<p>bag {html.escape(str(bag.get('bag')))}, from its frame {first}</p>")
    lines = context.lines(found)
    if lines:
        parts.append("".join(f'<p class="fault">{html.escape(line)}</p>' for line in lines))
    parts.append(_strips(info, ep, context.thumbs))
    if panels:
        parts.append(f'<div><img alt="state and action" src="{series_plot(info.fps, panels)}"></div>')
    timeline = timeline_plot(ep.length, _timeline_rows(details, found))
    parts.append(f'<div><img alt="fault timeline" src="{timeline}"></div>')
    if details and bag.get("offset_edges_ms"):
        offsets = offsets_plot(bag["offset_edges_ms"], details["offsets"])
        parts.append(f'<div><img alt="pick offsets" src="{offsets}"></div>')
    parts.append("</section>")
    return "".join(parts)


@dataclass
class _Context:
    report: dict[int, tuple[dict[str, Any], dict[str, Any]]]
    findings: dict[str, Any]
    keys: list[str]
    series: dict[int, dict[str, NDArray[Any]]]
    thumbs: _Thumbs
    lines: Callable[[dict[str, Any]], list[str]]


def render_preview(root: Path, progress: Callable[[str], None] = lambda message: None) -> str:
    """The whole page as one HTML string."""
    from spill2lerobot.validate.quality import finding_lines

    root = Path(root)
    info, episodes = load_dataset(root)
    report = _report(root)
    thumbs = _Thumbs({ep.index: _wanted(ep, report.get(ep.index, ({}, None))[1]) for ep in episodes})
    progress(f"preview: decoding the videos of {len(episodes)} episodes")
    findings = quality_findings(root, hook=thumbs.hook)
    keys = vector_keys(info)

    def lines(found: dict[str, Any]) -> list[str]:
        return finding_lines({"score": 0, "episodes": [found]})[:-1]

    context = _Context(report, findings, keys, _series(root, keys), thumbs, lines)
    bags = list({id(bag): bag for bag, _ in report.values()}.values())
    body = [_summary(root, info, episodes, findings, bags)]
    for ep in episodes:
        body.append(_episode(info, ep, context))
    progress(f"preview: {len(episodes)} episodes drawn")
    head = f'<meta charset="utf-8"><title>{html.escape(root.name)}</title><style>{CSS}</style>'
    return f"<!DOCTYPE html><html><head>{head}</head><body>{''.join(body)}</body></html>\n"


def write_preview(root: Path, target: Path, progress: Callable[[str], None] = lambda message: None) -> int:
    """Write the page to ``target``; its size in bytes."""
    from spill2lerobot.fsutil import write_bytes_atomic

    data = render_preview(root, progress).encode("utf-8")
    write_bytes_atomic(target, data)
    return len(data)
