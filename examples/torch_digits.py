#!/usr/bin/python3
"""Eager-SGD on sklearn's digits with pcoll.torch, 4 processes, one run per
mode (sync, solo, majority) with the paper's imbalance injection: each step k
random processes (same seed everywhere) sleep DELAY seconds.
    tools/pcoll-run -n 4 -- python3 examples/torch_digits.py [outdir]
The pcoll lines in train() are the only changes against plain torch."""
import csv, hashlib, os, random, sys, time
import numpy as np, torch, torch.nn as nn
import pcoll, pcoll.torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

OUT = sys.argv[1] if len(sys.argv) > 1 else "torch_digits_out"
STEPS, BATCH, K, DELAY, LR = int(os.environ.get("STEPS", 240)), 32, 1, 0.02, 0.05
torch.set_num_threads(1)
X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0)
Xtr, Xte, ytr, yte = map(torch.from_numpy, (Xtr, Xte, ytr, yte))

def net():
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))

def acc(m):
    with torch.no_grad():
        return (m(Xte).argmax(1) == yte).float().mean().item() * 100

def train(mode, ctx):
    torch.manual_seed(ctx.rank)
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    opt = pcoll.torch.DistributedOptimizer(opt, model.named_parameters(), mode=mode, staleness=4)  # pcoll
    pcoll.torch.broadcast_parameters(model.parameters(), root=0)  # pcoll
    g = torch.Generator().manual_seed(1000 + ctx.rank)
    imb = random.Random(42)
    lossf, curve, t0 = nn.CrossEntropyLoss(), [], time.time()
    for s in range(STEPS):
        idx = torch.randint(0, len(Xtr), (BATCH,), generator=g)
        opt.zero_grad()
        lossf(model(Xtr[idx]), ytr[idx]).backward()
        if ctx.rank in imb.sample(range(ctx.size), K):
            time.sleep(DELAY)
        opt.step()
        if s % 10 == 9:
            curve.append((time.time() - t0, acc(model)))
    opt.flush()
    wall = time.time() - t0
    curve.append((wall, acc(model)))
    h = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).digest()
    hv = np.frombuffer(h[:8], np.uint8).astype(np.float64)
    c = ctx.allreduce(8, dtype=np.float64, mode="sync")
    c.step(hv); r = c.next_round(); c.flush(); list(c.rounds()); c.close()
    same = bool(np.array_equal(r.data, hv * ctx.size))
    cs = np.mean(opt.contributions) if opt.contributions else 0
    st = np.mean([x for x in opt.staleness if x >= 0]) if opt.staleness else 0
    opt.close()
    return dict(mode=mode, steps_s=STEPS / wall, wall=wall, final=curve[-1][1],
                stale=st, contrib=cs, same=same, curve=curve)

ctx = pcoll.init()
res = [train(m, ctx) for m in ("sync", "solo", "majority")]
if ctx.rank == 0:
    os.makedirs(OUT, exist_ok=True)
    target = res[0]["final"]
    print("%-9s %8s %8s %12s %9s %9s %9s %9s" % ("mode", "steps/s", "wall s", "t->sync acc", "final %",
          "stale", "contrib", "identical"))
    with open(os.path.join(OUT, "torch_digits.csv"), "w", newline="") as f:
        w = csv.writer(f); w.writerow(["mode", "wall_s", "test_acc"])
        for x in res:
            t = next((t for t, a in x["curve"] if a >= target), float("nan"))
            x["t_target"] = t
            print("%-9s %8.1f %8.2f %12.2f %9.2f %9.2f %9.2f %9s" % (x["mode"], x["steps_s"], x["wall"], t,
                  x["final"], x["stale"], x["contrib"], x["same"]))
            for t_, a in x["curve"]:
                w.writerow([x["mode"], "%.4f" % t_, "%.2f" % a])
    print("majority speedup to sync's final accuracy: %.2fx" % (res[0]["t_target"] / res[2]["t_target"]))
    import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    for x in res:
        plt.plot(*zip(*x["curve"]), label=x["mode"])
    plt.xlabel("wall time (s)"); plt.ylabel("test accuracy (%)"); plt.legend()
    plt.savefig(os.path.join(OUT, "torch_digits.png"), dpi=100)
ctx.close()
