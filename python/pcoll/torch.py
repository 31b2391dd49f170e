"""pcoll.torch: eager-SGD for PyTorch optimizers, in Horovod's shape.

    import pcoll, pcoll.torch
    pcoll.init()
    opt = pcoll.torch.DistributedOptimizer(opt, model.named_parameters(), mode="majority")
    pcoll.torch.broadcast_parameters(model.parameters(), root=0)

Gradients go into flat float32 buckets (about bucket_bytes each, parameters in a
fixed order), one pcoll collective per bucket. opt.step() contributes every
bucket (always all of them, in one order: a bucket skipped would hold the others
through the staleness rule), then takes every completed round of every bucket and
applies each round index that all buckets have as ONE step of the wrapped
optimizer, in round order, with p.grad set to the round's data -- divided by P
when average=True (the default), so that a sync run is the plain averaged
allreduce. Every process applies the same rounds with the same data, so
replicas stay bit-identical. flush() ends an epoch: it flushes every bucket and
applies the remaining rounds (a bucket with fewer rounds in the epoch gives a
zero gradient to the steps it lacks; the counts are the same on every process).

Learning-rate schedules: one opt.step() applies 0, 1 or several rounds, and
processes apply a given round at different local steps, so a scheduler stepped
once per opt.step() would give replicas different learning rates for the same
round (and they would drift apart). Pass it as scheduler= instead: it is
stepped after every applied round, so the learning rate is a function of the
round index, the same on every replica. Solo and majority make more rounds than
sync from the same steps (a round can start with few contributions; late ones go
into later rounds), so a schedule over a training budget is better written in
opt.contributed, the step() contributions applied so far (the rounds'
contributions summed; P per round in sync, P * steps after the final flush),
also the same on every replica.
"""

import time

import numpy as np
import torch

import pcoll


def _params_list(named_parameters):
    out = []
    for item in named_parameters:
        if isinstance(item, tuple):
            out.append(item[1])
        else:
            out.append(item)
    return out


def broadcast_parameters(params, root=0, context=None):
    """Make every replica's params equal to root's (a sync allreduce where
    the other processes contribute zeros). params: tensors or (name, tensor)."""
    ctx = context or pcoll.default_context()
    params = [p for p in _params_list(params)]
    if ctx.size == 1 or not params:
        return
    n = sum(p.numel() for p in params)
    flat = np.zeros(n, np.float32)
    if ctx.rank == root:
        o = 0
        for p in params:
            k = p.numel()
            flat[o:o + k] = p.detach().reshape(-1).to(torch.float32).cpu().numpy()
            o += k
    out = np.empty(n, np.float32)
    with ctx.allreduce(n, dtype=np.float32, mode="sync") as c:
        c.step(flat)
        r = c.next_round(out)  # the one round with contributions
        assert r is not None and r.contributions == ctx.size
        while c.flush() > 0:  # the final round (empty) goes elsewhere, not into out
            for _ in c.rounds():
                pass
        for _ in c.rounds():
            pass
    o = 0
    with torch.no_grad():
        for p in params:
            k = p.numel()
            p.copy_(torch.from_numpy(out[o:o + k].copy()).view_as(p).to(p.dtype))
            o += k


class ProcessGroupOob:
    """cfg.oob over torch.distributed: pcoll.init(oob=ProcessGroupOob()) wires
    pcoll up through an initialized process group (gloo, or any backend that
    all_gathers CPU tensors) instead of a PMIx server -- a torchrun-style
    launch needs nothing else."""

    def __init__(self, group=None):
        import torch.distributed as dist

        if not dist.is_initialized():
            raise RuntimeError("ProcessGroupOob: torch.distributed.init_process_group first")
        self._dist = dist
        self._group = group
        self.rank = dist.get_rank(group)
        self.size = dist.get_world_size(group)

    def allgather(self, data):
        t = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.zeros(
            0, dtype=torch.uint8
        )
        outs = [torch.empty_like(t) for _ in range(self.size)]
        self._dist.all_gather(outs, t, group=self._group)
        return b"".join(o.numpy().tobytes() for o in outs)


class _Bucket:
    def __init__(self, ctx, params, mode, staleness, quorum, seed):
        self.params = params
        self.count = sum(p.numel() for p in params)
        self.flat = np.zeros(self.count, np.float32)  # persistent contribution buffer
        self.coll = ctx.allreduce(self.count, dtype=np.float32, mode=mode,
                                  staleness=staleness, quorum=quorum, seed=seed)
        self.queue = []  # received rounds (arrays), oldest first
        self.free = []   # preallocated arrays to receive into
        self.contrib = []
        self.stale = []

    def fill(self):
        o = 0
        for p in self.params:
            k = p.numel()
            if p.grad is None:
                self.flat[o:o + k] = 0
            else:
                self.flat[o:o + k] = p.grad.detach().reshape(-1).cpu().numpy()
            o += k

    def drain(self):
        while True:
            buf = self.free.pop() if self.free else np.empty(self.count, np.float32)
            r = self.coll.next_round(buf)
            if r is None:
                self.free.append(buf)
                return
            self.queue.append(buf)
            self.contrib.append(r.contributions)
            self.stale.append(r.staleness)


class DistributedOptimizer:
    """Wraps a torch optimizer; see the module doc."""

    def __init__(self, optimizer, named_parameters, mode="majority", staleness=4,
                 quorum=0, seed=0, bucket_bytes=25 << 20, average=True, context=None,
                 scheduler=None):
        self.optimizer = optimizer
        self.scheduler = scheduler  # a torch lr_scheduler of optimizer, or None
        self.ctx = context or pcoll.default_context()
        self.size = self.ctx.size
        self.average = average
        self.mode = mode
        params = [p for p in _params_list(named_parameters) if p.requires_grad]
        self.buckets = []
        cur, nbytes = [], 0
        for p in params:
            if cur and nbytes + 4 * p.numel() > bucket_bytes:
                self.buckets.append(cur)
                cur, nbytes = [], 0
            cur.append(p)
            nbytes += 4 * p.numel()
        if cur:
            self.buckets.append(cur)
        self.buckets = [_Bucket(self.ctx, b, mode, staleness, quorum, seed)
                        for b in self.buckets]
        self.applied = 0          # optimizer steps applied (rounds)
        self.contributed = 0.0    # step() contributions in them (mean over buckets)
        self.contributions = []   # per applied step: mean contributions over buckets
        self.staleness = []       # per applied step: max staleness over buckets

    # pass-throughs
    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    def zero_grad(self, *a, **k):
        return self.optimizer.zero_grad(*a, **k)

    def state_dict(self):
        return self.optimizer.state_dict()

    def load_state_dict(self, sd):
        return self.optimizer.load_state_dict(sd)

    def _apply(self, pad):
        n = min(len(b.queue) for b in self.buckets)
        if pad:
            n = max(len(b.queue) for b in self.buckets)
        scale = 1.0 / self.size if self.average else 1.0
        applied = 0
        for _ in range(n):
            cs, ss = [], []
            for b in self.buckets:
                if b.queue:
                    data = b.queue.pop(0)
                    cs.append(b.contrib.pop(0))
                    ss.append(b.stale.pop(0))
                else:
                    data = None
                o = 0
                for p in b.params:
                    k = p.numel()
                    if data is None:
                        g = torch.zeros_like(p)
                    else:
                        g = torch.from_numpy(data[o:o + k]).view_as(p).to(p.dtype)
                        if scale != 1.0:
                            g = g * scale
                        else:
                            g = g.clone()
                    p.grad = g
                    o += k
                if data is not None:
                    b.free.append(data)
            self.optimizer.step()
            self.applied += 1
            applied += 1
            self.contributions.append(sum(cs) / max(len(cs), 1))
            self.contributed += self.contributions[-1]
            self.staleness.append(max(ss) if ss else -1)
            if self.scheduler is not None:
                self.scheduler.step()
        return applied

    def step(self, closure=None):
        """Contribute every bucket, then apply every round all buckets have.
        Returns the number of optimizer steps applied."""
        if closure is not None:
            with torch.enable_grad():
                closure()
        # Post every bucket before waiting on any: a blocking step per bucket
        # can deadlock in majority/solo (process i one round ahead on bucket A
        # waits for j's arrival on B while j waits for i's on A).
        for b in self.buckets:
            b.fill()
            b.coll.step_post(b.flat)
        todo = list(self.buckets)
        idle = 0
        while todo:
            left = [b for b in todo if b.coll.test() < 1]
            idle = idle + 1 if len(left) == len(todo) else 0
            todo = left
            if todo and idle > 50:
                time.sleep(0.00005)
        for b in self.buckets:
            b.drain()
        return self._apply(pad=False)

    def flush(self):
        """End an epoch: flush every bucket and apply every remaining round."""
        for b in self.buckets:
            b.coll.flush_post()
        todo = list(self.buckets)
        while todo:
            todo = [b for b in todo if not b.coll.flush_test()]
            if todo:
                # A full ring of S+1 result buffers holds the next round
                # until rounds are taken: take them while waiting.
                for b in todo:
                    b.drain()
                time.sleep(0.00005)
        for b in self.buckets:
            b.drain()
        return self._apply(pad=True)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            self.flush()

    def close(self):
        for b in self.buckets:
            b.coll.close()
        self.buckets = []
