"""``python -m sionna_semcomm.report``: tables and plots from results files.

::

    python -m sionna_semcomm.report table4 r.json --snr-db 10      # the paper's Table IV layout
    python -m sionna_semcomm.report plot a.json b.json --out fig.png --metrics psnr ssim
    python -m sionna_semcomm.report table3                          # parameters and inference time per codec
"""

from __future__ import annotations

import argparse

from .argtypes import ArgumentParser, figure_file, input_file, known_name, positive_int, snr_db
from .results import METRIC_LABELS, plot_runs, read_runs
from .runtime import add_threads_argument, apply_threads

__all__ = ["table4", "setup_args", "main"]


def table4(runs: list[dict], snr_db: float) -> str:
    """Markdown table: system, OFDM symbols per image, PSNR and SSIM at ``snr_db`` (Table IV's layout)."""
    lines = [f"| System (SNR {snr_db:g} dB) | Number of OFDM symbols | PSNR | SSIM |", "|---|---|---|---|"]
    for run in runs:
        res = run["results"]
        if snr_db not in res.get("snr_db", []) or "psnr" not in res:
            continue
        i = res["snr_db"].index(snr_db)
        symbols = res.get("ofdm_symbols_per_image")
        sym = "-" if symbols is None else f"{symbols:g}"
        lines.append(f"| {run['system']} | {sym} | {res['psnr'][i]:.2f} | {res['ssim'][i]:.2f} |")
    if len(lines) == 2:
        raise ValueError(f"no image run has a point at {snr_db:g} dB")
    return "\n".join(lines)


def table3_markdown(rows: list[dict]) -> str:
    """Markdown of :func:`sionna_semcomm.models.table3` rows beside the paper's parameter counts."""
    lines = ["| Model | Parameters | Paper | Inference time |", "|---|---|---|---|"]
    for r in rows:
        paper = "-" if r["paper_params"] is None else f"{r['paper_params']:,}"
        lines.append(f"| {r['codec']} {r['part']} | {r['params']:,} | {paper} | "
                     f"{r['inference_seconds']:.1f} s ({r['num_images']:,} images, {r['device']}) |")
    return "\n".join(lines)


def setup_args() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m sionna_semcomm.report", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("table4", help="system, OFDM symbols per image, PSNR, SSIM at one SNR")
    t.add_argument("files", nargs="+", type=input_file)
    t.add_argument("--snr-db", type=snr_db, default=10.0)
    q = sub.add_parser("plot", help="overlay metric-vs-SNR curves of results files")
    q.add_argument("files", nargs="+", type=input_file)
    q.add_argument("--out", required=True, type=figure_file, help="figure file (png, pdf, svg, ...)")
    q.add_argument("--metrics", nargs="+", type=known_name("metric", METRIC_LABELS),
                   help=f"metrics to draw (default: those the files hold; known: {', '.join(METRIC_LABELS)})")
    q.add_argument("--title")
    r = sub.add_parser("table3", help="parameters and inference time of each codec (paper's Table III)")
    r.add_argument("--image-shape", type=positive_int, nargs=3, default=[3, 32, 32], metavar=("C", "H", "W"))
    r.add_argument("--num-symbols", type=positive_int)
    r.add_argument("--device", default="cpu")
    for sp in (t, q, r):
        add_threads_argument(sp)
    return p


def main(argv: list[str] | None = None) -> str:
    args = setup_args().parse_args(argv)
    apply_threads(args.threads)
    if args.command == "table3":
        from .models import table3
        from .train import _registry

        text = table3_markdown(table3(tuple(args.image_shape), args.num_symbols, _registry(), device=args.device))
        print(text)
        return text
    try:
        runs = [run for f in args.files for run in read_runs(f)]
        if args.command == "table4":
            text = table4(runs, args.snr_db)
        else:
            text = f"plot: {plot_runs(runs, args.out, args.metrics, args.title)}"
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}") from None
    print(text)
    return text


if __name__ == "__main__":
    main()
