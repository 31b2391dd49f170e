"""pcoll: partial allreduce collectives (solo, majority, quorum) over libfabric.

A ctypes binding of libpcoll (no compiler needed). numpy is required; torch
is optional (see pcoll.torch). Every C function's semantics are documented in
pcoll.h; this module follows it:

    import numpy as np, pcoll
    with pcoll.init() as ctx:                      # PMIx wireup, or alone (size 1)
        g = np.zeros(1000, np.float32)
        with ctx.allreduce(g, mode="solo", staleness=2) as coll:
            coll.step(g)                           # zero copy: passes g's buffer
            for r in coll.rounds():                # every round, in order
                apply(r.data / ctx.size)
            coll.flush()
            for r in coll.rounds():
                apply(r.data / ctx.size)
"""
import ctypes

import numpy as np

from . import _lib

_L = _lib.load()

__all__ = [
    "Error",
    "Context",
    "Collective",
    "Round",
    "init",
    "default_context",
    "version",
    "DTYPES",
    "MODES",
]

# ------------------------------------------------------------------ errors

ERROR_NAMES = {
    0: "PCOLL_SUCCESS",
    -1: "PCOLL_ERR_INVAL",
    -2: "PCOLL_ERR_NOMEM",
    -3: "PCOLL_ERR_FABRIC",
    -4: "PCOLL_ERR_PMIX",
    -5: "PCOLL_ERR_MISMATCH",
    -6: "PCOLL_ERR_STATE",
    -7: "PCOLL_ERR_TIMEOUT",
    -8: "PCOLL_ERR_PEER",
    -9: "PCOLL_ERR_FINALIZED",
    -10: "PCOLL_ERR_PENDING",
    -11: "PCOLL_ERR_UNSUPPORTED",
    -12: "PCOLL_ERR_INTERNAL",
    -13: "PCOLL_ERR_WIREUP",
}
for _code, _name in ERROR_NAMES.items():
    globals()[_name] = _code


class Error(Exception):
    """A pcoll failure: .code (negative PCOLL_ERR_*), .name, .message."""

    def __init__(self, code, message=None):
        self.code = code
        self.name = ERROR_NAMES.get(code, "PCOLL_ERR_%d" % code)
        if message is None:
            message = _L.pcoll_last_error().decode(errors="replace")
        self.message = message or strerror(code)
        super().__init__(code, self.message)

    def __str__(self):
        return "%s (%d): %s" % (self.name, self.code, self.message)


class ArgumentError(Error, ValueError):
    """PCOLL_ERR_INVAL raised by the binding for a bad value (size, layout, mode)."""

    def __init__(self, message):
        super().__init__(PCOLL_ERR_INVAL, message)  # noqa: F821 (set above)


class DtypeError(Error, TypeError):
    """PCOLL_ERR_INVAL raised by the binding for a wrong element type."""

    def __init__(self, message):
        super().__init__(PCOLL_ERR_INVAL, message)  # noqa: F821


def strerror(code):
    return _L.pcoll_strerror(code).decode()


def _check(rc):
    if rc < 0:
        raise Error(rc)
    return rc


def version():
    """The run-time library's (major, minor, patch)."""
    v = _L.pcoll_version_tuple
    return v if v is not None else (0, 1, 0)


# --------------------------------------------------------------- datatypes

# name -> (pcoll_datatype_t, numpy dtype of the storage). numpy has no
# bfloat16: its elements travel as uint16 bit patterns.
DTYPES = {
    "float32": (0, np.dtype(np.float32)),
    "float64": (1, np.dtype(np.float64)),
    "float16": (2, np.dtype(np.float16)),
    "bfloat16": (3, np.dtype(np.uint16)),
    "int32": (4, np.dtype(np.int32)),
    "int64": (5, np.dtype(np.int64)),
}
MODES = {"sync": 0, "solo": 1, "majority": 2, "quorum": 3}
_MODE_NAMES = {v: k for k, v in MODES.items()}
_DT_NAMES = {v[0]: k for k, v in DTYPES.items()}


def _dtype_name(dtype):
    if isinstance(dtype, str) and dtype in DTYPES:
        return dtype
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DtypeError("unsupported dtype %r; one of %s" % (dtype, ", ".join(DTYPES)))
    if dt.name == "bfloat16":  # ml_dtypes' bfloat16, where installed
        return "bfloat16"
    if dt.name in DTYPES and dt.name != "bfloat16":
        return dt.name
    raise DtypeError("unsupported dtype %r; one of %s" % (dtype, ", ".join(DTYPES)))


def _as_array(obj, what):
    """A numpy view of obj's memory, never a copy."""
    if isinstance(obj, np.ndarray):
        return obj
    if hasattr(obj, "__array_interface__"):
        return np.asarray(obj)
    try:
        memoryview(obj)
    except TypeError:
        raise DtypeError(
            "%s: %s exposes no buffer or __array_interface__ (a copy would be needed)"
            % (what, type(obj).__name__)
        )
    return np.asarray(memoryview(obj))


# ----------------------------------------------------------------- context

_default = None


class _Closes:
    """`with` closes the handle; a close error does not hide one already raised."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.close()
        except Error:
            if exc_type is None:
                raise


def _oob_callback(host, failures):
    """The C allgather of cfg.oob over a Python host: host.allgather(bytes)
    returns the size * len(bytes) bytes of every process, in rank order."""

    def allgather(send, recv, nbytes, arg):
        try:
            out = host.allgather(ctypes.string_at(send, nbytes) if nbytes else b"")
            out = bytes(out)
            if len(out) != nbytes * host.size:
                raise ValueError(
                    "oob allgather returned %d bytes, expected %d x %d"
                    % (len(out), host.size, nbytes)
                )
            ctypes.memmove(recv, out, len(out))
            return 0
        except BaseException as e:  # noqa: B902 -- never unwind through C
            failures.append(e)
            return 1

    return _lib.OOB_ALLGATHER(allgather)


class Context(_Closes):
    """A pcoll context (pcoll_init). Use init() to make one."""

    def __init__(self, provider=None, timeout_ms=0, progress_thread=True, oob=None):
        buf = ctypes.create_string_buffer(_lib.OPAQUE_BYTES)
        _L.pcoll_config_init(buf)
        cfg = _lib.Config.from_buffer(buf)
        self._provider = provider.encode() if provider is not None else None
        cfg.provider = self._provider
        cfg.timeout_ms = int(timeout_ms)
        cfg.progress_thread = 1 if progress_thread else 0
        # Wireup by the host (cfg.oob): the library calls back at init and
        # finalize; the callback lives as long as the context.
        self._oob_failures = []
        self._oob_cb = None
        if oob is not None:
            self._oob_cb = _oob_callback(oob, self._oob_failures)
            cfg.oob_allgather = ctypes.cast(self._oob_cb, ctypes.c_void_p)
            cfg.oob_rank = int(oob.rank)
            cfg.oob_size = int(oob.size)
        h = ctypes.c_void_p()
        rc = _L.pcoll_init(buf, ctypes.byref(h))
        if rc < 0 and self._oob_failures:
            raise Error(rc, "%s (the host's allgather raised %r)"
                        % (_L.pcoll_last_error().decode(errors="replace"),
                           self._oob_failures[0]))
        _check(rc)
        self._h = h
        self.rank = _L.pcoll_rank(h)
        self.size = _L.pcoll_size(h)

    def info(self):
        """pcoll_ctx_query as a dict: provider, domain, nic, wireup, notify, ..."""
        ci = _lib.CtxInfo()
        _check(_L.pcoll_ctx_query(self._handle(), ctypes.byref(ci)))
        out = {}
        for name, _t in _lib.CtxInfo._fields_:
            v = getattr(ci, name)
            out[name] = v.decode(errors="replace") if isinstance(v, bytes) else v
        out["notify"] = {1: "cntr", 2: "cqdata"}.get(out["notify"], out["notify"])
        return out

    def _handle(self):
        if self._h is None:
            raise Error(PCOLL_ERR_STATE, "the context is closed")  # noqa: F821
        return self._h

    @property
    def closed(self):
        return self._h is None

    def allreduce(
        self, array_or_count, dtype=None, mode="sync", staleness=2, quorum=0, seed=0, team=None
    ):
        """A persistent SUM-allreduce (collective over the team, or the whole
        context: same arguments everywhere)."""
        return Collective(self, array_or_count, dtype, mode, staleness, quorum, seed, team)

    def split(self, color, key=None):
        """pcoll_team_split, as MPI_Comm_split: collective over the context;
        the processes with the same color form a Team, ranked by key (default:
        this rank), then rank. color=UNDEFINED gives None."""
        h = ctypes.c_void_p()
        _check(
            _L.pcoll_team_split(
                self._handle(), int(color), self.rank if key is None else int(key), ctypes.byref(h)
            )
        )
        return Team(self, h) if h.value else None

    def shrink(self, team=None):
        """pcoll_team_shrink: after a peer failure, the survivors of team (None:
        the whole context) agree on who is gone and each gets the same new Team
        of the others. Collective over the survivors."""
        h = ctypes.c_void_p()
        _check(
            _L.pcoll_team_shrink(
                self._handle(), team._handle() if team is not None else None, ctypes.byref(h)
            )
        )
        return Team(self, h)

    def close(self):
        """pcoll_finalize (collective). Open collectives become unusable."""
        global _default
        if self._h is None:
            return
        h, self._h = self._h, None
        if _default is self:
            _default = None
        _check(_L.pcoll_finalize(h))

    def __repr__(self):
        if self._h is None:
            return "<pcoll.Context closed>"
        return "<pcoll.Context rank %d of %d>" % (self.rank, self.size)


UNDEFINED = -32766  # PCOLL_UNDEFINED: join no team in Context.split


class Team(_Closes):
    """A team (pcoll_team_split or pcoll_team_shrink): rank and size within it,
    and members, the job rank of each team rank."""

    def __init__(self, ctx, h):
        self._ctx = ctx
        self._h = h
        self.rank = _L.pcoll_team_rank(h)
        self.size = _L.pcoll_team_size(h)
        self.members = [_L.pcoll_team_job_rank(h, t) for t in range(self.size)]

    def _handle(self):
        if self._h is None:
            raise Error(PCOLL_ERR_STATE, "the team is destroyed")  # noqa: F821
        return self._h

    @property
    def closed(self):
        return self._h is None

    def allreduce(self, array_or_count, dtype=None, **kw):
        """Context.allreduce on this team."""
        return self._ctx.allreduce(array_or_count, dtype, team=self, **kw)

    def close(self):
        """pcoll_team_destroy (collective over the team; destroy its collectives first)."""
        if self._h is None:
            return
        h, self._h = self._h, None
        _check(_L.pcoll_team_destroy(h))

    def __repr__(self):
        if self._h is None:
            return "<pcoll.Team destroyed>"
        return "<pcoll.Team rank %d of %d: job ranks %s>" % (self.rank, self.size, self.members)


def init(provider=None, timeout_ms=0, progress_thread=True, oob=None):
    """pcoll_init, collective over the job; the context becomes the default.

    oob: wireup by the host instead of PMIx (cfg.oob) -- any object with
    .rank, .size and .allgather(data: bytes) -> bytes (every process's data,
    in rank order), e.g. pcoll.torch.ProcessGroupOob() over torch.distributed,
    or an mpi4py communicator's allgather."""
    global _default
    ctx = Context(
        provider=provider, timeout_ms=timeout_ms, progress_thread=progress_thread, oob=oob
    )
    _default = ctx
    return ctx


def default_context():
    """The context init() made; Error(PCOLL_ERR_STATE) if there is none."""
    if _default is None or _default.closed:
        raise Error(PCOLL_ERR_STATE, "no default context: call pcoll.init() first")  # noqa: F821
    return _default


# ------------------------------------------------------------- collective


class Round:
    """One completed round: index, data, contributions, staleness, flushed, final."""

    __slots__ = ("index", "data", "contributions", "staleness", "flushed", "final")

    def __init__(self, c, data):
        self.index = c.index
        self.data = data
        self.contributions = c.contributions
        self.staleness = c.staleness
        self.flushed = c.flushed
        self.final = bool(c.final)

    def __repr__(self):
        return "<pcoll.Round %d: %d contributions, staleness %d%s>" % (
            self.index,
            self.contributions,
            self.staleness,
            ", final" if self.final else "",
        )


class Collective(_Closes):
    """A persistent partial allreduce (pcoll_allreduce_create)."""

    def __init__(self, ctx, array_or_count, dtype, mode, staleness, quorum, seed, team=None):
        if isinstance(array_or_count, (int, np.integer)) and not isinstance(
            array_or_count, bool
        ):
            if dtype is None:
                raise DtypeError("allreduce(count): dtype is required with a count")
            count = int(array_or_count)
        else:
            a = _as_array(array_or_count, "allreduce")
            count = a.size
            if dtype is None:
                dtype = a.dtype
        if count <= 0:
            raise ArgumentError("allreduce: count must be positive, not %d" % count)
        name = _dtype_name(dtype)
        if mode not in MODES:
            raise ArgumentError(
                "allreduce: unknown mode %r; one of %s" % (mode, ", ".join(MODES))
            )
        buf = ctypes.create_string_buffer(_lib.OPAQUE_BYTES)
        _L.pcoll_attr_init(buf)
        attr = _lib.Attr.from_buffer(buf)
        attr.mode = MODES[mode]
        attr.staleness = int(staleness)
        attr.quorum = int(quorum)
        attr.seed = int(seed)
        if team is not None:
            if team._ctx is not ctx:
                raise ArgumentError("allreduce: the team belongs to another context")
            attr.team = team._handle()
        self._team = team
        h = ctypes.c_void_p()
        _check(_L.pcoll_allreduce_create(ctx._handle(), count, DTYPES[name][0], buf, ctypes.byref(h)))
        self._h = h
        self._ctx = ctx
        self._posted = None  # keeps a posted contribution alive until test() >= 1
        self.count = count
        self.dtype = "bfloat16" if name == "bfloat16" else DTYPES[name][1]
        self.datatype = name
        self._np_dtype = DTYPES[name][1]
        self.mode = mode
        self.staleness = 0 if mode == "sync" else int(staleness)
        self.quorum = int(quorum)
        self.seed = int(seed)
        self.nbytes = count * self._np_dtype.itemsize

    def _handle(self):
        if self._h is None:
            raise Error(PCOLL_ERR_STATE, "the collective is closed")  # noqa: F821
        return self._h

    @property
    def closed(self):
        return self._h is None

    def _buffer(self, obj, what, writable=False):
        """(pointer, array) of obj's own memory, checked against the collective."""
        a = _as_array(obj, what)
        if not a.flags.c_contiguous:
            raise ArgumentError("%s: the array is not C-contiguous" % what)
        ok = a.dtype == self._np_dtype or (
            self.datatype == "bfloat16" and a.dtype.itemsize == 2 and a.dtype.kind in "uiV"
        ) or (self.datatype == "bfloat16" and a.dtype.name == "bfloat16")
        if not ok:
            raise DtypeError(
                "%s: dtype %s, the collective is %s" % (what, a.dtype, self.datatype)
            )
        if a.size != self.count:
            raise ArgumentError(
                "%s: %d elements, the collective has %d" % (what, a.size, self.count)
            )
        if writable and not a.flags.writeable:
            raise ArgumentError("%s: the array is read-only" % what)
        return a.ctypes.data, a

    def step(self, arr):
        """pcoll_step with arr's buffer (no copy); returns the rounds now ready."""
        h = self._handle()
        ptr, _ = self._buffer(arr, "step")
        return _check(_L.pcoll_step(h, ptr))

    def step_post(self, arr):
        """pcoll_step_post; keep arr unchanged until test() returns >= 1."""
        h = self._handle()
        ptr, a = self._buffer(arr, "step_post")
        rc = _check(_L.pcoll_step_post(h, ptr))
        self._posted = (arr, a)
        return rc

    def test(self):
        """pcoll_test: rounds ready (>= 1) once the posted step completed, else 0."""
        n = _check(_L.pcoll_test(self._handle()))
        if n >= 1:
            self._posted = None
        return n

    def next_round(self, out=None):
        """The next round (pcoll_next_round_into) or None. Its data is `out`
        when given (overwritten), else a fresh array the caller owns."""
        h = self._handle()
        if out is None:
            data = np.empty(self.count, self._np_dtype)
            ptr = data.ctypes.data
        else:
            ptr, _ = self._buffer(out, "next_round(out)", writable=True)
            data = out
        r = _lib.RoundC()
        if _check(_L.pcoll_next_round_into(h, ptr, ctypes.byref(r))) == 0:
            return None
        return Round(r, data)

    def rounds(self, out=None):
        """Iterate over the rounds available now (each into `out` if given)."""
        while True:
            r = self.next_round(out)
            if r is None:
                return
            yield r

    def flush(self):
        """pcoll_flush: the meeting point (collective). Returns 0 once the flush
        completed, or the number of rounds waiting when they filled the S+1
        result buffers first: take them (rounds()) and call flush() again."""
        return _check(_L.pcoll_flush(self._handle()))

    def flush_post(self):
        _check(_L.pcoll_flush_post(self._handle()))

    def flush_test(self):
        return bool(_check(_L.pcoll_flush_test(self._handle())))

    def round_initiator(self, index):
        return _check(_L.pcoll_round_initiator(self._handle(), index))

    def query(self):
        """pcoll_coll_query as a dict (memory_bytes: what the collective holds here)."""
        buf = ctypes.create_string_buffer(_lib.OPAQUE_BYTES)
        _check(_L.pcoll_coll_query_sized(self._handle(), buf, ctypes.sizeof(_lib.CollInfo)))
        info = _lib.CollInfo.from_buffer(buf)
        d = {name: getattr(info, name) for name, _ in _lib.CollInfo._fields_}
        d["algorithm"] = d["algorithm"].decode() if d["algorithm"] else None
        d["datatype"] = _DT_NAMES.get(d["datatype"], d["datatype"])
        d["mode"] = _MODE_NAMES.get(d["mode"], d["mode"])
        return d

    def close(self):
        """pcoll_destroy (collective; flushes first). Raises Error(PCOLL_ERR_PENDING)
        when rounds never taken were discarded; the memory is freed either way."""
        if self._h is None:
            return
        h, self._h = self._h, None
        self._posted = None
        _check(_L.pcoll_destroy(h))

    def __repr__(self):
        return "<pcoll.Collective %s %d x %s S=%d%s>" % (
            self.mode,
            self.count,
            self.datatype,
            self.staleness,
            " closed" if self._h is None else "",
        )
