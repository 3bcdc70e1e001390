"""Figures of attacked runs, in the layout of the paper's Fig. 6: per-class bars and misleading rate vs PSR.

Input: run documents of the link command (``{"runs": [...]}`` files), with or without an ``"attack"``
(a run without one is drawn as "no attack").
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_write

__all__ = ["run_label", "plot_attack_runs"]


def _attack_name(attack: dict) -> str:
    """``semadv t2->5``: the attack, its target class(es) and controllable class when it has them."""
    name = attack["name"]
    target = attack.get("target_class")
    if target is not None:
        name += " t" + ("-".join(map(str, target)) if isinstance(target, list) else str(target))
    if attack.get("controllable_class") is not None:
        name += f"->{attack['controllable_class']}"
    return name


def run_label(run: dict) -> str:
    """``system [attack t<target>-><class> @ PSR dB]`` (``no attack`` for clean runs)."""
    attack = run.get("attack")
    if not attack or attack.get("name") == "identity":
        return f"{run['system']} [no attack]"
    psr = attack.get("psr_db")
    return f"{run['system']} [{_attack_name(attack)}" + (f" @ {psr:g} dB]" if psr is not None else "]")


def _point_index(run: dict, snr_db: float | None) -> int | None:
    snrs = run["results"].get("snr_db", [])
    if not snrs:
        return None
    if snr_db is None:
        return 0
    best = min(range(len(snrs)), key=lambda i: abs(snrs[i] - snr_db))
    return best if abs(snrs[best] - snr_db) < 1e-9 else None


def plot_attack_runs(runs: list[dict], path: str | Path, snr_db: float | None = None, title: str | None = None) -> Path:
    """Per-class accuracy / PSNR / SSIM bars (one bar per run and class, the run's mean dotted) at ``snr_db``
    (default: each run's first SNR point), and the misleading rate vs PSR for every attack (same system,
    target and controllable class) the runs hold at two or more PSRs.

    :raises ValueError: no run has per-class results at ``snr_db``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picked = []
    for run in runs:
        i = _point_index(run, snr_db)
        if i is not None and run["results"].get("per_class"):
            picked.append((run, i))
    if not picked:
        raise ValueError(f"no run has per-class results at SNR {snr_db} dB")
    metrics = [m for m in ("accuracy", "psnr", "ssim") if any(m in r["results"]["per_class"] for r, _ in picked)]

    by_attack: dict[str, list[tuple[float, float]]] = {}
    for run, i in picked:
        attack = run.get("attack") or {}
        rate = run["results"].get("misleading_rate")
        if attack.get("psr_db") is not None and rate is not None and rate[i] is not None:
            label = f"{run['system']} [{_attack_name(attack)}]"
            if attack.get("misleading_towards") is not None:
                label += f" towards {attack['misleading_towards']}"
            by_attack.setdefault(label, []).append((attack["psr_db"], rate[i]))
    by_attack = {k: v for k, v in by_attack.items() if len({p for p, _ in v}) >= 2}
    show_rate = bool(by_attack)

    panels = len(metrics) + (1 if show_rate else 0)
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    axes = axes[0]
    labels = {"accuracy": "accuracy", "psnr": "PSNR [dB]", "ssim": "SSIM"}
    width = 0.8 / len(picked)
    for ax, metric in zip(axes, metrics):
        for k, (run, i) in enumerate(picked):
            values = run["results"]["per_class"].get(metric)
            if values is None:
                continue
            values = values[i]
            xs = [c + (k - (len(picked) - 1) / 2) * width for c in range(len(values))]
            bars = ax.bar(xs, [v if v is not None else 0 for v in values], width, label=run_label(run),
                          hatch="//" if run.get("conventional") else None)
            present = [v for v in values if v is not None]
            if present:
                ax.axhline(sum(present) / len(present), linestyle=":", color=bars.patches[0].get_facecolor())
        ax.set_xlabel("class")
        ax.set_ylabel(labels[metric])
        ax.set_xticks(range(len(picked[0][0]["results"]["per_class"][metrics[0]][picked[0][1]])))
        ax.grid(axis="y", alpha=0.3)
    if metrics:
        axes[0].legend(fontsize=7)
    if show_rate:
        ax = axes[-1]
        for label, pts in sorted(by_attack.items()):
            pts = sorted(pts)
            ax.plot([p for p, _ in pts], [r for _, r in pts], marker="o", label=label)
        ax.set_xlabel("PSR [dB]")
        ax.set_ylabel("misleading rate")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    snr_text = f"SNR {snr_db:g} dB" if snr_db is not None else "first SNR point of each run"
    fig.suptitle(title or snr_text)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110))
    plt.close(fig)
    return path
