# shellcheck shell=bash
# SLURM clusters in a temporary directory, for tests/slurm.sh (one node, this
# host) and tests/slurm-multihost.sh (one slurmd per network-namespace host)
# (sourced). Needs root and slurm-wlm (slurmctld, slurmd, srun, ...) with
# munge. Nothing outside the directory is used or changed: its own munge key
# and munged socket, its own slurm.conf, state, spool and TmpFS directories
# (spool, TmpFS, slurmd's pid and log files per node: %n). Every daemon runs
# in the foreground as a child of this shell and is stopped by its pid.
#
#   slurm_missing               print what is missing (empty when usable)
#   slurm_setup DIR CTLD_HOST CTLD_ADDR CTLD_PORT SLURMD_PORT NODE...
#                               start munged, write DIR/slurm.conf with the
#                               controller at CTLD_HOST(CTLD_ADDR) and a
#                               NodeName line per NODE (NodeName=... and its
#                               hardware, as `slurm_node_hw` prints it), export
#                               SLURM_CONF. 1 on failure
#   slurm_daemon NAME CMD...    start a daemon, its output in DIR/log/NAME.out
#                               (CMD may enter a namespace first, by exec:
#                               the pid is the daemon's)
#   slurm_wait_idle N           wait (30 s) for N idle nodes, 1 if a daemon
#                               exited or time ran out
#   slurm_cluster_start DIR     the one-node cluster: all of the above;
#                               1 on failure
#   slurm_cluster_stop          cancel the jobs, stop the daemons (by pid)
#   slurm_cluster_logs          the tail of every daemon's log (for failures)
# SLURM_IN: the words that run a client (sinfo, squeue, scancel) where the
# controller is reachable; empty for this host.

PATH=$PATH:/usr/sbin:/sbin
SLURM_DIR=
slurm_pids=() # munged, slurmctld, the slurmds, in start order
SLURM_IN=()

slurm_missing() {
	local b p miss=
	for b in munged slurmctld slurmd srun salloc sbatch sinfo squeue scancel; do
		p=$(command -v "$b" 2>/dev/null) && [ -f "$p" ] && [ -x "$p" ] || miss="$miss $b"
	done
	echo "${miss# }"
}

# A TCP port nobody listens on (two clusters on one machine must not clash).
slurm_free_port() {
	local p i
	for i in $(seq 100); do
		p=$((20000 + (RANDOM * 32768 + RANDOM + i) % 40000))
		[ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && {
			echo "$p"
			return 0
		}
	done
	return 1
}

# slurm_wait SECONDS CMD...: run CMD every 0.2 s until it succeeds; 1 on timeout.
slurm_wait() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}

# slurm_nodes_idle N: N nodes, all idle.
slurm_nodes_idle() {
	local st
	st=$("${SLURM_IN[@]}" sinfo -h -N -o %T 2>/dev/null)
	[ "$(echo "$st" | grep -c .)" = "$1" ] && [ "$(echo "$st" | sort -u)" = idle ]
}

slurm_no_jobs() {
	[ -z "$("${SLURM_IN[@]}" squeue -h -o %i 2>/dev/null)" ]
}

# slurm_node_hw: this machine's hardware as `slurmd -C` says it (CPUs=...
# RealMemory=...), without the NodeName.
slurm_node_hw() {
	local node
	node=$(slurmd -C | head -n 1)
	case $node in
	NodeName=*) echo "${node#NodeName=* }" ;;
	*)
		echo "slurmd -C printed no node: '$node'" >&2
		return 1
		;;
	esac
}

slurm_gone() {
	! kill -0 "$1" 2>/dev/null
}

slurm_setup() {
	local d=$1 host=$2 addr=$3 ctld_port=$4 slurmd_port=$5 n name
	shift 5
	SLURM_DIR=$d
	# munged wants every directory up to its socket searchable by all.
	mkdir -p "$d" && chmod 755 "$d" || return 1
	mkdir -p "$d/state" "$d/log" || return 1
	for n in "$@"; do
		name=${n%% *}
		name=${name#NodeName=}
		mkdir -p "$d/spool/$name" "$d/tmpfs/$name" || return 1
	done
	if command -v mungekey >/dev/null 2>&1; then
		mungekey -c -k "$d/munge.key" || return 1
	else
		dd if=/dev/urandom of="$d/munge.key" bs=1024 count=1 2>/dev/null || return 1
	fi
	chmod 600 "$d/munge.key"
	slurm_daemon munged munged -F --key-file="$d/munge.key" --socket="$d/munge.sock" --pid-file="$d/munged.pid" \
		--seed-file="$d/munged.seed" --log-file="$d/log/munged.log"
	slurm_wait 10 test -S "$d/munge.sock" || {
		echo "munged did not create its socket"
		return 1
	}
	: >"$d/plugstack.conf"
	{
		cat <<EOF
ClusterName=pcolltest
SlurmctldHost=$host($addr)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge.sock
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/%n
TmpFS=$d/tmpfs/%n
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd-%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd-%n.log
PlugStackConfig=$d/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
InactiveLimit=0
KillWait=2
MinJobAge=5
MailProg=/bin/true
EOF
		for n in "$@"; do
			echo "$n State=UNKNOWN"
		done
		echo "PartitionName=pcoll Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
	} >"$d/slurm.conf"
	export SLURM_CONF=$d/slurm.conf
	srun --mpi=list 2>&1 | grep -q pmix || {
		echo "srun --mpi=list shows no pmix plugin:"
		srun --mpi=list 2>&1
		return 1
	}
}

# slurm_daemon NAME CMD...: CMD's output goes to DIR/log/NAME.out.
slurm_daemon() {
	local name=$1
	shift
	"$@" >>"$SLURM_DIR/log/$name.out" 2>&1 &
	slurm_pids+=($!)
}

slurm_wait_idle() {
	local n=$1 end=$((SECONDS + 30)) pid
	until slurm_nodes_idle "$n"; do
		for pid in "${slurm_pids[@]}"; do
			slurm_gone "$pid" && {
				echo "a daemon exited (pid $pid; logs below)"
				return 1
			}
		done
		[ $SECONDS -lt $end ] || {
			echo "not $n idle nodes in 30 s: $("${SLURM_IN[@]}" sinfo -N -o '%N %T %E' 2>&1)"
			return 1
		}
		sleep 0.2
	done
}

slurm_cluster_start() {
	local d=$1 hw ctld_port slurmd_port
	hw=$(slurm_node_hw) || return 1
	if ! ctld_port=$(slurm_free_port) || ! slurmd_port=$(slurm_free_port); then
		echo "no free TCP port"
		return 1
	fi
	[ "$ctld_port" != "$slurmd_port" ] || slurmd_port=$((slurmd_port + 1))
	# The controller and the node are this host, reached on the loopback
	# address whatever the name resolves to.
	slurm_setup "$d" "$(hostname -s)" 127.0.0.1 "$ctld_port" "$slurmd_port" \
		"NodeName=$(hostname -s) $hw NodeAddr=127.0.0.1" || return 1
	slurm_daemon slurmctld slurmctld -D -f "$SLURM_CONF"
	slurm_daemon slurmd slurmd -D -f "$SLURM_CONF"
	slurm_wait_idle 1
}

slurm_cluster_stop() {
	local i pid
	if [ ${#slurm_pids[@]} -ge 2 ]; then
		"${SLURM_IN[@]}" scancel --quiet --full --user=root 2>/dev/null
		slurm_wait 10 slurm_no_jobs || "${SLURM_IN[@]}" squeue 2>&1 | head -5
	fi
	for ((i = ${#slurm_pids[@]} - 1; i >= 0; i--)); do
		pid=${slurm_pids[i]}
		kill -TERM "$pid" 2>/dev/null || continue
		slurm_wait 10 slurm_gone "$pid" || kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	slurm_pids=()
}

slurm_cluster_logs() {
	local f
	for f in "$SLURM_DIR"/log/*; do
		[ -s "$f" ] || continue
		echo "--- ${f##*/}"
		tail -n 15 "$f"
	done
}
