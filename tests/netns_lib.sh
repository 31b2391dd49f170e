# shellcheck shell=bash
# shellcheck disable=SC2154 # top_builddir and mh: set by the test that sources this
# Four hosts on one machine, for tests/multihost.sh and
# tests/slurm-multihost.sh (sourced; the checks count with mp_lib.sh's
# verdict): a network namespace per host with a veth pair to a bridge in a
# fifth namespace; 10.77.0.1-4/24 exist only inside them, so no packet leaves
# them. Each namespace has a hostname of its own (a UTS namespace: session
# directories named after the host do not collide in the shared /tmp). Enter
# them with nsenter, not `ip netns exec`, which remounts /sys.
#
#   netns_usable                exit 77 (SKIP) unless root with ip netns,
#                               nsenter, unshare, tc and timeout
#   netns_build TAG DIR         build $TAG-br and $TAG-h0..3 (UTS files in
#                               DIR/uts); FAIL and 1 on failure, SKIP and
#                               exit 77 when no namespace can be made here
#                               (and sched_autogroup off meanwhile: see
#                               autogroup_off)
#   netns_destroy               kill what runs in them, remove them
#   ns_words br|H               NSW: the words that run a command in the
#                               bridge's namespace or in host H
#   in_br CMD..., in_host H CMD...
#   ip_of H                     host H's address
# The checks below launch through host_cmd NP [VAR=value...] -- PROG ARGS,
# which the test defines: it sets the array mh to a launch of NP processes,
# NP/NH per host, under a timeout, over tcp on veth0.
#   host_launch NAME NP [VAR=value...] -- PROG ARGS
#                               mp_lib.sh's check of that launch
#   host_placement NP           every host holds NP/NH of the endpoints and
#                               NP/NH of the hostnames
#   host_demo NP [VAR=value...] the quick demo; replicas identical
#   host_tbf RATE_MBIT          a sync allreduce of 1 MiB vectors at P = 4
#                               without and with a tbf limit on the last host
#   host_suite                  all of them: P = 4 (placement, invariants,
#                               demo), the limit, P = 32 (placement,
#                               invariants unless HOST_P32_SKIP says why
#                               not, demo but in a sanitizer build)
NH=4
NS_TAG=
NS_DIR=
nss=() # the namespaces built, to remove
INV="$top_builddir/tests/mp_invariants"
SGD="$top_builddir/tools/pcoll_sgd"
INFO="$top_builddir/tools/pcoll_info"
san=${PCOLL_SAN_FLAGS:-}
# Per launch. Set here, before the test sources mp_lib.sh, which gives
# MP_TIMEOUT a default of its own (120 s) that would hide the sanitizer one:
# P = 32 takes 4-10 s here, 60-70 s in a TSan build, more on a busy machine.
T=${MP_TIMEOUT:-120}
[ -n "$san" ] && T=${MP_TIMEOUT:-300}

ip_of() { echo "10.77.0.$(($1 + 1))"; }

netns_usable() {
	local c
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: the multi-host test builds network namespaces and needs root"
		exit 77
	fi
	for c in ip nsenter unshare tc timeout; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "SKIP: $c not found (the multi-host tests need ip, nsenter, unshare, tc, timeout)"
			exit 77
		fi
	done
	if ! ip netns list >/dev/null 2>&1; then
		echo "SKIP: this ip has no 'ip netns'"
		exit 77
	fi
}

ns_words() {
	local h=$1
	[ "$h" = br ] || h=h$h
	NSW=(nsenter "--net=/run/netns/$NS_TAG-$h" "--uts=$NS_DIR/uts/$h" --)
}
in_br() {
	ns_words br
	"${NSW[@]}" "$@"
}
in_host() {
	ns_words "$1"
	shift
	"${NSW[@]}" "$@"
}

# ns_add SUFFIX: a network namespace $NS_TAG-SUFFIX, lo up, and a UTS
# namespace (kept in NS_DIR/uts/SUFFIX) with that name as its hostname.
ns_add() {
	local n=$NS_TAG-$1
	ip netns add "$n" || return 1
	nss+=("$n")
	ip -n "$n" link set lo up &&
		touch "$NS_DIR/uts/$1" && unshare --uts="$NS_DIR/uts/$1" hostname "$n"
}

ns_hosts() {
	local i
	ns_add br &&
		ip -n "$NS_TAG-br" link add br0 type bridge &&
		ip -n "$NS_TAG-br" link set br0 up || return 1
	for ((i = 0; i < NH; i++)); do
		ns_add "h$i" || return 1
		# Created in the bridge's namespace, the peer in the host's: the
		# root namespace never sees either end.
		ip -n "$NS_TAG-br" link add "p$i" type veth peer name veth0 netns "$NS_TAG-h$i" &&
			ip -n "$NS_TAG-br" link set "p$i" master br0 up &&
			ip -n "$NS_TAG-h$i" addr add "$(ip_of "$i")/24" dev veth0 &&
			ip -n "$NS_TAG-h$i" link set veth0 up || return 1
	done
	# PCOLL_NS_MTU (experiments, not make check): the veths' and the bridge's
	# MTU, to see what packet size costs.
	if [ -n "${PCOLL_NS_MTU:-}" ]; then
		for ((i = 0; i < NH; i++)); do
			ip -n "$NS_TAG-br" link set "p$i" mtu "$PCOLL_NS_MTU" &&
				ip -n "$NS_TAG-h$i" link set veth0 mtu "$PCOLL_NS_MTU" || return 1
		done
		ip -n "$NS_TAG-br" link set br0 mtu "$PCOLL_NS_MTU" || return 1
	fi
}

netns_build() {
	local t0=$SECONDS
	NS_TAG=$1 NS_DIR=$2
	mkdir -p "$NS_DIR/uts" || return 1
	if ! ip netns add "$NS_TAG-probe" 2>"$NS_DIR/err"; then
		echo "SKIP: cannot create a network namespace here: $(cat "$NS_DIR/err")"
		exit 77
	fi
	ip netns del "$NS_TAG-probe"
	if ! ns_hosts >"$NS_DIR/setup.log" 2>&1; then
		echo "FAIL: the namespace hosts could not be built"
		sed 's/^/      /' "$NS_DIR/setup.log"
		return 1
	fi
	echo "# $NH hosts ($NS_TAG-h0..$((NH - 1)), $(ip_of 0)-$((NH))) on a bridge in $NS_TAG-br, built in $((SECONDS - t0)) s"
	autogroup_off
}

# The four hosts share one kernel's two cores, and each host's launcher
# daemon (slurmstepd, orted) starts its tasks in a session of its own, so
# with sched_autogroup the scheduler shares the cores between the hosts'
# sessions first: a host's runnable processes then went without the CPU
# for seconds at a time (1 of 18 fair ticks over 5.6 s, sampled from
# /proc) while every round waited for them, and P = 64 took 21-42 s from
# launch to exit instead of 13-15 s. Real hosts have cores of their own, so
# the tests turn it off while the hosts exist (PCOLL_MH_AUTOGROUP=1 keeps
# it, to measure that) and put the setting back afterwards.
AUTOGROUP_WAS=
autogroup_off() {
	local f=/proc/sys/kernel/sched_autogroup_enabled
	[ "${PCOLL_MH_AUTOGROUP:-0}" = 1 ] && return 0
	[ -w "$f" ] || return 0
	AUTOGROUP_WAS=$(cat "$f")
	[ "$AUTOGROUP_WAS" = 0 ] && return 0
	echo 0 >"$f" && echo "# sched_autogroup off while the hosts exist (one kernel for four hosts)"
}
autogroup_restore() {
	if [ -n "$AUTOGROUP_WAS" ]; then
		echo "$AUTOGROUP_WAS" >/proc/sys/kernel/sched_autogroup_enabled
	fi
	AUTOGROUP_WAS=
}

netns_destroy() {
	local ns f pids
	# Everything that still runs in our namespaces is ours: kill it before
	# the namespaces go.
	for ns in "${nss[@]+"${nss[@]}"}"; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		# shellcheck disable=SC2086 # a list of pids
		[ -z "$pids" ] || kill -9 $pids 2>/dev/null
	done
	for f in "$NS_DIR"/uts/*; do
		[ -e "$f" ] && umount "$f" 2>/dev/null
	done
	for ns in "${nss[@]+"${nss[@]}"}"; do
		ip netns del "$ns" 2>/dev/null
	done
	nss=()
	autogroup_restore
}

# host_launch NAME NP [VAR=value...] -- PROG ARGS: a check of that launch.
host_launch() {
	local name=$1
	shift
	host_cmd "$@"
	check "$name" "${mh[@]}"
}

# host_placement NP: every host holds NP/NH of the endpoints (pcoll_info -a)
# and NP/NH of the processes (their hostnames).
host_placement() {
	local np=$1 log ok=0 counts hosts names
	log=$(mktemp)
	# shellcheck disable=SC2016 # $(hostname) and $0 are the process's
	host_cmd "$np" -- /bin/sh -c 'echo "host: $(hostname)"; exec "$0" -a' "$INFO"
	if "${mh[@]}" >"$log" 2>&1; then
		counts=$(grep -o 'fi_sockaddr_in://10\.77\.0\.[0-9]*' "$log" | sort | uniq -c | awk '{ print $1 }' | sort -u | tr '\n' ' ')
		hosts=$(grep -o 'fi_sockaddr_in://10\.77\.0\.[0-9]*' "$log" | sort -u | wc -l)
		names=$(sed -n 's/^host: //p' "$log" | sort | uniq -c | awk -v n=$((np / NH)) '$1 == n' | wc -l)
		[ "$hosts" = "$NH" ] && [ "$counts" = "$((np / NH)) " ] && [ "$names" = "$NH" ] && ok=1
		echo "# endpoints on $hosts hosts, ${counts% } per host; $names hostnames with $((np / NH)) each" >>"$log"
	fi
	verdict "$ok" "placement P=$np: $((np / NH)) per host" "$log" "processes not spread $((np / NH)) per host over $NH hosts"
}

# host_demo NP [VAR=value...]: the quick demo; replicas must be identical.
host_demo() {
	local np=$1 log ok=0 t sum
	shift
	log=$(mktemp)
	host_cmd "$np" "$@" -- "$SGD" --quick --no-plot -o "$NS_DIR/sgd$np"
	t=$SECONDS
	if "${mh[@]}" >"$log" 2>&1 && grep -q '^replicas identical: yes' "$log" &&
		[ "$(grep -c 'done: 30 steps' "$log")" = 3 ]; then
		ok=1
	fi
	t=$((SECONDS - t))
	sum=$(sed -n 's/^\[\([a-z]*\) *\] done: \([^,]*\), \([^,]*\), \([^,]*\),.*/# \1: \2, \3, \4/p' "$log")
	printf '%s\n# launch to exit: %s s\n' "$sum" "$t" >>"$log"
	verdict "$ok" "demo P=$np ($((np / NH)) per host)${*:+ $*}" "$log" "demo failed or replicas differ"
}

# bigsync LOG: time (s, 2 decimals) of a sync allreduce of 1 MiB vectors at
# P = 4, one per host; 0 on failure.
bigsync() {
	local s e
	host_cmd 4 -- "$INV" -c 131072 -n 10 -m sync
	s=$(date +%s%N)
	"${mh[@]}" >"$1" 2>&1 || {
		echo 0
		return
	}
	e=$(date +%s%N)
	awk -v n=$((e - s)) 'BEGIN { printf "%.2f\n", n / 1e9 }'
}

# host_tbf RATE_MBIT: the sync allreduce of bigsync without a limit, then
# with tc tbf at RATE_MBIT both ways on the last host (its veth0 and its
# bridge port). Limited, it must pass, be slower than without the limit and
# take at least the time the limit allows for the bytes that host sent.
host_tbf() {
	local rate=$1 log t_free t_lim ok h sent floor u
	log=$(mktemp)
	t_free=$(bigsync "$log")
	ok=0
	[ "$t_free" != 0 ] && ok=1
	echo "# no limit: $t_free s" >>"$log"
	verdict "$ok" "sync 1 MiB P=4, no limit" "$log" "failed"
	h=$((NH - 1))
	log=$(mktemp)
	if ! in_host "$h" tc qdisc add dev veth0 root tbf rate "${rate}mbit" burst 64kb latency 100ms ||
		! in_br tc qdisc add dev "p$h" root tbf rate "${rate}mbit" burst 64kb latency 100ms; then
		echo "tc qdisc add ... tbf failed (no sch_tbf?)" >"$log"
		verdict 0 "tbf on host $h" "$log"
		return
	fi
	t_lim=$(bigsync "$log")
	# What host h sent had to pass its tbf: that many bytes at the rate is a
	# floor on the time (less the burst).
	sent=$(in_host "$h" tc -s qdisc show dev veth0 | awk '/Sent/ { print $2; exit }')
	floor=$(awk -v b="${sent:-0}" -v r="$rate" 'BEGIN { printf "%.2f", b * 8 / (r * 1e6) * 0.9 }')
	ok=0
	# In a sanitizer build the run is bound by the instrumented CPU work
	# (measured under TSan: 16.7 s free, 18.6 s limited), so only the floor.
	u=$t_free
	[ -n "$san" ] && u=0
	if [ "$t_lim" != 0 ] && awk -v t="$t_lim" -v f="$floor" -v b="${sent:-0}" -v u="$u" 'BEGIN { exit !(b > 4000000 && t >= f && t > u) }'; then
		ok=1
	fi
	echo "# tbf $rate Mbit/s on host $h: $t_lim s (no limit: $t_free s); host $h sent $sent bytes, floor $floor s" >>"$log"
	verdict "$ok" "sync 1 MiB P=4, $rate Mbit/s on host $h" "$log" "failed or faster than the limit allows"
	in_host "$h" tc qdisc del dev veth0 root
	in_br tc qdisc del dev "p$h" root
}

# host_suite: every check, through host_cmd.
host_suite() {
	# ----------------------------------------------- one process per host
	host_placement 4
	host_launch "invariants P=4 (1 per host) tcp rd" 4 -- "$INV" -c 1000 -s 29
	host_launch "invariants P=4 (1 per host) tcp teams of 2+2 overlap rsag" 4 -- "$INV" -c 4096 --team 2 --overlap
	host_demo 4
	# ---------------------------------------- a bandwidth limit on one host
	# 1 MiB vectors at 50 Mbit/s: about 4 s more than without.
	host_tbf 50
	# ---------------------------------------------- eight processes per host
	host_placement 32
	if [ -z "${HOST_P32_SKIP:-}" ]; then
		host_launch "invariants P=32 (8 per host) tcp rd" 32 -- "$INV" -c 1000 -s 225
	else
		echo "# invariants P=32 not run: $HOST_P32_SKIP"
	fi
	# The demo at P = 4 already ran instrumented; at P = 32 it took 57 s
	# under TSan.
	if [ -z "$san" ]; then
		host_demo 32
	else
		echo "# demo P=32 not run in a sanitizer build ($san)"
	fi
}
