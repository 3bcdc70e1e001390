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

from .atomic import atomic_write_json

__all__ = ["versions", "make_run", "write_runs", "read_runs", "plot_runs", "format_table", "METRIC_LABELS",
           "link_description", "attack_name", "run_label"]

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


#: per-point counts of the trials behind an error rate (an error rate of 0 is drawn as an upper bound 1/N)
TRIALS = {"ber": "bits", "bler": "blocks"}


def link_description(run: dict) -> str:
    """``"rayleigh_multipath (8 taps, decay 1.5), LS CSI"``: the channel and receiver of a run's link (from its
    configuration; empty when it records none)."""
    link = (run.get("config") or {}).get("system", {}).get("link") or (run.get("config") or {}).get("scenario", {}).get("link")
    if not isinstance(link, dict) or "channel" not in link:
        return ""
    ch = link["channel"]
    channel = ch["kind"] + (f" ({ch['num_taps']} taps, decay {ch['decay']:g})" if ch["kind"] == "rayleigh_multipath" else "")
    csi = {"ls": "LS", "perfect": "perfect"}.get(link.get("csi"), str(link.get("csi")))
    return f"{channel}, {csi} CSI"


def _default_title(runs: list[dict]) -> str:
    """``scenario: channel, CSI`` shared by the runs; where they differ, the legend labels carry it."""
    scenarios = sorted({r.get("scenario", "") for r in runs})
    links = {link_description(r) for r in runs}
    title = ", ".join(s for s in scenarios if s)
    if len(links) == 1 and "" not in links:
        title += f": {links.pop()}"
    return title


def attack_name(attack: dict) -> str:
    """``semadv t2->5``: the attack of a run document, its target class(es) and controllable class when it has them."""
    name = attack["name"]
    target = attack.get("target_class")
    if target is not None:
        name += " t" + ("-".join(map(str, target)) if isinstance(target, list) else str(target))
    if attack.get("controllable_class") is not None:
        name += f"->{attack['controllable_class']}"
    return name


def run_label(run: dict, with_link: bool = False) -> str:
    """``system [attack t<target>-><class> @ PSR dB]`` (``[no attack]`` for an identity attack; the bare system
    without one) and, with ``with_link``, the run's channel and CSI."""
    attack = run.get("attack")
    if not attack:
        label = run["system"]
    elif attack.get("name") == "identity":
        label = f"{run['system']} [no attack]"
    else:
        psr = attack.get("psr_db")
        label = f"{run['system']} [{attack_name(attack)}" + (f" @ {psr:g} dB]" if psr is not None else "]")
    return label + (f" ({link_description(run)})" if with_link and link_description(run) else "")


def plot_runs(runs: list[dict], path: str | Path, metrics: list[str] | None = None, title: str | None = None) -> Path:
    """Plot metric-vs-SNR curves of ``runs`` into ``path`` (format from the extension), one panel per metric.

    One colour per run across all panels; conventional systems dashed; BER/BLER on a log axis, where a point
    without any error is drawn as an upper bound at ``1/N`` (N bits or blocks sent, see
    :func:`~sionna_semcomm.plotting.upper_bound_marker`); theory dotted. The title is ``title`` (when given) over
    a line naming the scenario, channel and CSI mode of the runs.
    """
    from .plotting import colors, pyplot, save, upper_bound_marker

    plt = pyplot()
    if metrics is None:
        metrics = [m for m in METRIC_LABELS if m != "ber_theory" and any(m in r["results"] for r in runs)]
    metrics = [m for m in metrics if any(m in r["results"] for r in runs)]
    if not metrics:
        raise ValueError("nothing to plot: none of the runs has a per-SNR metric")
    with_link = len({link_description(r) for r in runs}) > 1
    labels = [run_label(r, with_link) for r in runs]
    color = colors(labels)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        log = metric in LOG_METRICS
        for run, label in zip(runs, labels):
            res = run["results"]
            if metric not in res:
                continue
            c, style = color[label], "--" if run.get("conventional") else "-"
            pts = [(s, v) for s, v in zip(res["snr_db"], res[metric]) if v is not None and (not log or v > 0)]
            if pts:
                ax.plot(*zip(*pts), style, marker="o", color=c, label=label)
            trials = res.get(TRIALS.get(metric, ""), [])
            for i, (s, v) in enumerate(zip(res["snr_db"], res[metric])):
                if log and v == 0 and i < len(trials) and trials[i]:
                    upper_bound_marker(ax, s, trials[i], c)
            theory = res.get("ber_theory") if metric == "ber" else None
            if theory:
                pts = [(s, v) for s, v in zip(res["snr_db"], theory) if v]
                ax.plot(*zip(*pts), ":", color=c, label=label + " (theory)")
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("SNR (Es/N0 per channel use) [dB]")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("\n".join(t for t in (title, _default_title(runs)) if t))
    fig.tight_layout()
    return save(fig, path, dpi=120)
