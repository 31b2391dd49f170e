"""What the multi-process tests share: the children's environment, and plain
processes (no launcher) run side by side."""
import os
import subprocess
import sys

import pcoll

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(pcoll.__file__)))


def child_env(plain=False):
    """The environment for a child that imports this pcoll; plain: without the
    launcher's variables (no PMIx server, no MPI job), for an oob wireup."""
    env = dict(os.environ)
    if plain:
        env = {k: v for k, v in env.items() if not k.startswith(("PMIX", "OMPI", "PMI_"))}
    env["FI_PROVIDER"] = os.environ.get("FI_PROVIDER", "shm")
    env["PYTHONPATH"] = os.pathsep.join(p for p in [PACKAGE_DIR, env.get("PYTHONPATH")] if p)
    return env


def run_plain(argvs, timeout):
    """Start one plain process per argv (python scripts), wait for all under
    timeout; return their exit codes and outputs."""
    env = child_env(plain=True)
    procs = [subprocess.Popen([sys.executable] + list(a), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for a in argvs]
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=timeout)[0])
        finally:
            p.kill()
    return [p.returncode for p in procs], outs
