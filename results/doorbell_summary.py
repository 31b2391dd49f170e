#!/usr/bin/python3
"""Summarize results/run.sh doorbells: the counter path's busy collective with
0 and with 100 idle collectives open (pcoll_bench allreduce --idle-colls), with
doorbells (PCOLL_DOORBELLS=1, the default) and without, launched one after the
other in each run; and a lone collective without and with doorbells in one
launch (pcoll_bench allreduce --doorbells).

    doorbell_summary.py OUTDIR results/doorbells_db<0|1>_<size>_r<N>.csv ...
                               results/doorbells_cost_<size>_r<N>.csv ...

doorbells.csv: one row per run, doorbell setting, mode and size: the busy
collective's latency with 0 and with 100 idle (medians over the launch's pairs
of blocks: lat_a_us, lat_b_us) and their ratio (the median of the pairs'
 ratios), and the lone
collective's latency without and with doorbells and their ratio (its rows have
doorbells "cost"). The printed summary has, per mode and size, the median and
range over the runs of the scale ratio in each setting (target at most 1.05)
and of the cost ratio. doorbells.png: both.
"""
import csv
import os
import re
import statistics
import sys
from collections import defaultdict

from summary_common import named_rows, ratio_bars, save_figure

NAME = re.compile(r"doorbells_(?:db(?P<db>[01])|cost)_(?P<size>\d+)_r(?P<run>\d+)\.csv$")


def main():
    out, files = sys.argv[1], sys.argv[2:]
    blocks = defaultdict(lambda: ([], [], []))  # (run, db, mode, size) -> lat0, latN, ratios
    costs = defaultdict(lambda: ([], [], []))  # (run, mode, size) -> without, with, ratios
    for m, row in named_rows(NAME, files, "doorbell_summary"):
        if m["db"] is None:
            key = (int(m["run"]), row["mode"], int(row["size"]))
            if row["doorbells"] == "0":
                costs[key][0].append(float(row["avg_us"]))
            else:
                costs[key][1].append(float(row["avg_us"]))
                costs[key][2].append(float(row["ratio"]))
            continue
        key = (int(m["run"]), int(m["db"]), row["mode"], int(row["size"]))
        if row["idle_colls"] == "0":
            blocks[key][0].append(float(row["avg_us"]))
        else:
            blocks[key][1].append(float(row["avg_us"]))
            blocks[key][2].append(float(row["ratio"]))
    rows = []
    for (run, db, mode, size), (l0, ln, ra) in sorted(blocks.items()):
        if l0 and ln and ra:
            rows.append((run, db, mode, size, statistics.median(l0), statistics.median(ln),
                         statistics.median(ra)))
    for (run, mode, size), (wo, wi, ra) in sorted(costs.items()):
        if wo and wi and ra:
            rows.append((run, "cost", mode, size, statistics.median(wo), statistics.median(wi),
                         statistics.median(ra)))
    if not rows:
        sys.exit("doorbell_summary: no runs")
    with open(os.path.join(out, "doorbells.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "doorbells", "mode", "size", "lat_a_us", "lat_b_us", "ratio"])
        for r in rows:
            w.writerow(list(r[:4]) + [f"{r[4]:.3f}", f"{r[5]:.3f}", f"{r[6]:.3f}"])
    ratio, cost = defaultdict(list), defaultdict(list)
    for run, db, mode, size, la, lb, ra in rows:
        if db == "cost":
            cost[(mode, size)].append(ra)
        else:
            ratio[(mode, size, db)].append(ra)
    keys = sorted({(r[2], r[3]) for r in rows}, key=lambda k: (k[1], k[0]))
    fmt = lambda v: f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" if v else "-"
    print("mode      size   100 idle / 0 idle: without doorbells   with doorbells   "
          "lone collective, with / without")
    for mode, size in keys:
        print(f"{mode:8} {size:5}   {fmt(ratio[(mode, size, 0)]):>32}   "
              f"{fmt(ratio[(mode, size, 1)]):>16}   {fmt(cost[(mode, size)]):>16}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    labels = [f"{m}\n{s} B" for m, s in keys]
    ax = axes[0]
    for off, db, name, color in ((-0.2, 0, "without doorbells", "tab:red"),
                                 (0.2, 1, "with doorbells (default)", "tab:blue")):
        v = [ratio[(m, s, db)] for m, s in keys]
        med = [statistics.median(x) if x else 0 for x in v]
        ax.bar([i + off for i in range(len(keys))], med, width=0.4, color=color, label=name,
               yerr=[[m - min(x) if x else 0 for m, x in zip(med, v)],
                     [max(x) - m if x else 0 for m, x in zip(med, v)]], capsize=4)
    ax.axhline(1.05, color="black", linewidth=0.8, linestyle="--", label="target 1.05")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(labels)
    ax.set_ylabel("latency with 100 idle / with 0 idle (median over runs, bars: range)")
    ax.set_title("the engine's scale on the counter path")
    ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    ratio_bars(axes[1], labels, [cost[k] for k in keys],
               "what the doorbells cost a lone collective",
               "latency with / without doorbells (median over runs, bars: range)")
    save_figure(fig, "Counter path (PCOLL_NOTIFY=cntr), shm, P = 2, OSU shape",
                os.path.join(out, "doorbells.png"))


if __name__ == "__main__":
    main()
