import sys, os, time, random, hashlib, numpy as np, torch, pcoll, pcoll.torch
mode, optname, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = pcoll.init()
r, P = ctx.rank, ctx.size
torch.manual_seed(r)  # different on purpose: broadcast must fix it
ps = [torch.nn.Parameter(torch.randint(-50, 50, s).float()) for s in [(7,), (300,), (5, 40), (1000,)]]
pcoll.torch.broadcast_parameters(ps, root=0)
init = [p.detach().clone() for p in ps]
with open(os.path.join(outdir, "i%d" % r), "w") as f:
    f.write(hashlib.sha256(b"".join(p.numpy().tobytes() for p in init)).hexdigest())
if optname == "sgd":
    o = torch.optim.SGD(ps, lr=1.0)
elif optname == "momentum":
    o = torch.optim.SGD(ps, lr=0.01, momentum=0.9)
elif optname == "sched":
    o = torch.optim.SGD(ps, lr=0.01, momentum=0.9)
else:
    o = torch.optim.Adam(ps, lr=0.01)


class Sched:  # lr from the contributions applied so far (pcoll.torch steps it per round)
    def step(self):
        for g in o.param_groups:
            g["lr"] = 0.01 / (1 + d.contributed / 10)


d = pcoll.torch.DistributedOptimizer(o, [("p%d" % i, p) for i, p in enumerate(ps)],
                                     mode=mode, staleness=3, bucket_bytes=1600, average=False,
                                     scheduler=Sched() if optname == "sched" else None)
nb = len(d.buckets)
rng = random.Random(r * 7 + 1)
total = [torch.zeros_like(p) for p in ps]
for s in range(40):
    o.zero_grad()
    for i, p in enumerate(ps):
        g = torch.full_like(p, float((r + 1) * (s % 5 + 1) - 8 * i))
        p.grad = g
        total[i] += g
    if r in (1, 3) and rng.random() < 0.3:
        time.sleep(rng.random() * 0.01)
    d.step()
d.flush()
h = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in ps)).hexdigest()
upd = [(init[i] - ps[i].detach()).numpy().astype(np.float64) for i in range(len(ps))]
with open(os.path.join(outdir, "r%d" % r), "w") as f:
    f.write("%s %d %d %r %r\n" % (h, nb, d.applied, d.contributed, o.param_groups[0]["lr"]))
np.savez(os.path.join(outdir, "u%d.npz" % r), *upd)
np.savez(os.path.join(outdir, "t%d.npz" % r), *[t.numpy().astype(np.float64) for t in total])
d.close()
ctx.close()
