"""Results files as a store that only grows, and the state of a point interrupted mid-way.

A results file is ``{"runs": [doc, ...]}`` (:mod:`sionna_semcomm.results`). :class:`ResultsStore` keeps it
as a set of runs identified by :func:`run_key` (name, system, seed, configuration: the attack is part of
the name and of the configuration) and every write is the union of what the file held and what the run
adds:

- runs of other systems, seeds, configurations or attacks stay as they are;
- a run's SNR points are merged by SNR (:func:`merge_runs`; a point computed again replaces the stored one),
  kept sorted by SNR;
- ``"partial"``: the in-point checkpoint of an unfinished SNR point (counters and random-stream states
  after the last saved batch, :func:`encode_generator` / :func:`restore_generator`); it is kept until that
  point is finished, so a resumed run continues it instead of starting the point again.

The store reads the file once, holds the union in memory and rewrites the file atomically on every
:meth:`ResultsStore.put`, so at no moment does the file hold fewer finished points than before the command
started. One command writes a given file at a time (two writing the same file would each keep only their own
view of the other's runs).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import torch

from .results import read_runs, write_runs

__all__ = ["run_key", "points_of", "with_points", "merge_runs", "ResultsStore", "encode_generator", "restore_generator",
           "encode_tensor", "decode_tensor"]


def run_key(run: dict) -> str:
    """The identity of a run: its name, system, seed and configuration (canonical JSON)."""
    return json.dumps([run.get("name"), run.get("system"), run.get("seed"), run.get("config")], sort_keys=True)


def points_of(results: dict) -> dict[float, dict]:
    """``{snr_db: {metric: value, ..., "per_class": {metric: [per class]}}}`` of a results dict (a list shorter
    than ``snr_db``, in a file written by hand or by an older version, leaves its metric out of the later points)."""
    snrs = results.get("snr_db", [])
    lists = {k: v for k, v in results.items() if isinstance(v, list) and k != "snr_db"}
    per_class = results.get("per_class", {})
    points = {}
    for i, snr in enumerate(snrs):
        point = {k: v[i] for k, v in lists.items() if i < len(v)}
        if per_class:
            point["per_class"] = {m: v[i] for m, v in per_class.items() if i < len(v)}
        points[float(snr)] = point
    return points


def with_points(results: dict, points: dict[float, dict]) -> dict:
    """``results`` with its per-SNR lists rebuilt from ``points`` (sorted by SNR; a metric a point lacks is
    ``None``); scalars (channel-use accounting, ...) are kept."""
    out = {k: v for k, v in results.items() if not isinstance(v, list) and k != "per_class"}
    snrs = sorted(points)
    out["snr_db"] = snrs
    metrics = list(dict.fromkeys(k for p in points.values() for k in p if k != "per_class"))
    for metric in metrics:
        out[metric] = [points[s].get(metric) for s in snrs]
    class_metrics = list(dict.fromkeys(k for p in points.values() for k in p.get("per_class", {})))
    if class_metrics:
        out["per_class"] = {m: [points[s].get("per_class", {}).get(m) for s in snrs] for m in class_metrics}
    return out


def merge_runs(old: dict, new: dict) -> dict:
    """The union of two documents of the same run: ``new``'s fields, the SNR points of both (``new`` wins on
    the same SNR), the in-point checkpoint of ``new`` or else ``old``'s when its point is still unfinished,
    and the attack's measured PSR averaged over the merged points."""
    points = {**points_of(old["results"]), **points_of(new["results"])}
    merged = {**new, "results": with_points({**old["results"], **new["results"]}, points)}
    partial = new.get("partial") or old.get("partial")
    if partial is not None and float(partial["snr_db"]) not in points:
        merged["partial"] = partial
    else:
        merged.pop("partial", None)
    measured = [v for v in merged["results"].get("measured_psr_db", []) if v is not None]
    if isinstance(merged.get("attack"), dict) and "measured_psr_db" in merged["results"]:
        merged["attack"] = {**merged["attack"], "measured_psr_db": sum(measured) / len(measured) if measured else None}
    return merged


class ResultsStore:
    """A results file that only grows (see the module doc).

    :param path: the file; it may not exist yet. An existing file must be a results file.
    :raises ValueError: the file exists but is not a results file (read before any compute).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.runs: list[dict] = read_runs(self.path) if self.path.exists() else []
        for i, run in enumerate(self.runs):
            if not isinstance(run, dict) or not isinstance(run.get("results"), dict):
                raise ValueError(f"{self.path}: run {i} is not a results document (no 'results' object)")

    def get(self, run: dict) -> dict | None:
        """The stored run with ``run``'s identity, or ``None``."""
        key = run_key(run)
        return next((r for r in self.runs if run_key(r) == key), None)

    def put(self, run: dict) -> dict:
        """Merge ``run`` into the store (:func:`merge_runs`), rewrite the file atomically; returns the stored run."""
        key = run_key(run)
        for i, stored in enumerate(self.runs):
            if run_key(stored) == key:
                self.runs[i] = merge_runs(stored, run)
                break
        else:
            self.runs.append(merge_runs(run, run))
            i = len(self.runs) - 1
        write_runs(self.path, self.runs)
        return self.runs[i]

    def finished_points(self) -> int:
        """Number of finished SNR points over all runs (what a resumed run must never lower)."""
        return sum(len(r["results"].get("snr_db", [])) for r in self.runs)


def encode_generator(generator: torch.Generator) -> str:
    """A ``torch.Generator``'s state as text (base64), for the in-point checkpoint."""
    return base64.b64encode(generator.get_state().cpu().numpy().tobytes()).decode("ascii")


def restore_generator(generator: torch.Generator, text: str) -> None:
    """Set ``generator`` to a state written by :func:`encode_generator`."""
    state = torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)
    generator.set_state(state)


def encode_tensor(t: torch.Tensor) -> dict:
    """A small tensor as ``{"dtype", "shape", "values"}`` (JSON; float values round-trip exactly)."""
    return {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape), "values": t.reshape(-1).tolist()}


def decode_tensor(d: dict) -> torch.Tensor:
    """The tensor :func:`encode_tensor` wrote, on the CPU."""
    dtype = getattr(torch, d["dtype"], None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown tensor dtype {d['dtype']!r} in an in-point checkpoint")
    return torch.tensor(d["values"], dtype=dtype).reshape(d["shape"])
