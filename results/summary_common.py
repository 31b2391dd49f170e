"""Shared by the results/*_summary.py scripts."""
import csv
import os
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
