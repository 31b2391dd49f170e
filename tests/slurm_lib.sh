# shellcheck shell=bash
# A one-node SLURM cluster in a temporary directory, for tests/slurm.sh
# (sourced). Needs root and slurm-wlm (slurmctld, slurmd, srun, ...) with
# munge. Nothing outside the directory is used or changed: its own munge key
# and munged socket, its own slurm.conf (the node as `slurmd -C` reports it,
# ports that nobody listens on), state, spool and TmpFS directories. Every
# daemon runs in the foreground as a child of this shell and is stopped by
# its pid.
#
#   slurm_missing               print what is missing (empty when usable)
#   slurm_cluster_start DIR     start munged, slurmctld, slurmd; wait for the
#                               node to be idle; export SLURM_CONF. 1 on failure
#   slurm_cluster_stop          cancel the jobs, stop the daemons (by pid)
#   slurm_cluster_logs          the tail of every daemon's log (for failures)

PATH=$PATH:/usr/sbin:/sbin
SLURM_DIR=
slurm_pids=() # munged, slurmctld, slurmd, in start order

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

slurm_node_idle() {
	[ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ]
}

slurm_no_jobs() {
	[ -z "$(squeue -h -o %i 2>/dev/null)" ]
}

slurm_gone() {
	! kill -0 "$1" 2>/dev/null
}

slurm_cluster_start() {
	local d=$1 node ctld_port slurmd_port
	SLURM_DIR=$d
	# munged wants every directory up to its socket searchable by all.
	mkdir -p "$d" && chmod 755 "$d" || return 1
	mkdir -p "$d/state" "$d/spool" "$d/tmpfs" "$d/log" || return 1
	if command -v mungekey >/dev/null 2>&1; then
		mungekey -c -k "$d/munge.key" || return 1
	else
		dd if=/dev/urandom of="$d/munge.key" bs=1024 count=1 2>/dev/null || return 1
	fi
	chmod 600 "$d/munge.key"
	munged -F --key-file="$d/munge.key" --socket="$d/munge.sock" --pid-file="$d/munged.pid" \
		--seed-file="$d/munged.seed" --log-file="$d/log/munged.log" \
		>>"$d/log/munged.log" 2>&1 &
	slurm_pids+=($!)
	slurm_wait 10 test -S "$d/munge.sock" || {
		echo "munged did not create its socket"
		return 1
	}

	node=$(slurmd -C | head -n 1)
	case $node in
	NodeName=*) ;;
	*)
		echo "slurmd -C printed no node: '$node'"
		return 1
		;;
	esac
	if ! ctld_port=$(slurm_free_port) || ! slurmd_port=$(slurm_free_port); then
		echo "no free TCP port"
		return 1
	fi
	[ "$ctld_port" != "$slurmd_port" ] || slurmd_port=$((slurmd_port + 1))
	: >"$d/plugstack.conf"
	# The controller and the node are this host, reached on the loopback
	# address whatever the name resolves to.
	cat >"$d/slurm.conf" <<EOF
ClusterName=pcolltest
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge.sock
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
TmpFS=$d/tmpfs
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
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
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=pcoll Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
	export SLURM_CONF=$d/slurm.conf
	srun --mpi=list 2>&1 | grep -q pmix || {
		echo "srun --mpi=list shows no pmix plugin:"
		srun --mpi=list 2>&1
		return 1
	}
	slurmctld -D -f "$SLURM_CONF" >>"$d/log/slurmctld.out" 2>&1 &
	slurm_pids+=($!)
	slurmd -D -f "$SLURM_CONF" >>"$d/log/slurmd.out" 2>&1 &
	slurm_pids+=($!)
	local end=$((SECONDS + 30)) pid
	until slurm_node_idle; do
		for pid in "${slurm_pids[@]}"; do
			slurm_gone "$pid" && {
				echo "a daemon exited (pid $pid; logs below)"
				return 1
			}
		done
		[ $SECONDS -lt $end ] || {
			echo "the node did not become idle in 30 s: $(sinfo -N -o '%N %T %E' 2>&1)"
			return 1
		}
		sleep 0.2
	done
}

slurm_cluster_stop() {
	local i pid
	if [ ${#slurm_pids[@]} -ge 2 ]; then
		scancel --quiet --full --user=root 2>/dev/null
		slurm_wait 10 slurm_no_jobs || squeue 2>&1 | head -5
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
