"""Figures every benchmark reports the same way: a median and a p95 over its samples (nearest
rank, so with few samples p95 is the maximum and says so by `n`). Standard library only."""
import math
import statistics


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


def summary(xs):
    xs = list(xs)
    return {
        "n": len(xs),
        "median": statistics.median(xs),
        "p95": pct(xs, 95),
        "min": min(xs),
        "max": max(xs),
        "samples": xs,
    }
