"""Side-by-side BLER/BER of the fast and Sionna LDPC decoders from `python -m sionna_semcomm.link` results files.

    python docs/perf/compare_bler.py docs/perf/bler_awgn_fast.json docs/perf/bler_awgn_sionna.json ...

Pairs the runs of the same scenario/system and SNR; prints a Markdown table with the BLER difference in units of
its binomial standard error (both decoders see the same frames: same seed, so the comparison is paired), and the
SNR at BLER 1e-2 interpolated log-linearly between the two grid points around it.
"""

import json
import math
import sys
from collections import defaultdict


def load(paths):
    runs = defaultdict(dict)  # (scenario, system) -> decoder -> {snr: (ber, bler, blocks, iters)}
    for p in paths:
        for r in json.load(open(p))["runs"]:
            dec = r["config"]["system"]["ldpc_decoder"]
            res = r["results"]
            pts = runs[(r["scenario"], r["system"])].setdefault(dec, {})
            for i, s in enumerate(res["snr_db"]):
                pts[s] = (res["ber"][i], res["bler"][i], res["blocks"][i], res["ldpc_iterations"][i])
    return runs


def snr_at(pts, target=1e-2):
    snrs = sorted(pts)
    for a, b in zip(snrs, snrs[1:]):
        pa, pb = pts[a][1], pts[b][1]
        if pa >= target > pb:
            if pb == 0:
                return f"< {b:g} (0 errors at {b:g})"
            t = (math.log10(pa) - math.log10(target)) / (math.log10(pa) - math.log10(pb))
            return f"{a + t * (b - a):.2f}"
    return "n/a"


def main(paths):
    runs = load(paths)
    print("| scenario | system | SNR [dB] | frames | BLER fast | BLER sionna | diff / std.err. | BER fast | BER sionna | iter fast | iter sionna |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    summary = []
    for (scen, system), decs in sorted(runs.items()):
        f, s = decs.get("fast", {}), decs.get("sionna", {})
        for snr in sorted(set(f) & set(s)):
            bf, bs = f[snr][1], s[snr][1]
            n = f[snr][2]
            p = (bf + bs) / 2
            se = math.sqrt(max(p * (1 - p), 1 / n) * 2 / n)  # std. error of the difference (independent-approx.)
            print(f"| {scen} | {system} | {snr:g} | {n} | {bf:.4f} | {bs:.4f} | {(bf - bs) / se:+.1f} | "
                  f"{f[snr][0]:.2e} | {s[snr][0]:.2e} | {f[snr][3]:.2f} | {s[snr][3]:.2f} |")
        summary.append((scen, system, snr_at(f), snr_at(s)))
    print()
    print("| scenario | system | SNR at BLER 1e-2, fast | sionna |")
    print("|---|---|---|---|")
    for row in summary:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
