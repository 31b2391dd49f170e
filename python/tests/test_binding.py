"""Tests of the ctypes binding (pcoll): a process started alone is size 1;
one test runs three processes through tools/pcoll-run."""
import ctypes
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pcoll
from procs import child_env, run_plain

ALL_DTYPES = ["float32", "float64", "float16", "bfloat16", "int32", "int64"]


@pytest.fixture
def ctx():
    c = pcoll.init(timeout_ms=60000)
    yield c
    c.close()


def bf16(values):
    """bfloat16 bit patterns (exact for small integers) as uint16."""
    f = np.asarray(values, np.float32)
    return (f.view(np.uint32) >> 16).astype(np.uint16)


def from_bf16(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def contribution(dtype, count, k):
    v = (np.arange(count) % 7) - 3 + k
    if dtype == "bfloat16":
        return bf16(v)
    return v.astype(dtype)


def values(dtype, a):
    return from_bf16(a) if dtype == "bfloat16" else a.astype(np.float64)


# ----------------------------------------------------------------- basics


def test_version_and_library():
    major, minor, patch = pcoll.version()
    assert (major, minor) >= (0, 2) and major == pcoll._lib.HEADER_MAJOR
    assert os.path.exists(pcoll._L.pcoll_path)


def test_struct_mirrors_match_the_header():
    assert ctypes.sizeof(pcoll._lib.RoundC) == 40
    buf = ctypes.create_string_buffer(pcoll._lib.OPAQUE_BYTES)
    pcoll._L.pcoll_attr_init(buf)
    a = pcoll._lib.Attr.from_buffer(buf)
    # the library's own defaults, read through the mirror
    assert a.size >= ctypes.sizeof(pcoll._lib.Attr)
    assert (a.mode, a.staleness) == (0, 2)


def test_context(ctx):
    assert (ctx.rank, ctx.size) == (0, 1)
    assert pcoll.default_context() is ctx


def test_default_context_and_with():
    with pcoll.init() as c:
        assert pcoll.default_context() is c
    assert c.closed
    with pytest.raises(pcoll.Error) as e:
        pcoll.default_context()
    assert e.value.code == pcoll.PCOLL_ERR_STATE


# ----------------------------------------------------------------- errors


def check_error(e, code):
    assert e.code == code
    assert e.name == pcoll.ERROR_NAMES[code]
    assert e.message
    assert e.name in str(e) and e.message in str(e)


def test_bad_mode(ctx):
    with pytest.raises(pcoll.Error) as e:
        ctx.allreduce(4, "float32", mode="eager")
    check_error(e.value, pcoll.PCOLL_ERR_INVAL)
    assert "eager" in e.value.message


def test_bad_dtype(ctx):
    for bad in ("complex64", np.uint8, "nonsense"):
        with pytest.raises(pcoll.Error) as e:
            ctx.allreduce(4, bad)
        check_error(e.value, pcoll.PCOLL_ERR_INVAL)
        assert isinstance(e.value, TypeError)
    with pytest.raises(TypeError):
        ctx.allreduce(4)  # a count needs a dtype


def test_error_from_the_library(ctx):
    # Refused by pcoll_allreduce_create: code and pcoll_last_error's text.
    with pytest.raises(pcoll.Error) as e:
        ctx.allreduce(4, "float32", mode="solo", staleness=-1)
    check_error(e.value, pcoll.PCOLL_ERR_INVAL)
    assert "staleness" in e.value.message
    with pytest.raises(pcoll.Error) as e:
        ctx.allreduce(4, "float32", mode="quorum", quorum=5)
    check_error(e.value, pcoll.PCOLL_ERR_INVAL)


def test_wrong_arrays(ctx):
    with ctx.allreduce(8, "float32") as c:
        with pytest.raises(ValueError) as e:
            c.step(np.zeros(9, np.float32))
        check_error(e.value, pcoll.PCOLL_ERR_INVAL)
        with pytest.raises(TypeError) as e:
            c.step(np.zeros(8, np.float64))
        check_error(e.value, pcoll.PCOLL_ERR_INVAL)
        with pytest.raises(ValueError):
            c.step(np.zeros(16, np.float32)[::2])  # not contiguous
        with pytest.raises(TypeError):
            c.step([0.0] * 8)  # a list would need a copy
        ro = np.zeros(8, np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError):
            c.next_round(out=ro)
        assert c.step(ro) == 1  # reading a read-only array is fine
        assert c.next_round() is not None
        c.flush()
        list(c.rounds())


def test_use_after_close(ctx):
    c = ctx.allreduce(4, "int32")
    c.close()
    c.close()  # idempotent
    for call in (lambda: c.step(np.zeros(4, np.int32)), c.next_round, c.flush, c.query):
        with pytest.raises(pcoll.Error) as e:
            call()
        check_error(e.value, pcoll.PCOLL_ERR_STATE)
    ctx.close()
    with pytest.raises(pcoll.Error) as e:
        ctx.allreduce(4, "int32")
    check_error(e.value, pcoll.PCOLL_ERR_STATE)


def test_collective_of_a_finalized_context():
    x = pcoll.init()
    c = x.allreduce(4, "int32")
    x.close()
    with pytest.raises(pcoll.Error) as e:
        c.step(np.zeros(4, np.int32))
    check_error(e.value, pcoll.PCOLL_ERR_FINALIZED)
    c.close()


def test_pending_rounds_reported_on_close(ctx):
    c = ctx.allreduce(4, "int64", mode="solo")
    c.step(np.ones(4, np.int64))
    with pytest.raises(pcoll.Error) as e:
        c.close()  # round 1 never taken
    check_error(e.value, pcoll.PCOLL_ERR_PENDING)
    assert c.closed


# ------------------------------------------------------------- datatypes


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("mode", ["sync", "solo"])
def test_every_dtype(ctx, dtype, mode):
    n = 37
    with ctx.allreduce(n, dtype, mode=mode) as c:
        assert c.count == n and c.mode == mode
        assert c.dtype == ("bfloat16" if dtype == "bfloat16" else np.dtype(dtype))
        for k in range(3):
            g = contribution(dtype, n, k)
            assert c.step(g) >= 1
            r = c.next_round()
            assert r.index == k + 1
            assert r.data.dtype == (np.uint16 if dtype == "bfloat16" else np.dtype(dtype))
            np.testing.assert_array_equal(values(dtype, r.data), values(dtype, g))
        c.flush()
        rest = list(c.rounds())
        assert rest and rest[-1].final


def test_array_defines_count_and_dtype(ctx):
    g = np.arange(10, dtype=np.int64)
    with ctx.allreduce(g) as c:
        assert (c.count, c.dtype) == (10, np.dtype(np.int64))
        assert c.staleness == 0  # sync
        c.flush()


# -------------------------------------------------------------- zero copy


class Recorder:
    """Stands in for the CDLL and records the pointers given to pcoll_step."""

    def __init__(self, lib):
        self._lib = lib
        self.ptrs = []

    def __getattr__(self, name):
        f = getattr(self._lib, name)
        if name not in ("pcoll_step", "pcoll_step_post"):
            return f

        def rec(h, ptr):
            self.ptrs.append(ptr)
            return f(h, ptr)

        return rec


def test_step_is_zero_copy(ctx, monkeypatch):
    rec = Recorder(pcoll._L)
    monkeypatch.setattr(pcoll, "_L", rec)
    with ctx.allreduce(16, "float32", mode="solo") as c:
        g = np.arange(16, dtype=np.float32)
        c.step(g)
        # a view into a bigger buffer, the buffer protocol, __array_interface__
        big = np.zeros(32, np.float32)
        view = big[8:24]
        c.step(view)
        mv = memoryview(bytearray(64)).cast("f")
        c.step(mv)

        class Iface:
            def __init__(self, a):
                self.a = a
                self.__array_interface__ = a.__array_interface__

        holder = Iface(np.full(16, 2, np.float32))
        c.step(holder)
        c.step_post(g)
        while c.test() == 0:
            pass
        expect = [
            g.ctypes.data,
            big.ctypes.data + 8 * 4,
            ctypes.addressof(ctypes.c_char.from_buffer(mv.obj)),
            holder.a.ctypes.data,
            g.ctypes.data,
        ]
        assert rec.ptrs == expect
        # and the library read those buffers: the rounds sum to them
        c.flush()
        total = np.sum([r.data for r in c.rounds()], axis=0)
        np.testing.assert_array_equal(total, 2 * g + view + 0 + 2)


# ------------------------------------------------------------------ rounds


def test_rounds_into_caller_memory_survive(ctx):
    n = 64
    with ctx.allreduce(n, "float64", mode="solo", staleness=3) as c:
        kept = []
        for k in range(6):
            c.step(np.full(n, k + 1.0))
            out = np.empty(n)
            r = c.next_round(out=out)
            assert r.data is out
            kept.append((r.index, out))
        c.flush()
        for r in c.rounds():
            kept.append((r.index, r.data))
        # later steps, a flush and a new epoch did not touch them
        c.step(np.full(n, -5.0))
        c.flush()
        later = list(c.rounds())
        assert [i for i, _ in kept] == list(range(1, len(kept) + 1))
        for k in range(6):
            np.testing.assert_array_equal(kept[k][1], np.full(n, k + 1.0))
        assert later[0].index == len(kept) + 1
        np.testing.assert_array_equal(later[0].data, np.full(n, -5.0))


def test_rounds_iterator_reuses_out(ctx):
    with ctx.allreduce(4, "int32", mode="solo", staleness=4) as c:
        out = np.zeros(4, np.int32)
        c.step(np.full(4, 7, np.int32))
        got = [(r.index, r.data is out, r.data.copy()) for r in c.rounds(out=out)]
        assert got[0][:2] == (1, True)
        np.testing.assert_array_equal(got[0][2], [7] * 4)
        assert c.next_round(out=out) is None
        np.testing.assert_array_equal(out, [7] * 4)  # untouched without a round
        c.flush()
        list(c.rounds())


def test_round_fields(ctx):
    with ctx.allreduce(3, "int64", mode="solo") as c:
        c.step(np.array([1, 2, 3], np.int64))
        r = c.next_round()
        assert (r.index, r.contributions, r.staleness, r.flushed, r.final) == (1, 1, 0, 0, False)
        assert c.next_round() is None
        c.flush()
        fin = list(c.rounds())[-1]
        assert fin.final and fin.flushed == 1 and fin.contributions == 0 and fin.staleness == -1
        q = c.query()
        assert q["version"] == fin.index and q["steps"] == 1 and q["count"] == 3
        assert (q["mode"], q["datatype"], q["staleness"]) == ("solo", "int64", 2)
        assert q["algorithm"]
        # S+1 result buffers and two pending accumulators at least (0.4).
        assert q["memory_bytes"] >= (2 + 1 + 2) * 3 * 8


def test_memory_bound(ctx):
    # Above recursive doubling's sizes: at most (S+4)x the buffer plus a few KiB.
    n = 1 << 18  # 1 MiB of float32
    with ctx.allreduce(n, "float32", mode="solo", staleness=4) as c:
        q = c.query()
        assert q["memory_bytes"] <= (4 + 4) * n * 4 + 16384 + 256 * ctx.size, q


def test_nonblocking(ctx):
    with ctx.allreduce(5, "float32", mode="majority", seed=3) as c:
        g = np.ones(5, np.float32)
        c.step_post(g)
        while c.test() == 0:
            pass
        r = c.next_round()
        np.testing.assert_array_equal(r.data, g)
        assert c.round_initiator(1) == 0
        c.flush()
        list(c.rounds())


# ----------------------------------------------------- several processes

MP_SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    import pcoll

    ctx = pcoll.init(timeout_ms=30000)
    P, me = ctx.size, ctx.rank
    assert P == 3, P
    n = 100
    steps = 8 + me  # uneven
    total = np.zeros(n, np.int64)
    h = hashlib.sha256()
    kept = []
    with ctx.allreduce(n, "int64", mode="solo", staleness=2) as c:
        for s in range(steps):
            c.step(np.arange(n, dtype=np.int64) * (me + 1) + s)
            for r in c.rounds(out=None):
                assert r.staleness <= 2
                kept.append(r)
        while c.flush() > 0:  # rounds filled the ring first: take them, go on
            kept.extend(c.rounds())
        kept.extend(c.rounds())
    for r in kept:
        total += r.data
        h.update(r.data.tobytes())
    expect = sum(np.arange(n, dtype=np.int64) * (p + 1) * (8 + p) + sum(range(8 + p))
                 for p in range(P))
    assert (total == expect).all(), "conservation"
    assert kept[-1].final
    # agreement: every rank got the same rounds
    digest = np.frombuffer(h.digest()[:8], np.int64)
    mine = np.zeros(P, np.int64)
    mine[me] = digest[0]
    with ctx.allreduce(mine) as a:
        a.step(mine)
        allh = a.next_round().data
        a.flush()
        list(a.rounds())
    assert (allh == digest[0]).all(), "agreement"
    ctx.close()
    print("ok rank %d: %d rounds" % (me, len(kept)))
    """
)


TEAM_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import pcoll

    ctx = pcoll.init(timeout_ms=30000)
    me = ctx.rank
    assert ctx.split(pcoll.UNDEFINED) is None
    # odd and even job ranks, ranked in reverse
    with ctx.split(me % 2, key=-me) as t:
        want = sorted((r for r in range(ctx.size) if r % 2 == me % 2), reverse=True)
        assert t.members == want and t.members[t.rank] == me, (t.members, t.rank)
        got = wsum = 0
        with t.allreduce(4, "int64", mode="solo") as c, ctx.allreduce(2, "int64") as w:
            for s in range(5):
                w.step_post(np.array([1, me], np.int64))
                c.step(np.full(4, me, np.int64))
                got += sum(int(r.data[0]) for r in c.rounds())
                while not w.test():
                    pass
                wsum += sum(int(r.data[1]) for r in w.rounds())
            c.flush()
            w.flush()
            got += sum(int(r.data[0]) for r in c.rounds())
            wsum += sum(int(r.data[1]) for r in w.rounds())
        assert got == 5 * sum(want), (got, want)  # conservation on the team
        assert wsum == 5 * sum(range(ctx.size)), wsum  # and on the whole context
    print("ok rank %d: team %s" % (me, t))
    ctx.close()
    """
)


def test_teams(tmp_path):
    """Two teams of a 4-process job, a collective on each and one on the whole
    context in flight at once."""
    bdir = os.environ.get("PCOLL_BUILDDIR")
    run = os.path.join(bdir, "tools", "pcoll-run") if bdir else None
    if not run or not os.access(run, os.X_OK):
        pytest.skip("no PCOLL_BUILDDIR/tools/pcoll-run")
    script = tmp_path / "teams.py"
    script.write_text(TEAM_SCRIPT)
    env = child_env()
    p = subprocess.run(
        [run, "-n", "4", "--timeout", "60", "--", sys.executable, str(script)],
        env=env, capture_output=True, text=True, timeout=90,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("ok rank") == 4, p.stdout


def test_team_errors(ctx):
    # a single process: one team of one; a bad color is the library's error
    with pytest.raises(pcoll.Error) as e:
        ctx.split(-5)
    assert e.value.code == pcoll.PCOLL_ERR_INVAL and "color -5" in str(e.value)
    t = ctx.split(0)
    assert (t.rank, t.size, t.members) == (0, 1, [0])
    c = t.allreduce(8, "float32")
    with pytest.raises(pcoll.Error) as e:
        t.close()  # a collective is open on it
    assert e.value.code == pcoll.PCOLL_ERR_STATE
    c.close()
    t.close()
    assert t.closed


OOB_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    import pcoll

    class FileOob:
        # The host's allgather, as a host library would lend it: here files
        # in a shared directory (no MPI, no PMIx server).
        def __init__(self, d, rank, size):
            self.d, self.rank, self.size, self.seq = d, rank, size, 0

        def allgather(self, data):
            self.seq += 1
            tmp = os.path.join(self.d, "t.%d.%d" % (self.seq, self.rank))
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, os.path.join(self.d, "%d.%d" % (self.seq, self.rank)))
            out = []
            for r in range(self.size):
                p = os.path.join(self.d, "%d.%d" % (self.seq, r))
                t0 = time.time()
                while not os.path.exists(p):
                    if time.time() - t0 > 30:
                        raise TimeoutError(p)
                    time.sleep(0.001)
                with open(p, "rb") as f:
                    out.append(f.read())
            return b"".join(out)

    d, rank, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ctx = pcoll.init(oob=FileOob(d, rank, size), timeout_ms=30000)
    assert (ctx.rank, ctx.size) == (rank, size)
    assert ctx.info()["wireup"] == "oob", ctx.info()
    total = 0
    with ctx.allreduce(4, "int64", mode="solo") as c:
        for s in range(6 + rank):
            c.step(np.full(4, rank + 1, np.int64))
            total += sum(int(r.data[0]) for r in c.rounds())
        while True:  # > 0: rounds filled the ring first; take them, flush again
            rc = c.flush()
            total += sum(int(r.data[0]) for r in c.rounds())
            if rc == 0:
                break
    assert total == sum((6 + p) * (p + 1) for p in range(size)), total
    ctx.close()
    print("ok rank %d: oob" % rank)
    """
)


def test_oob_wireup_by_the_host(tmp_path):
    """pcoll.init(oob=...) over a host's allgather: three plain processes,
    no launcher and no PMIx server."""
    script = tmp_path / "oob.py"
    script.write_text(OOB_SCRIPT)
    d = tmp_path / "oob"
    d.mkdir()
    codes, outs = run_plain([[str(script), str(d), str(r), "3"] for r in range(3)], 90)
    assert codes == [0, 0, 0], "\n".join(outs)
    assert sum(o.count("ok rank") for o in outs) == 3, outs


def test_oob_failure_is_an_error():
    class Broken:
        rank, size = 0, 1

        def allgather(self, data):
            raise RuntimeError("the host is down")

    with pytest.raises(pcoll.Error) as e:
        pcoll.Context(oob=Broken())
    assert e.value.code == pcoll.PCOLL_ERR_WIREUP and "the host is down" in str(e.value)


def test_three_processes(tmp_path):
    bdir = os.environ.get("PCOLL_BUILDDIR")
    run = os.path.join(bdir, "tools", "pcoll-run") if bdir else None
    if not run or not os.access(run, os.X_OK):
        pytest.skip("no PCOLL_BUILDDIR/tools/pcoll-run")
    if subprocess.run([run, "-n", "1", "--dry-run", "--", "true"], capture_output=True).returncode:
        pytest.skip("no PMIx launcher")
    script = tmp_path / "mp.py"
    script.write_text(MP_SCRIPT)
    env = child_env()
    p = subprocess.run(
        [run, "-n", "3", "--timeout", "60", "--", sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("ok rank") == 3, p.stdout
