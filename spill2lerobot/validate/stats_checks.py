"""Statistics: ``meta/stats.json`` and the episodes' ``stats/<feature>/<stat>`` columns are complete,
ordered, of the right counts, and agree with the data (recomputed in the data pass)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from spill2lerobot import lerobot_format
from spill2lerobot.stats import QUANTILE_KEYS, STAT_KEYS, aggregate, estimate_num_samples
from spill2lerobot.validate.data import DataScan
from spill2lerobot.validate.episodes import Episode
from spill2lerobot.validate.metadata import Array, Floats, Info
from spill2lerobot.validate.report import Report

FeatureStats = Mapping[str, Array]  # stat name -> values


def _expected_stat_shape(info: Info, key: str) -> tuple[int, ...]:
    ft = info.features[key]
    if ft["dtype"] in ("video", "image"):
        return (ft["shape"][2] if len(ft["shape"]) == 3 else 3, 1, 1)
    return (info.width(key),)


def _sanity(stats: FeatureStats, shape: tuple[int, ...], label: str) -> list[str]:
    """Complete, right shapes, ordered quantiles, std >= 0: what any statistics must satisfy."""
    problems = []
    missing = [name for name in STAT_KEYS if name not in stats]
    if missing:
        problems.append(f"{label} lacks {', '.join(missing)}")
    values = {name: stats[name] for name in STAT_KEYS if name in stats and name != "count"}
    for name, value in values.items():
        if value.shape != shape:
            problems.append(f"{label} {name} has shape {value.shape}, expected {shape}")
        elif not np.isfinite(value).all():
            problems.append(f"{label} {name} is not finite")
    if any(v.shape != shape or not np.isfinite(v).all() for v in values.values()) or missing:
        return problems
    lo, hi = values["min"], values["max"]
    slack = 1e-8 + 1e-6 * np.abs(hi - lo)
    chain = ["min", *QUANTILE_KEYS, "max"]
    for a, b in itertools.pairwise(chain):
        bad = np.flatnonzero((values[a] > values[b] + slack).reshape(-1))
        if len(bad):
            i = bad[0]
            problems.append(
                f"{label} {a} > {b} at [{i}] ({values[a].reshape(-1)[i]:.6g} > {values[b].reshape(-1)[i]:.6g})"
            )
    bad = np.flatnonzero(((values["mean"] < lo - slack) | (values["mean"] > hi + slack)).reshape(-1))
    if len(bad):
        i = bad[0]
        problems.append(f"{label} mean[{i}] = {values['mean'].reshape(-1)[i]:.6g} is outside [min, max]")
    bad = np.flatnonzero((values["std"] < 0).reshape(-1))
    if len(bad):
        problems.append(f"{label} std[{bad[0]}] is negative")
    return problems


def _disagree(got: Floats, want: Floats, scale: Array | int) -> Array:
    """Positions where ``got`` and ``want`` (same shape) differ beyond float noise."""
    tol = 1e-5 * np.maximum(np.asarray(scale, np.float64).reshape(-1), np.abs(want)) + 1e-9
    return np.flatnonzero(~(np.abs(got - want) <= tol))


def _span(stats: FeatureStats) -> Floats:
    return np.abs(np.asarray(stats["max"], np.float64) - np.asarray(stats["min"], np.float64))


def _compare(
    report: Report, path: Path | str, label: str, stats: FeatureStats, truth: FeatureStats, source: str, span: Floats
) -> None:
    """One line per statistic of ``stats`` that disagrees with ``truth`` (first differing entry)."""
    for name, want_values in truth.items():
        if name not in stats:
            continue
        got = np.asarray(stats[name], np.float64).reshape(-1)
        want = np.asarray(want_values, np.float64).reshape(-1)
        if got.shape != want.shape:
            continue  # the sanity check reports wrong shapes
        bad = _disagree(got, want, span if name != "count" else 0)
        if len(bad):
            at = bad[0]
            more = f" (and {len(bad) - 1} more entries)" if len(bad) > 1 else ""
            report.fail(path, f"{label} {name}[{at}] = {got[at]:.6g}, {source} give {want[at]:.6g}{more}")


def _read_stats_json(path: Path, report: Report) -> dict[str, dict[str, Floats]] | None:
    if not path.exists():
        report.fail(path, "missing (lerobot normalizes with it)")
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {
            key: {name: np.atleast_1d(np.asarray(v, dtype=np.float64)) for name, v in ft.items()}
            for key, ft in raw.items()
        }
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        report.fail(path, f"unreadable ({exc})")
        return None


def _check_episode(
    info: Info, ep: Episode, keys: list[str], scan: DataScan | None, report: Report
) -> tuple[list[str], bool]:
    """One episode's stats: sane, right counts, agreeing with its rows. Returns the features it
    has no stats for, and whether all it has are sane (usable for the dataset's aggregate)."""
    lacking = []
    sane = True
    for key in keys:
        ft_stats = ep.stats.get(key)
        if ft_stats is None:
            lacking.append(key)
            continue
        problems = _sanity(ft_stats, _expected_stat_shape(info, key), f"episode {ep.index} stats/{key}")
        for problem in problems:
            report.fail(ep.source, problem)
        sane = sane and not problems
        if "count" in ft_stats:
            is_image = info.features[key]["dtype"] in ("video", "image")
            want = estimate_num_samples(ep.length) if is_image else ep.length
            if int(ft_stats["count"].reshape(-1)[0]) != want:
                what = "sampled frames" if is_image else "frames"
                report.fail(
                    ep.source,
                    f"episode {ep.index} stats/{key}/count is {int(ft_stats['count'].reshape(-1)[0])}, "
                    f"expected {want} ({what} of {ep.length})",
                )
    # episode stats against the data (when its rows are right: else that is the problem)
    if scan is not None and ep.index in scan.complete:
        for key in keys:
            if key in scan.sums and key in ep.stats:
                truth = scan.sums[key].episode(ep.index)
                if truth is not None:
                    label = f"episode {ep.index} stats/{key}"
                    _compare(report, ep.source, label, ep.stats[key], truth, "the data", _span(truth))
    return lacking, sane


def check_stats(root: Path, info: Info, episodes: list[Episode] | None, scan: DataScan | None, report: Report) -> None:
    path = root / lerobot_format.STATS_PATH
    dataset_stats = _read_stats_json(path, report)
    keys = [key for key, ft in info.features.items() if ft["dtype"] not in ("string", "language")]
    ep_ok = episodes is not None
    if dataset_stats is not None:
        for key in keys:
            if key not in dataset_stats:
                report.fail(path, f"no statistics for feature {key}")
                continue
            for problem in _sanity(dataset_stats[key], _expected_stat_shape(info, key), key):
                report.fail(path, problem)
    per_episode: list[dict[str, dict[str, Floats]]] = []
    without: dict[tuple[str, str], list[int]] = {}  # (episodes file, feature) -> episodes lacking stats
    for ep in episodes or []:
        lacking, sane = _check_episode(info, ep, keys, scan, report)
        for key in lacking:
            without.setdefault((ep.source, key), []).append(ep.index)
        ep_ok = ep_ok and not lacking and sane
        per_episode.append(ep.stats)
    for (source, key), missing in without.items():
        if len(missing) == 1:
            report.fail(source, f"episode {missing[0]} has no stats/{key}/... values")
        else:
            report.fail(source, f"{len(missing)} episodes ({missing[0]}..{missing[-1]}) have no stats/{key}/... values")
    if dataset_stats is None:
        return
    # stats.json against the data (min/max/mean/count of numeric features) and against the
    # aggregate of the episodes' stats (everything else: images, std, quantiles)
    merged = aggregate([{k: v for k, v in s.items() if k in keys} for s in per_episode]) if ep_ok else {}
    for key in keys:
        if key not in dataset_stats:
            continue
        data = scan.sums[key].dataset() if scan is not None and scan.clean and key in scan.sums else None
        checked: set[str] = set()
        if data is not None and scan is not None:
            truth = {**data, "count": np.array([scan.rows])}
            _compare(report, path, key, dataset_stats[key], truth, "the data", _span(data))
            checked = set(truth)
        if key in merged:
            rest = {name: value for name, value in merged[key].items() if name not in checked}
            _compare(report, path, key, dataset_stats[key], rest, "the episodes' stats", _span(merged[key]))
