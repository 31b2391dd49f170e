#!/usr/bin/python3
"""Summarize results/run.sh base: measured / ideal at P = 8 (shm, 1 MiB) with
20 ms of base compute, the same with a 10 us idle sleep, and 100 ms of base
compute, where moving the data takes a fifth of the share of a step it takes
at 20 ms.

    base_summary.py OUTDIR results/imbalance_p8_base_<cfg>_r<N>.csv ...

imbalance_p8_base.csv: one row per configuration, mode and pattern, with the
median and range over the runs of measured / ideal. imbalance_p8_base.png:
those medians (ranges as error bars), one panel per mode, a line at 0.9.
"""
import csv
import os
import re
import statistics
import sys
from collections import defaultdict

from summary_common import median_bars, named_rows, save_figure

NAME = re.compile(r"imbalance_p8_base_(?P<cfg>b\d+(?:idle\d+)?)_r(?P<run>\d+)\.csv$")
LABEL = {"b20": "base 20 ms", "b20idle10": "base 20 ms, idle sleep 10 us",
         "b100": "base 100 ms"}


def mode_name(mode):
    return mode.split(":")[0]


def main():
    out, files = sys.argv[1], sys.argv[2:]
    ratios = defaultdict(list)  # (cfg, mode, pattern) -> [measured / ideal]
    patterns, cfgs = [], []
    for m, row in named_rows(NAME, files, "base_summary"):
        key = (m["cfg"], mode_name(row["mode"]), row["pattern"])
        ratios[key].append(float(row["ratio"]))
        if row["pattern"] not in patterns:
            patterns.append(row["pattern"])
        if m["cfg"] not in cfgs:
            cfgs.append(m["cfg"])
    if not ratios:
        sys.exit("base_summary: no rows")
    cfgs = [c for c in LABEL if c in cfgs] + [c for c in cfgs if c not in LABEL]
    modes = ["solo", "majority", "quorum", "sync"]
    with open(os.path.join(out, "imbalance_p8_base.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["config", "mode", "pattern", "runs", "ratio_median", "ratio_min",
                    "ratio_max"])
        for (cfg, mode, pat), v in sorted(ratios.items()):
            w.writerow([cfg, mode, pat, len(v), f"{statistics.median(v):.4f}",
                        f"{min(v):.4f}", f"{max(v):.4f}"])
    for cfg in cfgs:
        cells = [(k, v) for k, v in ratios.items() if k[0] == cfg and k[1] != "sync"]
        if not cells:
            continue
        met = sum(statistics.median(v) >= 0.9 for _, v in cells)
        low = min(cells, key=lambda kv: statistics.median(kv[1]))
        sync = [statistics.median(v) for k, v in ratios.items() if k[0] == cfg and k[1] == "sync"]
        print(f"{LABEL.get(cfg, cfg)}: {met} of {len(cells)} partial cells >= 0.9 (median); "
              f"lowest {low[0][1]} {low[0][2]} {statistics.median(low[1]):.3f}"
              + (f"; sync {min(sync):.3f}-{max(sync):.3f}" if sync else ""))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(modes), 1, figsize=(10, 2.6 * len(modes)), sharex=True)
    width = 0.8 / len(cfgs)
    for ax, mode in zip(axes, modes):
        for i, cfg in enumerate(cfgs):
            groups = [ratios.get((cfg, mode, p), []) for p in patterns]
            xs = [x + (i - (len(cfgs) - 1) / 2) * width for x in range(len(patterns))]
            median_bars(ax, xs, groups, width, capsize=3, label=LABEL.get(cfg, cfg))
        ax.axhline(0.9, color="black", linewidth=0.8, linestyle="--")
        ax.set_ylim(0.6, 1.1)
        ax.set_ylabel(f"{mode}\nmeasured / ideal")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, ncol=len(cfgs))
    axes[-1].set_xticks(range(len(patterns)))
    axes[-1].set_xticklabels(patterns)
    save_figure(fig, "P = 8, shm, 1 MiB, S = 4: measured / ideal by base compute",
                os.path.join(out, "imbalance_p8_base.png"))


if __name__ == "__main__":
    main()
