"""Shared by the results/*_summary.py scripts."""
import csv
import os
import statistics
import sys


def named_rows(pattern, files, prog):
    """Every CSV row of files, with the match of pattern (a compiled regex)
    on the file's name: (match, row) pairs. A name that does not match is an
    error: a summary must not silently leave out a run."""
    for f in files:
        m = pattern.search(os.path.basename(f))
        if not m:
            sys.exit(f"{prog}: unexpected file name {f}")
        with open(f) as fh:
            for row in csv.DictReader(fh):
                yield m, row


def median_bars(ax, xs, groups, width=0.8, **kw):
    """A bar at each x: the median of its group, the group's range as error
    bars (an empty group: a bar of 0)."""
    med = [statistics.median(g) if g else 0 for g in groups]
    lo = [m - min(g) if g else 0 for m, g in zip(med, groups)]
    hi = [max(g) - m if g else 0 for m, g in zip(med, groups)]
    ax.bar(xs, med, width, yerr=[lo, hi], capsize=kw.pop("capsize", 4), **kw)


def ratio_bars(ax, labels, groups, title, ylabel):
    """One grey bar per label: the median of its group of ratios, with the
    group's range as error bars, and a line at 1 (no change)."""
    median_bars(ax, range(len(labels)), groups, color="tab:gray")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)


def save_figure(fig, title, path):
    """Title the figure, lay it out and write it as a PNG."""
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
