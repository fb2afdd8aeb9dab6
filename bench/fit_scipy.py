"""Reference Chinchilla fit with scipy, following Epoch AI's replication notebook
("Chinchilla Scaling: A replication attempt", Besiroglu et al. 2024):
drop the 5 highest-loss points, minimise sum(huber(1e-3, LSE(a - alpha ln N, b - beta ln D, e) - ln L))
with scipy.optimize.minimize(method='L-BFGS-B') and numerical gradients, from the 4,500-point grid.

Usage: python bench/fit_scipy.py <epoch csv> [--stride K] [--drop 5]
Prints one JSON object: {"seconds", "objective", "params": {A,B,E,alpha,beta}, "starts"}.
"""
import argparse
import csv
import itertools
import json
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import huber


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--stride", type=int, default=1, help="use every K-th grid point (1 = all 4,500)")
    ap.add_argument("--drop", type=int, default=5, help="drop this many highest-loss points")
    args = ap.parse_args()

    with open(args.csv) as f:
        rows = list(csv.DictReader(f))
    N = np.array([float(r["Model Size"]) for r in rows])
    C = np.array([float(r["Training FLOP"]) for r in rows])
    L = np.array([float(r["loss"]) for r in rows])
    D = C / (6 * N)
    keep = np.argsort(-L, kind="stable")[args.drop:]
    keep.sort()
    N, D, L = N[keep], D[keep], L[keep]
    lnN, lnD, lnL = np.log(N), np.log(D), np.log(L)
    delta = 1e-3

    def objective(p):
        a, b, e, alpha, beta = p
        t1 = a - alpha * lnN
        t2 = b - beta * lnD
        m = np.maximum(np.maximum(t1, t2), e)
        pred = m + np.log(np.exp(t1 - m) + np.exp(t2 - m) + np.exp(e - m))
        return np.sum(huber(delta, pred - lnL))

    exps = np.arange(0, 2.5, 0.5)
    es = np.arange(-1, 1.5, 0.5)
    abs_ = np.arange(0, 30, 5)
    grid = [(a, b, e, al, be) for al, be, e, a, b in itertools.product(exps, exps, es, abs_, abs_)]
    grid = grid[:: args.stride]

    t0 = time.perf_counter()
    best = None
    for x0 in grid:
        r = minimize(objective, x0=np.array(x0, dtype=float), method="L-BFGS-B")
        if best is None or r.fun < best.fun:
            best = r
    seconds = time.perf_counter() - t0
    a, b, e, alpha, beta = best.x
    print(json.dumps({
        "seconds": seconds,
        "objective": float(best.fun),
        "params": {"A": float(np.exp(a)), "B": float(np.exp(b)), "E": float(np.exp(e)), "alpha": float(alpha), "beta": float(beta)},
        "starts": len(grid),
        "n": int(len(L)),
    }))


if __name__ == "__main__":
    main()
