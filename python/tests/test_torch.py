"""pcoll.torch.DistributedOptimizer on 4 processes: conservation and
bit-identical replicas in sync/solo/majority, several buckets, imbalance."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("PCOLL_BUILDDIR", "")
RUN = os.path.join(BUILD, "tools", "pcoll-run") if BUILD else shutil.which("pcoll-run")
P = 4


def launch(mode, opt, tmp):
    if not RUN or not os.access(RUN, os.X_OK):
        pytest.skip("tools/pcoll-run not found (set PCOLL_BUILDDIR to the build dir)")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [RUN, "-n", str(P), "--timeout", "90", "--", sys.executable,
           os.path.join(HERE, "torch_helper.py"), mode, opt, str(tmp)]
    p = subprocess.run(cmd, env=env, timeout=120, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = [open(os.path.join(tmp, "r%d" % r)).read().split() for r in range(P)]
    return lines


@pytest.mark.parametrize("mode", ["sync", "solo", "majority"])
def test_sgd_conservation_identical(mode, tmp_path):
    lines = launch(mode, "sgd", tmp_path)
    assert len({l[0] for l in lines}) == 1, "replicas differ: %r" % lines
    assert int(lines[0][1]) >= 3, "expected several buckets"
    inits = {open(os.path.join(tmp_path, "i%d" % r)).read() for r in range(P)}
    assert len(inits) == 1, "broadcast_parameters left replicas different"
    tot = sum(np.load(os.path.join(tmp_path, "t%d.npz" % r))["arr_%d" % i].sum()
              for r in range(P) for i in range(4))
    upd = np.load(os.path.join(tmp_path, "u0.npz"))
    # lr = 1, average=False in the helper: sum of updates == sum of all gradients
    assert sum(upd["arr_%d" % i].sum() for i in range(4)) == tot
    for i in range(4):
        t = sum(np.load(os.path.join(tmp_path, "t%d.npz" % r))["arr_%d" % i] for r in range(P))
        assert np.array_equal(upd["arr_%d" % i], t)


@pytest.mark.parametrize("opt", ["momentum", "adam"])
@pytest.mark.parametrize("mode", ["majority", "solo"])
def test_stateful_identical(mode, opt, tmp_path):
    lines = launch(mode, opt, tmp_path)
    assert len({l[0] for l in lines}) == 1, "replicas differ: %r" % lines


@pytest.mark.parametrize("mode", ["sync", "solo", "majority"])
def test_scheduler_per_round(mode, tmp_path):
    # scheduler= is stepped once per applied round, with opt.contributed (the
    # same on every replica) driving the learning rate: replicas stay identical
    lines = launch(mode, "sched", tmp_path)
    assert len({l[0] for l in lines}) == 1, "replicas differ: %r" % lines
    assert len({tuple(l[2:]) for l in lines}) == 1, "rounds/contributed/lr differ: %r" % lines
    assert float(lines[0][4]) < 0.01, "the scheduler was not stepped"
    if mode == "sync":  # every round has all P contributions: 40 steps each
        assert float(lines[0][3]) == P * 40


PG_SCRIPT = r"""
import hashlib, sys
import torch, torch.distributed as dist
import pcoll, pcoll.torch

rank, size, init = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# A torchrun-style job: torch.distributed wires pcoll up (no PMIx server).
dist.init_process_group("gloo", init_method=init, rank=rank, world_size=size)
ctx = pcoll.init(oob=pcoll.torch.ProcessGroupOob(), timeout_ms=30000)
assert ctx.info()["wireup"] == "oob" and (ctx.rank, ctx.size) == (rank, size)
torch.manual_seed(1)
model = torch.nn.Linear(8, 2)
pcoll.torch.broadcast_parameters(model.parameters(), root=0)
opt = pcoll.torch.DistributedOptimizer(
    torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), model.named_parameters(),
    mode="solo", staleness=2)
g = torch.Generator().manual_seed(100 + rank)
for step in range(5 + rank):
    opt.zero_grad()
    x = torch.randn(16, 8, generator=g)
    model(x).pow(2).mean().backward()
    opt.step()
opt.flush()
h = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters()))
hs = [None] * size
dist.all_gather_object(hs, h.hexdigest())
assert len(set(hs)) == 1, hs
assert opt.contributed == sum(5 + r for r in range(size)), opt.contributed
opt.close()
ctx.close()
dist.destroy_process_group()
print("ok rank %d: replicas identical over torch.distributed's wireup" % rank)
"""


def test_wireup_by_torch_distributed(tmp_path):
    """pcoll.torch.ProcessGroupOob: plain processes with a gloo process group,
    no launcher and no PMIx server; replicas identical."""
    script = tmp_path / "pg.py"
    script.write_text(PG_SCRIPT)
    from procs import run_plain

    init = "file://" + str(tmp_path / "store")
    codes, outs = run_plain([[str(script), str(r), "2", init] for r in range(2)], 120)
    assert codes == [0, 0], "\n".join(outs)
    assert sum(o.count("ok rank") for o in outs) == 2, outs
