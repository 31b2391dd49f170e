#!/usr/bin/python3
"""Summarize results/run.sh torch: examples/torch_digits.py (make demo-torch)
once per seed, sync and majority, and issue 8's target over the seeds.

    torch_summary.py OUTDIR RUNDIR/s<seed>/torch_digits_summary.csv ...

One run's final accuracy is measured on 360 test images (0.28 points each), and
sync's own final accuracy moves by several images from one seed to the next, so
a single run's difference says little about a 0.5-point target. The seeds give
the distribution: torch_seeds.csv has one row per seed (both modes' steps/s,
final accuracy, their difference, how much sooner majority reached sync's
final accuracy, and how much sooner it came within 0.5 points of it, from the
seed's torch_digits.csv beside the summary); the printed summary has the mean
final accuracy of each mode over the seeds, the mean paired difference with its
95% confidence interval, and per-seed counts. torch_seeds.png: final accuracy
per seed, and the speedups.

A seed run with MODES="sync majority majority" (TORCH_REPEAT=1 in run.sh)
has majority twice in one launch: the second run differs from the first only
by the timing that groups gradients into rounds. Its difference from the first
is the run-to-run noise of majority's final accuracy, against which a per-run
0.5-point criterion can be read (majority_repeat_minus_majority; the summary's
"repeat" line).
"""
import csv
import math
import os
import re
import statistics
import sys

from summary_common import named_rows

NAME = re.compile(r"torch_digits_summary\.csv$")
SEED_DIR = re.compile(r"s(\d+)$")
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26,
       10: 2.23, 11: 2.20, 12: 2.18, 13: 2.16, 14: 2.14, 15: 2.13}


def first_time(curve_csv, mode, acc):
    """Wall time of mode's first evaluation at or above acc (nan: never), in the
    mode's first run: a repeated mode's second curve follows the first."""
    last = -1.0
    with open(curve_csv) as fh:
        for row in csv.DictReader(fh):
            if row["mode"] != mode:
                continue
            t = float(row["wall_s"])
            if t < last:  # the clock restarted: the repeat's curve
                break
            last = t
            if float(row["test_acc"]) >= acc - 1e-9:
                return t
    return float("nan")


def main():
    out, files = sys.argv[1], sys.argv[2:]
    by_seed = {}
    for f in files:
        if not SEED_DIR.search(os.path.basename(os.path.dirname(f))):
            sys.exit(f"torch_summary: {f} is not in a directory named s<seed>")
    curves = {}
    for f in files:
        for _, row in named_rows(NAME, [f], "torch_summary"):
            modes = by_seed.setdefault(int(row["seed"]), {})
            # A mode seen twice in one launch (the repeat) keeps its first run.
            modes["majority_repeat" if row["mode"] == "majority" and "majority" in modes
                  else row["mode"]] = row
            curves[int(row["seed"])] = os.path.join(os.path.dirname(f), "torch_digits.csv")
    rows = []
    for seed, modes in sorted(by_seed.items()):
        if "sync" not in modes or "majority" not in modes:
            sys.exit(f"torch_summary: seed {seed} lacks sync or majority")
        s, m, m2 = modes["sync"], modes["majority"], modes.get("majority_repeat")
        if any(x["identical"] != "True" for x in (s, m, m2) if x):
            sys.exit(f"torch_summary: seed {seed}: replicas differ")
        ts, tm = float(s["t_sync_acc_s"]), float(m["t_sync_acc_s"])
        band = float(s["final_acc"]) - 0.5
        bs, bm = (first_time(curves[seed], x, band) for x in ("sync", "majority"))
        rows.append(dict(seed=seed, load1=float(m["load1"]), sync_steps_s=float(s["steps_per_s"]),
                         majority_steps_s=float(m["steps_per_s"]), sync_final=float(s["final_acc"]),
                         majority_final=float(m["final_acc"]),
                         diff=float(m["final_acc"]) - float(s["final_acc"]),
                         repeat=float(m2["final_acc"]) - float(m["final_acc"]) if m2 else None,
                         sooner=ts / tm if tm == tm else float("nan"),
                         sooner_band=bs / bm if bm == bm else float("nan")))
    if not rows:
        sys.exit("torch_summary: no runs")
    with open(os.path.join(out, "torch_seeds.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["seed", "load1", "sync_steps_s", "majority_steps_s", "sync_final",
                    "majority_final", "majority_minus_sync", "majority_sooner",
                    "majority_sooner_within_0.5", "majority_repeat_minus_majority"])
        for r in rows:
            w.writerow([r["seed"], f"{r['load1']:.2f}", f"{r['sync_steps_s']:.1f}",
                        f"{r['majority_steps_s']:.1f}", f"{r['sync_final']:.2f}",
                        f"{r['majority_final']:.2f}", f"{r['diff']:+.2f}", f"{r['sooner']:.2f}",
                        f"{r['sooner_band']:.2f}",
                        "" if r["repeat"] is None else f"{r['repeat']:+.2f}"])
    n = len(rows)
    print("seed  load  steps/s sync/maj  final % sync/maj  maj-sync  majority sooner  "
          "(to within 0.5)")
    for r in rows:
        print(f"{r['seed']:4} {r['load1']:5.1f}  {r['sync_steps_s']:7.1f}/{r['majority_steps_s']:<6.1f}"
              f"  {r['sync_final']:6.2f}/{r['majority_final']:<6.2f}  {r['diff']:+7.2f}"
              f"  {r['sooner']:14.2f}x  {r['sooner_band']:13.2f}x")
    sy = [r["sync_final"] for r in rows]
    ma = [r["majority_final"] for r in rows]
    d = [r["diff"] for r in rows]
    sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
    half = T95.get(n - 1, 1.96) * sd(d) / math.sqrt(n) if n > 1 else float("nan")
    reached = [r["sooner"] for r in rows if r["sooner"] == r["sooner"]]
    print(f"final accuracy over {n} seeds: sync {statistics.mean(sy):.2f} (sd {sd(sy):.2f}), "
          f"majority {statistics.mean(ma):.2f} (sd {sd(ma):.2f}); majority - sync: mean "
          f"{statistics.mean(d):+.2f} points (95% CI {statistics.mean(d) - half:+.2f} to "
          f"{statistics.mean(d) + half:+.2f})")
    print(f"per seed: within 0.5 points {sum(abs(x) <= 0.5 for x in d)} of {n}, "
          f"not more than 0.5 below {sum(x >= -0.5 for x in d)} of {n}")
    if reached:
        print(f"majority reached sync's final accuracy in {len(reached)} of {n} seeds, "
              f"{statistics.median(reached):.2f}x sooner (median; {min(reached):.2f}-"
              f"{max(reached):.2f}), at least 1.3x in {sum(x >= 1.3 for x in reached)} of {n}")
    else:
        print(f"majority never reached sync's final accuracy ({n} seeds)")
    band = [r["sooner_band"] for r in rows if r["sooner_band"] == r["sooner_band"]]
    if band:
        print(f"majority came within 0.5 points of sync's final accuracy in {len(band)} of {n} "
              f"seeds, {statistics.median(band):.2f}x sooner than sync did (median; "
              f"{min(band):.2f}-{max(band):.2f})")
    rep = [r["repeat"] for r in rows if r["repeat"] is not None]
    if rep:
        print(f"repeat: majority run twice in {len(rep)} launches; second - first: within 0.5 "
              f"points {sum(abs(x) <= 0.5 for x in rep)} of {len(rep)} (sd {sd(rep):.2f}; "
              f"majority - sync: sd {sd(d):.2f})")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = [r["seed"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(seeds, sy, "o", label="sync")
    a1.plot(seeds, ma, "s", label="majority")
    if rep:
        a1.plot([r["seed"] for r in rows if r["repeat"] is not None],
                [r["majority_final"] + r["repeat"] for r in rows if r["repeat"] is not None],
                "x", color="C3", label="majority, repeated")
    a1.axhline(statistics.mean(sy), color="C0", lw=1, ls=":", label="sync mean")
    a1.axhline(statistics.mean(ma), color="C1", lw=1, ls=":", label="majority mean")
    a1.set_xlabel("seed")
    a1.set_ylabel("final test accuracy (%)")
    a1.grid(alpha=0.3)
    a1.legend(fontsize=8)
    a2.bar([s - 0.2 for s in seeds], [0 if x != x else x for x in (r["sooner"] for r in rows)],
           width=0.4, color="C1", label="to sync's final accuracy")
    a2.bar([s + 0.2 for s in seeds],
           [0 if x != x else x for x in (r["sooner_band"] for r in rows)], width=0.4,
           color="C2", label="to within 0.5 points of it")
    for r in rows:
        if r["sooner"] != r["sooner"]:
            a2.annotate("never", (r["seed"] - 0.2, 0.05), rotation=90, fontsize=7, ha="center")
    a2.axhline(1.3, color="grey", ls="--", lw=1, label="1.3x")
    a2.set_xlabel("seed")
    a2.set_ylabel("majority: x sooner than sync")
    a2.grid(alpha=0.3)
    a2.legend(fontsize=8)
    fig.suptitle(f"torch_digits, P=4, 1 of 4 delayed 20 ms/step, {n} seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "torch_seeds.png"), dpi=100)


if __name__ == "__main__":
    main()
