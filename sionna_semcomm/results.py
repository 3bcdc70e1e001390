"""Results documents (DESIGN.md) and curves.

A command's output file is ``{"runs": [doc, ...]}``, one document per system::

    {"name", "scenario", "system", "seed", "conventional", "versions": {...}, "config": {...},
     "results": {"snr_db": [...], "<metric>": [one value per SNR point], ..., "<accounting key>": number,
                 "per_class": {"<metric>": [[one value per class] per SNR point]}},
     "attack": {...}   # only under attack}

Files are written atomically. Plots overlay any number of runs; conventional systems are dashed.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

from .atomic import atomic_write, atomic_write_json

__all__ = ["versions", "make_run", "write_runs", "read_runs", "plot_runs", "format_table", "METRIC_LABELS"]

METRIC_LABELS = {
    "ber": "BER",
    "bler": "BLER",
    "ber_theory": "BER (theory)",
    "psnr": "PSNR [dB]",
    "ssim": "SSIM",
    "accuracy": "accuracy",
    "decode_failure_rate": "decode failures",
}
LOG_METRICS = {"ber", "bler", "ber_theory"}


def versions() -> dict:
    """Versions of the software that produced a result, and the CPU threads it ran with."""
    from .runtime import thread_setting

    out = {"python": platform.python_version(), "threads": thread_setting()}
    for pkg in ("sionna-semcomm", "sionna-no-rt", "torch", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def make_run(*, scenario: str, system: str, seed: int, config: dict, results: dict, conventional: bool = False,
             attack: dict | None = None, name: str | None = None) -> dict:
    """One results document (see the module doc)."""
    snr = results.get("snr_db")
    if snr is None:
        raise ValueError("results must contain 'snr_db'")
    for key, value in results.items():
        if isinstance(value, list) and key != "snr_db" and len(value) != len(snr):
            raise ValueError(f"results[{key!r}] has {len(value)} values for {len(snr)} SNR points")
    doc = {
        "name": name or f"{scenario}/{system}",
        "scenario": scenario,
        "system": system,
        "seed": seed,
        "conventional": conventional,
        "versions": versions(),
        "config": config,
        "results": results,
    }
    if attack is not None:
        doc["attack"] = attack
    return doc


def write_runs(path: str | Path, runs: list[dict]) -> Path:
    """Write ``{"runs": runs}`` atomically."""
    return atomic_write_json(path, {"runs": runs})


def read_runs(path: str | Path) -> list[dict]:
    """Read the runs of a results file, with a clear error if it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a JSON results file ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise ValueError(f"{path}: expected an object with a 'runs' list")
    return data["runs"]


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v == 0:
            return "0"
        return f"{v:.3e}" if abs(v) < 1e-2 else f"{v:.4f}"
    return str(v)


def format_table(runs: list[dict]) -> str:
    """A plain-text table: one row per (system, SNR point), one column per metric."""
    metrics = []
    for run in runs:
        for key, value in run["results"].items():
            if isinstance(value, list) and key != "snr_db" and key not in metrics:
                metrics.append(key)
    header = ["system", "snr_db"] + metrics
    rows = []
    for run in runs:
        res = run["results"]
        for i, snr in enumerate(res["snr_db"]):
            rows.append([run["system"], f"{float(snr):g}"] + [_fmt(res[m][i]) if m in res else "-" for m in metrics])
    widths = [max(len(str(r[c])) for r in [header] + rows) for c in range(len(header))]
    lines = ["  ".join(str(v).rjust(w) for v, w in zip(r, widths)) for r in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot_runs(runs: list[dict], path: str | Path, metrics: list[str] | None = None, title: str | None = None) -> Path:
    """Plot metric-vs-SNR curves of ``runs`` into ``path`` (PNG/PDF/SVG by extension), one panel per metric.

    Conventional systems (``run["conventional"]``) are drawn dashed; BER/BLER on a log axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if metrics is None:
        metrics = [m for m in METRIC_LABELS if m != "ber_theory" and any(m in r["results"] for r in runs)]
    metrics = [m for m in metrics if any(m in r["results"] for r in runs)]
    if not metrics:
        raise ValueError("nothing to plot: none of the runs has a per-SNR metric")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for run in runs:
            res = run["results"]
            if metric not in res:
                continue
            pts = [(s, v) for s, v in zip(res["snr_db"], res[metric]) if v is not None and (metric not in LOG_METRICS or v > 0)]
            if not pts:
                continue
            label = run["system"] + (f" [{run['attack']['name']}]" if run.get("attack") else "")
            line = ax.plot(*zip(*pts), "--" if run.get("conventional") else "-", marker="o", label=label)[0]
            theory = res.get("ber_theory") if metric == "ber" else None
            if theory:
                pts = [(s, v) for s, v in zip(res["snr_db"], theory) if v]
                ax.plot(*zip(*pts), ":", color=line.get_color(), label=label + " (theory)")
        if metric in LOG_METRICS:
            ax.set_yscale("log")
        ax.set_xlabel("SNR (Es/N0 per channel use) [dB]")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120))
    plt.close(fig)
    return path
