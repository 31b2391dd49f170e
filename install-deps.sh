#!/bin/sh
# Install what pcoll needs on Debian 12 / Ubuntu 22.04+: the build tools, the
# libraries it links (libfabric, PMIx, hwloc), Check for the unit tests, a
# PMIx launcher (Open MPI's mpirun, used only as a launcher), MPICH and Open
# MPI development files for the peer benchmark, gnuplot for the plots,
# numpy and pytest for the Python binding and its tests, and SLURM with munge
# for tests/slurm.sh (which runs a one-node cluster of its own when root),
# iproute2 (ip netns, tc) for tests/multihost.sh.
set -e
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
	build-essential autoconf automake libtool pkg-config \
	libfabric-dev libfabric-bin libpmix-dev libhwloc-dev hwloc check \
	openmpi-bin libopenmpi-dev mpich libmpich-dev \
	gnuplot-nox valgrind procps iproute2 slurm-wlm munge \
	python3-numpy python3-pytest python3-sklearn python3-matplotlib python3-torch
