#!/usr/bin/python3
"""Summarize results/run.sh pipe: the ratio pipelined / plain reduce-scatter +
allgather per provider, shape, segment size, message size and run (pipe.csv),
and its median over the runs against the message size (pipe.png).

    pipe_summary.py OUTDIR results/pipe_<prov>[_b2b]_<rsag|pipeSEG>_r<N>.csv ...
"""
import csv
import os
import re
import statistics
import sys
from collections import defaultdict

from summary_common import named_rows

NAME = re.compile(r"pipe_(?P<prov>[a-z]+)(?:_b2b)?_(?P<cfg>rsag|pipe\d+)_r(?P<run>\d+)\.csv$")


def main():
    out, files = sys.argv[1], sys.argv[2:]
    lat = {}  # (prov, shape, cfg, size, run) -> avg us
    for m, row in named_rows(NAME, files, "pipe_summary"):
        key = (m["prov"], row["shape"], m["cfg"], int(row["size"]), int(m["run"]))
        lat[key] = float(row["avg_us"])
    rows, ratios = [], defaultdict(list)
    for (prov, shape, cfg, size, run), us in sorted(lat.items()):
        base = lat.get((prov, shape, "rsag", size, run))
        if cfg == "rsag" or base is None:
            continue
        seg = int(cfg[4:])
        rows.append((prov, shape, seg, size, run, us, base, us / base))
        ratios[(prov, shape, seg)].append((size, us / base))
    with open(os.path.join(out, "pipe.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["provider", "shape", "segment_bytes", "size", "run", "pipe_us", "rsag_us", "ratio"])
        for r in rows:
            w.writerow(list(r[:5]) + [f"{r[5]:.2f}", f"{r[6]:.2f}", f"{r[7]:.3f}"])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6.5))
    for (prov, shape, seg), pts in sorted(ratios.items()):
        by = defaultdict(list)
        for size, r in pts:
            by[size].append(r)
        xs = sorted(by)
        ax.plot(xs, [statistics.median(by[x]) for x in xs], marker="o",
                label=f"{prov} {shape} segments {seg // 1024} KiB")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("pipelined / plain, median of the runs")
    ax.set_title("PCOLL_ALGORITHM=pipe against rsag, sync, P = 2 (below 1: pipelining helps)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(os.path.join(out, "pipe.png"), dpi=100)


if __name__ == "__main__":
    main()
