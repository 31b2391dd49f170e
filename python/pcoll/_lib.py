"""Loading libpcoll.so and mirroring the structs of include/pcoll.h (ctypes, ABI mode).

The library is looked for, in order: $PCOLL_LIBRARY; the directory recorded
at install time (pcoll/_install.py, written by `make install`); the build
tree ($PCOLL_BUILDDIR/.libs); ctypes.util.find_library("pcoll").
"""
import ctypes
import ctypes.util
import glob
import os

# The header this binding mirrors (include/pcoll.h).
HEADER_MAJOR = 0
HEADER_MINOR = 3

# pcoll_config_t and pcoll_attr_t grow at the end within a major version and
# carry their size: the binding lets the library's *_init fill a buffer larger
# than any of them, then writes only the fields it knows.
OPAQUE_BYTES = 512


class Config(ctypes.Structure):
    """pcoll_config_t (0.2): the leading fields the binding sets."""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("provider", ctypes.c_char_p),
        ("notify", ctypes.c_int),
        ("timeout_ms", ctypes.c_int),
        ("progress_thread", ctypes.c_int),
        ("bind_progress_thread", ctypes.c_int),
        ("idle_sleep_max_us", ctypes.c_uint),
        ("oob_allgather", ctypes.c_void_p),
        ("oob_arg", ctypes.c_void_p),
        ("oob_rank", ctypes.c_int),
        ("oob_size", ctypes.c_int),
        ("thread_level", ctypes.c_int),
    ]


class Attr(ctypes.Structure):
    """pcoll_attr_t (0.3: team)."""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("mode", ctypes.c_int),
        ("quorum", ctypes.c_int),
        ("staleness", ctypes.c_int),
        ("seed", ctypes.c_uint64),
        ("team", ctypes.c_void_p),
    ]


# int (*allgather)(const void *send, void *recv, size_t bytes, void *arg)
OOB_ALLGATHER = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p
)


class CtxInfo(ctypes.Structure):
    """pcoll_ctx_info_t: filled by the library, no size field."""

    _fields_ = [
        ("provider", ctypes.c_char * 64),
        ("fabric", ctypes.c_char * 64),
        ("domain", ctypes.c_char * 64),
        ("endpoint", ctypes.c_char * 128),
        ("nic", ctypes.c_char * 64),
        ("wireup", ctypes.c_char * 32),
        ("wait", ctypes.c_char * 32),
        ("progress_cpuset", ctypes.c_char * 64),
        ("notify", ctypes.c_int),
        ("progress_thread", ctypes.c_int),
        ("manual_progress", ctypes.c_int),
        ("rma_event", ctypes.c_int),
        ("cq_data", ctypes.c_int),
        ("timeout_ms", ctypes.c_int),
        ("idle_sleep_max_us", ctypes.c_uint),
    ]


class RoundC(ctypes.Structure):
    """pcoll_round_t: filled by the library, no size field."""

    _fields_ = [
        ("index", ctypes.c_uint64),
        ("data", ctypes.c_void_p),
        ("contributions", ctypes.c_uint64),
        ("staleness", ctypes.c_int64),
        ("flushed", ctypes.c_uint32),
        ("final", ctypes.c_int),
    ]


class CollInfo(ctypes.Structure):
    """pcoll_coll_info_t."""

    _fields_ = [
        ("version", ctypes.c_uint64),
        ("completed", ctypes.c_uint64),
        ("steps", ctypes.c_uint64),
        ("rounds_initiated", ctypes.c_uint64),
        ("holds", ctypes.c_uint64),
        ("wait_seconds", ctypes.c_double),
        ("count", ctypes.c_size_t),
        ("datatype", ctypes.c_int),
        ("mode", ctypes.c_int),
        ("quorum", ctypes.c_int),
        ("staleness", ctypes.c_int),
        ("algorithm", ctypes.c_char_p),
        ("memory_bytes", ctypes.c_size_t),  # 0.4
    ]


def _check_layout():
    # The C layout on LP64 (x86_64, aarch64), computed by hand from pcoll.h:
    # a mirror that drifts from it would read garbage, so refuse to load.
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        return
    expect = {
        RoundC: (40, {"data": 8, "staleness": 24, "final": 36}),
        Config: (72, {"provider": 8, "timeout_ms": 20, "oob_allgather": 40, "thread_level": 64}),
        Attr: (40, {"mode": 8, "staleness": 16, "seed": 24, "team": 32}),
        CollInfo: (88, {"count": 48, "datatype": 56, "algorithm": 72, "memory_bytes": 80}),
        CtxInfo: (540, {"wireup": 384, "notify": 512, "idle_sleep_max_us": 536}),
    }
    for cls, (size, offs) in expect.items():
        got = {name: getattr(cls, name).offset for name in offs}
        if ctypes.sizeof(cls) != size or got != offs:
            raise ImportError(
                "pcoll: ctypes mirror %s has size %d, offsets %s; pcoll.h says %d, %s"
                % (cls.__name__, ctypes.sizeof(cls), got, size, offs)
            )


def _candidates():
    env = os.environ.get("PCOLL_LIBRARY")
    if env:
        yield env
        return  # an explicit choice: never fall back silently
    try:
        from . import _install  # written by make install
    except ImportError:
        _install = None
    if _install is not None:
        here = os.path.dirname(os.path.abspath(__file__))
        # The absolute libdir, then the same place relative to this package
        # (for a tree installed with DESTDIR or moved as a whole).
        for d in (_install.LIBDIR, os.path.normpath(os.path.join(here, _install.LIBDIR_REL))):
            for name in ["libpcoll.so"] + sorted(glob.glob(os.path.join(d, "libpcoll.so.*"))):
                yield os.path.join(d, name)
    bdir = os.environ.get("PCOLL_BUILDDIR")
    if bdir:
        yield os.path.join(bdir, ".libs", "libpcoll.so")
    found = ctypes.util.find_library("pcoll")
    if found:
        yield found


def load():
    _check_layout()
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (missing)")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        _declare(lib)
        _check_version(lib, path)
        lib.pcoll_path = path
        return lib
    raise ImportError(
        "pcoll: libpcoll.so not found; set PCOLL_LIBRARY to it or PCOLL_BUILDDIR to the "
        "build tree. Tried: " + ("; ".join(tried) or "nothing")
    )


def _check_version(lib, path):
    ver = None
    if hasattr(lib, "pcoll_version"):
        ma, mi, pa = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        lib.pcoll_version(ctypes.byref(ma), ctypes.byref(mi), ctypes.byref(pa))
        ver = (ma.value, mi.value, pa.value)
        if ver[0] != HEADER_MAJOR:
            raise ImportError(
                "pcoll: %s is version %d.%d.%d, this binding was written for %d.x"
                % ((path,) + ver + (HEADER_MAJOR,))
            )
    # Without pcoll_version (0.1) the check below still refuses a library
    # whose structs lack the size field.
    # The size fields the library's init functions set must cover every field
    # the binding writes.
    for init, cls in (("pcoll_config_init", Config), ("pcoll_attr_init", Attr)):
        buf = ctypes.create_string_buffer(OPAQUE_BYTES)
        getattr(lib, init)(buf)
        size = cls.from_buffer(buf).size
        if size < ctypes.sizeof(cls) or size > OPAQUE_BYTES:
            raise ImportError(
                "pcoll: %s's %s sets size %d; the binding mirrors %d bytes (at most %d)"
                % (path, init, size, ctypes.sizeof(cls), OPAQUE_BYTES)
            )
    lib.pcoll_version_tuple = ver


def _declare(lib):
    P, I, S, U64, V = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint64, None
    sig = {
        "pcoll_strerror": (ctypes.c_char_p, [I]),
        "pcoll_last_error": (ctypes.c_char_p, []),
        "pcoll_datatype_size": (S, [I]),
        "pcoll_config_init": (V, [P]),
        "pcoll_attr_init": (V, [P]),
        "pcoll_init": (I, [P, ctypes.POINTER(P)]),
        "pcoll_finalize": (I, [P]),
        "pcoll_rank": (I, [P]),
        "pcoll_size": (I, [P]),
        "pcoll_allreduce_create": (I, [P, S, I, P, ctypes.POINTER(P)]),
        "pcoll_destroy": (I, [P]),
        "pcoll_step": (I, [P, P]),
        "pcoll_step_post": (I, [P, P]),
        "pcoll_test": (I, [P]),
        "pcoll_next_round": (I, [P, ctypes.POINTER(RoundC)]),
        "pcoll_next_round_into": (I, [P, P, ctypes.POINTER(RoundC)]),
        "pcoll_flush": (I, [P]),
        "pcoll_flush_post": (I, [P]),
        "pcoll_flush_test": (I, [P]),
        "pcoll_round_initiator": (I, [P, U64]),
        "pcoll_coll_query": (I, [P, P]),
        "pcoll_coll_query_sized": (I, [P, P, ctypes.c_size_t]),
        "pcoll_ctx_query": (I, [P, P]),
    }
    for name, (res, args) in sig.items():
        try:
            f = getattr(lib, name)
        except AttributeError:
            raise ImportError("pcoll: the library lacks %s (too old for this binding)" % name)
        f.restype = res
        f.argtypes = args
    # Teams (0.3): the size check above already refuses an older library,
    # whose pcoll_attr_t has no team field.
    teams = {
        "pcoll_team_split": (I, [P, I, I, ctypes.POINTER(P)]),
        "pcoll_team_shrink": (I, [P, P, ctypes.POINTER(P)]),
        "pcoll_team_rank": (I, [P]),
        "pcoll_team_size": (I, [P]),
        "pcoll_team_job_rank": (I, [P, I]),
        "pcoll_team_destroy": (I, [P]),
    }
    for name, (res, args) in teams.items():
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = args
    if hasattr(lib, "pcoll_version"):
        lib.pcoll_version.restype = I
        lib.pcoll_version.argtypes = [ctypes.POINTER(I)] * 3
