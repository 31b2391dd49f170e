#!/bin/bash
# Multi-host under SLURM: the four network-namespace hosts of
# tests/netns_lib.sh, one slurmd in each (tests/slurm_lib.sh's cluster):
#  - slurmctld in the bridge's namespace, at 10.77.0.254 on the bridge (an
#    address that exists only there), with its own hostname; srun runs there
#    too (the cluster's login node);
#  - each slurmd in its host's network and UTS namespaces (nsenter, then
#    exec: the pid is slurmd's), NodeName = NodeHostname = the host's name,
#    NodeAddr its 10.77.0.x; spool, TmpFS (SLURM's pmix plugin puts the
#    step's client directory there), pid and log files per node (%n);
#  - munged in this namespace: its socket is a file, which every namespace
#    reaches.
# Then multihost.sh's checks (netns_lib.sh's host_suite) through
# `srun --mpi=pmix -N 4 --ntasks-per-node=NP/4` (-O where that is more than
# a node's CPUs) over libfabric tcp on veth0: placement (endpoints and
# hostnames), the invariants and the quick demo at P = 4 and P = 32, and a
# tbf bandwidth limit on one host.
# Skips unless it runs as root with ip (netns), nsenter, unshare, tc and
# slurm-wlm with munge. Every launch runs under timeout(1); the daemons are
# stopped by pid, then the namespaces removed, on exit.
# shellcheck disable=SC2317 # cleanup is called indirectly (trap)
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
# Absolute: the processes run in a temporary directory.
top_builddir=$(cd "$top_builddir" && pwd) && top_srcdir=$(cd "$top_srcdir" && pwd) || exit 99

. "$top_srcdir/tests/netns_lib.sh"
. "$top_srcdir/tests/slurm_lib.sh"
netns_usable
miss=$(slurm_missing)
if [ -n "$miss" ]; then
	echo "SKIP: slurm-wlm and munge not installed (missing: $miss); install-deps.sh installs them"
	exit 77
fi
# mp_lib.sh skips unless pcoll-run finds a launcher; srun is one here.
PCOLL_LAUNCHER=srun
export PCOLL_LAUNCHER
. "$top_srcdir/tests/mp_lib.sh"
unset PCOLL_LAUNCHER

tag=pcsl$$ # namespace, host and node names: $tag-br, $tag-h0 ... $tag-h3
CTLD_ADDR=10.77.0.254

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pcoll-slurm-mh.XXXXXX") || exit 99
cleanup() {
	local rc=$?
	slurm_cluster_stop
	netns_destroy
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ----------------------------------------------------------- the cluster
t0=$SECONDS
netns_build "$tag" "$tmp" || exit 1
start() {
	local hw nodes=() i
	ip -n "$tag-br" addr add "$CTLD_ADDR/24" dev br0 || return 1
	hw=$(slurm_node_hw) || return 1
	CPUS=$(echo "$hw" | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')
	for ((i = 0; i < NH; i++)); do
		nodes+=("NodeName=$tag-h$i NodeHostname=$tag-h$i NodeAddr=$(ip_of "$i") $hw")
	done
	# The namespaces are new: SLURM's default ports are free in them.
	slurm_setup "$tmp" "$tag-br" "$CTLD_ADDR" 6817 6818 "${nodes[@]}" || return 1
	ns_words br
	SLURM_IN=("${NSW[@]}")
	slurm_daemon slurmctld "${NSW[@]}" slurmctld -D -f "$SLURM_CONF"
	for ((i = 0; i < NH; i++)); do
		ns_words "$i"
		slurm_daemon "slurmd-h$i" "${NSW[@]}" slurmd -D -N "$tag-h$i" -f "$SLURM_CONF"
	done
	slurm_wait_idle "$NH"
}
if ! start >"$tmp/start.log" 2>&1; then
	echo "FAIL: the SLURM cluster over the namespace hosts did not start"
	sed 's/^/      /' "$tmp/start.log"
	slurm_cluster_logs | sed 's/^/      /'
	exit 1
fi
mkdir "$tmp/run" && cd "$tmp/run" || exit 99
echo "# $NH-node cluster up in $((SECONDS - t0)) s: $(in_br sinfo -h -N -o '%N %c CPUs %T' | tr '\n' ' ')($(srun --version))"

# host_cmd NP [VAR=value...] -- prog args: the launch, as words in the array
# mh: srun in the bridge's namespace, NP/NH tasks a node. srun refuses
# --ntasks-per-node above a node's CPUs, -O or not; with -O alone it spreads
# -n NP evenly over -N 4 nodes (host_placement checks that it does).
# ONE_HOST=1: all NP tasks on the first host instead (mh_times).
host_cmd() {
	local np=$1 nodes=(-N "$NH") spread=(--ntasks-per-node=$(($1 / NH)))
	shift
	split_envs "$@"
	[ $((np / NH)) -gt "$CPUS" ] && spread=(-O)
	[ -n "${ONE_HOST:-}" ] && nodes=(-N 1 -w "$tag-h0") spread=(-O)
	ns_words br
	mh=(timeout -k 10 "$T" "${NSW[@]}"
		env "FI_PROVIDER=${PCOLL_MH_PROVIDER:-tcp}" FI_TCP_IFACE=veth0 FI_NET_IFACE=veth0
		FI_SOCKETS_IFACE=veth0 "${ENVS[@]+"${ENVS[@]}"}"
		srun --mpi=pmix "${nodes[@]}" -n "$np" "${spread[@]}"
		"${REST[@]}")
}

# Under TSan, 32 instrumented processes on 2 cores launched by srun took
# 143-211 s, once more than 300 s, on a quiet machine (mutex interception
# in libfabric's locks: half the CPU in libtsan), against 24 s through
# mpirun (multihost.sh, which still runs it) and 4-5 s uninstrumented.
case $san in
*thread*) HOST_P32_SKIP="through srun it takes 143 s to over 300 s in a TSan build; multihost.sh runs it through mpirun" ;;
esac
# PCOLL_MH_SUITE=0 (with PCOLL_MH_TIMES): the timings alone.
[ "${PCOLL_MH_SUITE:-1}" = 0 ] || host_suite

# PCOLL_MH_TIMES=N (not in make check): after the checks, time the quick
# demo at P = 32 and 64 (or PCOLL_MH_P) launched by srun on one host and
# over the four (or PCOLL_MH_WHERE: 1, 4 or both), N runs each, interleaved,
# into PCOLL_MH_CSV (results/multihost_srun.csv), with the machine's CPU time
# over each launch (/proc/stat: user, system, softirq, idle; all namespaces
# share the cores), rank 0's pcoll_init and run times (pcoll_sgd's times
# line) and, from every rank's --phases lines, the slowest creation of the
# first collective (which opens the connections) and the slowest timed part
# of each mode. PCOLL_MH_LOGS=1 keeps every launch's output next to the CSV,
# with each host's TCP counters (nstat) since the launch before.
# PCOLL_MH_PROVIDER (tcp) is the provider of every launch of this test;
# PCOLL_MH_AUTOGROUP=1 leaves the kernel's autogroup scheduling on (netns_lib.sh).
cpu_now() { awk '/^cpu / { print $2 + $3, $4, $8, $5 + $6; exit }' /proc/stat; }
# TCP's counters of every host since the last call (nstat keeps its history
# per file, NSTAT_HISTORY: one per host).
mh_netstat() {
	local i
	for ((i = 0; i < NH; i++)); do
		echo "# nstat h$i"
		NSTAT_HISTORY=$tmp/nstat.h$i in_host "$i" nstat | grep -E '^Tcp'
	done
}
mh_times() {
	local csv=${PCOLL_MH_CSV:-$top_builddir/results/multihost_srun.csv} np where run
	local log s e ok one c0 c1 hz
	hz=$(getconf CLK_TCK)
	log=$(mktemp)
	echo "P,hosts,run,launch_to_exit_s,sync_s,solo_s,majority_s,ok,cpu_user_s,cpu_sys_s,cpu_softirq_s,cpu_idle_s,init_s,runs_s,first_create_max_s,steps_max_s" >"$csv"
	for ((run = 1; run <= PCOLL_MH_TIMES; run++)); do
		for np in ${PCOLL_MH_P:-32 64}; do
			for where in ${PCOLL_MH_WHERE:-1 $NH}; do
				one=
				[ "$where" = 1 ] && one=1
				ONE_HOST=$one host_cmd "$np" -- "$SGD" --quick --no-plot --phases -o "$NS_DIR/sgdt"
				c0=$(cpu_now)
				s=$(date +%s%N)
				"${mh[@]}" >"$log" 2>&1
				e=$(date +%s%N)
				c1=$(cpu_now)
				ok=$(grep -c '^replicas identical: yes' "$log")
				awk -v np="$np" -v w="$where" -v r="$run" -v t=$((e - s)) -v ok="$ok" \
					-v c0="$c0" -v c1="$c1" -v hz="$hz" '
					/^\[(sync|solo|majority) *\] done:/ {
						m = $1; gsub(/[\[\] ]/, "", m)
						for (i = 1; i <= NF; i++) if ($i == "s," && !(m in v)) v[m] = $(i - 1)
					}
					/^times \(rank 0\):/ { init = $5; runs = $9 }
					/phases: .*control collective/ { if ($(NF - 1) + 0 > fc) fc = $(NF - 1) + 0 }
					/phases \[.*steps and flush/ {
						for (i = 1; i <= NF; i++) if ($i == "flush" && $(i + 1) + 0 > st) st = $(i + 1) + 0
					}
					END {
						split(c0, a, " "); split(c1, b, " ")
						printf "%d,%d,%d,%.1f,%s,%s,%s,%d,%.1f,%.1f,%.1f,%.1f,%s,%s,%.2f,%.2f\n", np, w, r, t / 1e9,
							v["sync"], v["solo"], v["majority"], ok, (b[1] - a[1]) / hz,
							(b[2] - a[2]) / hz, (b[3] - a[3]) / hz, (b[4] - a[4]) / hz, init, runs, fc, st
					}' "$log" | tee -a "$csv"
				[ "$ok" = 1 ] || cp "$log" "${csv%.csv}.fail-P$np-N$where-$run.log"
				if [ -n "${PCOLL_MH_LOGS:-}" ]; then
					mh_netstat >>"$log"
					cp "$log" "${csv%.csv}.P$np-N$where-$run.log"
				fi
			done
		done
	done
	rm -f "$log"
}
[ -n "${PCOLL_MH_TIMES:-}" ] && mh_times
echo "# total $((SECONDS - t0)) s"
finish
