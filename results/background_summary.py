#!/usr/bin/python3
"""Summarize results/run.sh background: a small allreduce's latency while a
second thread steps a large collective whose reductions run under the engine
lock or outside it (pcoll_bench allreduce --background).

    background_summary.py OUTDIR results/background_<prov>_<size>_r<N>.csv ...

background.csv: one row per pair of blocks (run, provider, mode, size), with
both latencies, their ratio outside / under and the background collective's
steps/s in each. background.png: the small allreduce's latency in each variant
(median, quartiles) and the background's steps/s ratio (median, range).
"""
import csv
import os
import re
import statistics
import sys
from collections import defaultdict

from summary_common import named_rows, ratio_bars, save_figure

NAME = re.compile(r"background_(?P<prov>[a-z]+)_(?P<size>\d+)_r(?P<run>\d+)\.csv$")


def main():
    out, files = sys.argv[1], sys.argv[2:]
    blocks = {}  # (prov, mode, size, run, pair, where) -> (avg_us, bg_steps_per_s)
    for m, row in named_rows(NAME, files, "background_summary"):
        key = (m["prov"], row["mode"], int(row["size"]), int(m["run"]), int(row["block"]),
               row["reduce"])
        blocks[key] = (float(row["avg_us"]), float(row["bg_steps_per_s"]))
    rows = []
    lat, bg = defaultdict(list), defaultdict(list)
    for (prov, mode, size, run, pair, where), (us, rate) in sorted(blocks.items()):
        if where != "under":
            continue
        other = blocks.get((prov, mode, size, run, pair, "outside"))
        if other is None:
            continue
        rows.append((run, prov, mode, size, pair, us, other[0], other[0] / us, rate, other[1],
                     other[1] / rate))
        lat[(prov, mode, size)].append(other[0] / us)
        bg[(prov, mode, size)].append(other[1] / rate)
    with open(os.path.join(out, "background.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "provider", "mode", "size", "pair", "under_us", "outside_us",
                    "latency_ratio", "bg_under_steps_per_s", "bg_outside_steps_per_s",
                    "bg_ratio"])
        for r in rows:
            w.writerow(list(r[:5]) + [f"{r[5]:.2f}", f"{r[6]:.2f}", f"{r[7]:.3f}",
                                      f"{r[8]:.1f}", f"{r[9]:.1f}", f"{r[10]:.3f}"])
    for key in sorted(lat):
        v, b = lat[key], bg[key]
        print(f"{key[0]:4} {key[1]:5} {key[2]:>8}: latency outside/under median "
              f"{statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f}, {len(v)} pairs); "
              f"background steps/s outside/under {statistics.median(b):.3f} "
              f"({min(b):.3f}-{max(b):.3f})")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    keys = sorted(lat)
    labels = [f"{p} {m}\n{s // 1024} KiB" for p, m, s in keys]
    # Left: the small allreduce's latency in each variant (median over every
    # block; bars: the quartiles), log scale: single blocks stray by 100x.
    under, outside = defaultdict(list), defaultdict(list)
    for r in rows:
        under[(r[1], r[2], r[3])].append(r[5])
        outside[(r[1], r[2], r[3])].append(r[6])
    ax = axes[0]
    for off, data, name, color in ((-0.2, under, "reductions under the lock", "tab:red"),
                                   (0.2, outside, "outside it (default)", "tab:blue")):
        med = [statistics.median(data[k]) for k in keys]
        q = [statistics.quantiles(data[k], n=4) if len(data[k]) > 1 else [med[i]] * 3
             for i, k in enumerate(keys)]
        ax.bar([i + off for i in range(len(keys))], med, width=0.4, color=color, label=name,
               yerr=[[m - qq[0] for m, qq in zip(med, q)], [qq[2] - m for m, qq in zip(med, q)]],
               capsize=4)
    ax.set_yscale("log")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(labels)
    ax.set_ylabel("small allreduce latency (us), median (bars: quartiles)")
    ax.set_title("small allreduce beside a 16 MiB collective")
    ax.legend()
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ratio_bars(axes[1], labels, [bg[k] for k in keys], "background's steps/s, outside / under",
               "median over the pairs (bars: range)")
    save_figure(fig, "Reductions of a 16 MiB collective under or outside the engine lock, P = 2",
                os.path.join(out, "background.png"))


if __name__ == "__main__":
    main()
