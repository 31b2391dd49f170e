#!/bin/bash
# Multi-host: four network namespaces stand in for four hosts (a veth pair
# each to a bridge in a fifth namespace; 10.77.0.1-4/24 exist only inside
# them, so no packet leaves them), each with a hostname of its own (a UTS
# namespace, so Open MPI's and PMIx's session directories, named after the
# host, do not collide in the shared /tmp). Open MPI's mpirun runs in the
# first host and starts its daemons in the others through an rsh agent that
# enters the host's namespaces with nsenter (not `ip netns exec`, which
# remounts /sys). Over libfabric tcp (FI_TCP_IFACE=veth0):
#  - P = 4, one process per host: placement (pcoll_info: every host has its
#    share of the endpoints), the invariants (recursive doubling; teams
#    overlapping the context, reduce-scatter + allgather) and the quick demo;
#  - a bandwidth limit (tc tbf both ways) on the fourth host: a sync
#    allreduce of 1 MiB vectors still passes, is slower than without the
#    limit, and takes at least the time the limit allows for the bytes that
#    host sent (tc's own count);
#  - P = 32, eight per host: placement, the invariants and the quick demo
#    (not the demo in a sanitizer build: 57 s under TSan).
# Skips unless it runs as root with ip (netns), nsenter, unshare, tc and Open
# MPI's mpirun. Every launch runs under timeout(1); namespaces, mounts and
# processes are removed on exit.
# shellcheck disable=SC2317 # cleanup is called indirectly (trap)
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
top_builddir=$(cd "$top_builddir" && pwd) && top_srcdir=$(cd "$top_srcdir" && pwd) || exit 99

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: the multi-host test builds network namespaces and needs root"
	exit 77
fi
for c in ip nsenter unshare tc timeout; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "SKIP: $c not found (the multi-host test needs ip, nsenter, unshare, tc, timeout)"
		exit 77
	fi
done
if ! ip netns list >/dev/null 2>&1; then
	echo "SKIP: this ip has no 'ip netns'"
	exit 77
fi
if ! "$top_builddir/tools/pcoll-run" --launcher mpirun -n 1 --dry-run true >/dev/null 2>&1; then
	echo "SKIP: Open MPI's mpirun not found (the multi-host test launches through its rsh agent)"
	exit 77
fi
. "$top_srcdir/tests/mp_lib.sh"

# Per launch: P = 32 takes about 10 s here, 60-70 s in a TSan build.
san=${PCOLL_SAN_FLAGS:-}
T=${MP_TIMEOUT:-120}
[ -n "$san" ] && T=${MP_TIMEOUT:-300}
INV="$top_builddir/tests/mp_invariants"
SGD="$top_builddir/tools/pcoll_sgd"
INFO="$top_builddir/tools/pcoll_info"
NH=4
tag=pcmh$$ # namespace and host names: $tag-br, $tag-h0 ... $tag-h3
ip_of() { echo "10.77.0.$(($1 + 1))"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pcoll-multihost.XXXXXX") || exit 99
nss=()
cleanup() {
	local rc=$? ns f pids
	# Everything that runs in our namespaces is ours (mpirun, the daemons,
	# the processes): kill it before the namespaces go.
	for ns in "${nss[@]+"${nss[@]}"}"; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		# shellcheck disable=SC2086 # a list of pids
		[ -z "$pids" ] || kill -9 $pids 2>/dev/null
	done
	for f in "$tmp"/uts/*; do
		[ -e "$f" ] && umount "$f" 2>/dev/null
	done
	for ns in "${nss[@]+"${nss[@]}"}"; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$tmp" "${TMPDIR:-/tmp}"/ompi."$tag"-h*
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

in_br() { nsenter --net="/run/netns/$tag-br" -- "$@"; }
in_host() {
	local h=$1
	shift
	nsenter --net="/run/netns/$tag-h$h" --uts="$tmp/uts/h$h" -- "$@"
}

# ------------------------------------------------------------- the hosts
if ! ip netns add "$tag-br" 2>"$tmp/err"; then
	echo "SKIP: cannot create a network namespace here: $(cat "$tmp/err")"
	exit 77
fi
nss+=("$tag-br")
setup() {
	local i
	ip -n "$tag-br" link set lo up &&
		ip -n "$tag-br" link add br0 type bridge &&
		ip -n "$tag-br" link set br0 up || return 1
	mkdir -p "$tmp/uts" || return 1
	for ((i = 0; i < NH; i++)); do
		ip netns add "$tag-h$i" || return 1
		nss+=("$tag-h$i")
		# Created in the bridge's namespace, the peer in the host's: the
		# root namespace never sees either end.
		ip -n "$tag-br" link add "p$i" type veth peer name veth0 netns "$tag-h$i" &&
			ip -n "$tag-br" link set "p$i" master br0 up &&
			ip -n "$tag-h$i" addr add "$(ip_of "$i")/24" dev veth0 &&
			ip -n "$tag-h$i" link set veth0 up &&
			ip -n "$tag-h$i" link set lo up || return 1
		touch "$tmp/uts/h$i" && unshare --uts="$tmp/uts/h$i" hostname "$tag-h$i" || return 1
		echo "$(ip_of "$i") slots=1" >>"$tmp/hosts1"
		echo "$(ip_of "$i") slots=8" >>"$tmp/hosts8"
	done
	# The rsh agent: mpirun calls it as AGENT HOST COMMAND...
	local cases=
	for ((i = 0; i < NH; i++)); do
		cases+="$(ip_of "$i")|$tag-h$i) h=h$i ;;
"
	done
	cat >"$tmp/agent" <<EOF && chmod +x "$tmp/agent"
#!/bin/sh
host=\$1
shift
case \$host in
$cases*) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
exec nsenter --net=/run/netns/$tag-\$h --uts=$tmp/uts/\$h -- /bin/sh -c "\$*"
EOF
}
t0=$SECONDS
if ! setup >"$tmp/setup.log" 2>&1; then
	echo "FAIL: the namespace hosts could not be built"
	sed 's/^/      /' "$tmp/setup.log"
	exit 1
fi
echo "# $NH hosts ($tag-h0..$((NH - 1)), $(ip_of 0)-$((NH))) on a bridge in $tag-br, built in $((SECONDS - t0)) s"

# mh_cmd NP HOSTFILE [VAR=value...] -- prog args: the launch, as words in
# the array mh (mpirun in host 0, its daemons elsewhere through the agent).
mh_cmd() {
	local np=$1 hf=$2
	shift 2
	split_envs "$@"
	local envs=("${ENVS[@]}")
	set -- "${REST[@]}"
	mh=(nsenter "--net=/run/netns/$tag-h0" "--uts=$tmp/uts/h0" --
		env FI_PROVIDER=tcp FI_TCP_IFACE=veth0 FI_SOCKETS_IFACE=veth0 "${envs[@]+"${envs[@]}"}"
		"$RUN" --launcher mpirun -n "$np" --timeout "$T"
		--launcher-arg=--hostfile "--launcher-arg=$hf"
		--launcher-arg=--mca --launcher-arg=plm_rsh_agent "--launcher-arg=$tmp/agent"
		-- "$@")
}
# mh_launch NAME NP HOSTFILE [VAR=value...] -- prog args
mh_launch() {
	local name=$1
	shift
	mh_cmd "$@"
	check "$name" "${mh[@]}"
}

# placement NP HOSTFILE: every host holds NP/NH of the endpoints.
placement() {
	local np=$1 hf=$2 log ok=0 counts
	log=$(mktemp)
	mh_cmd "$np" "$hf" -- "$INFO" -a
	if "${mh[@]}" >"$log" 2>&1; then
		counts=$(grep -o 'fi_sockaddr_in://10\.77\.0\.[0-9]*' "$log" | sort | uniq -c | awk '{ print $1 }' | sort -u | tr '\n' ' ')
		hosts=$(grep -o 'fi_sockaddr_in://10\.77\.0\.[0-9]*' "$log" | sort -u | wc -l)
		[ "$hosts" = "$NH" ] && [ "$counts" = "$((np / NH)) " ] && ok=1
		echo "# endpoints on $hosts hosts, ${counts% } per host" >>"$log"
	fi
	verdict "$ok" "placement P=$np: $((np / NH)) per host" "$log" "endpoints not spread $((np / NH)) per host over $NH hosts"
}

# demo NP HOSTFILE [VAR=value...]: the quick demo; replicas must be identical.
demo() {
	local np=$1 hf=$2 log ok=0 t sum
	shift 2
	log=$(mktemp)
	mh_cmd "$np" "$hf" "$@" -- "$SGD" --quick --no-plot -o "$tmp/sgd$np"
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
	mh_cmd 4 "$tmp/hosts1" -- "$INV" -c 131072 -n 10 -m sync
	s=$(date +%s%N)
	"${mh[@]}" >"$1" 2>&1 || {
		echo 0
		return
	}
	e=$(date +%s%N)
	awk -v n=$((e - s)) 'BEGIN { printf "%.2f\n", n / 1e9 }'
}

# ------------------------------------------------- one process per host
placement 4 "$tmp/hosts1"
mh_launch "invariants P=4 (1 per host) tcp rd" 4 "$tmp/hosts1" -- "$INV" -c 1000 -s 29
mh_launch "invariants P=4 (1 per host) tcp teams of 2+2 overlap rsag" 4 "$tmp/hosts1" -- "$INV" -c 4096 --team 2 --overlap
demo 4 "$tmp/hosts1"

# ------------------------------------------ a bandwidth limit on one host
RATE_MBIT=50 # 1 MiB vectors at 50 Mbit/s: about 4 s more than without
log=$(mktemp)
t_free=$(bigsync "$log")
ok=0
[ "$t_free" != 0 ] && ok=1
echo "# no limit: $t_free s" >>"$log"
verdict "$ok" "sync 1 MiB P=4, no limit" "$log" "failed"
h=$((NH - 1))
if in_host "$h" tc qdisc add dev veth0 root tbf rate "${RATE_MBIT}mbit" burst 64kb latency 100ms &&
	in_br tc qdisc add dev "p$h" root tbf rate "${RATE_MBIT}mbit" burst 64kb latency 100ms; then
	log=$(mktemp)
	t_lim=$(bigsync "$log")
	# What host 3 sent had to pass its tbf: that many bytes at the rate is a
	# floor on the time (less the burst); and it must be slower than the
	# run without the limit.
	sent=$(in_host "$h" tc -s qdisc show dev veth0 | awk '/Sent/ { print $2; exit }')
	floor=$(awk -v b="${sent:-0}" -v r="$RATE_MBIT" 'BEGIN { printf "%.2f", b * 8 / (r * 1e6) * 0.9 }')
	ok=0
	# In a sanitizer build the run is bound by the instrumented CPU work
	# (measured under TSan: 16.7 s free, 18.6 s limited), so only the floor.
	u=$t_free
	[ -n "$san" ] && u=0
	if [ "$t_lim" != 0 ] && awk -v t="$t_lim" -v f="$floor" -v b="${sent:-0}" -v u="$u" 'BEGIN { exit !(b > 4000000 && t >= f && t > u) }'; then
		ok=1
	fi
	echo "# tbf ${RATE_MBIT} Mbit/s on host $h: $t_lim s (no limit: $t_free s); host $h sent $sent bytes, floor $floor s" >>"$log"
	verdict "$ok" "sync 1 MiB P=4, ${RATE_MBIT} Mbit/s on host $h" "$log" "failed or faster than the limit allows"
	in_host "$h" tc qdisc del dev veth0 root
	in_br tc qdisc del dev "p$h" root
else
	log=$(mktemp)
	echo "tc qdisc add ... tbf failed (no sch_tbf?)" >"$log"
	verdict 0 "tbf on host $h" "$log"
fi

# ------------------------------------------------ eight processes per host
placement 32 "$tmp/hosts8"
mh_launch "invariants P=32 (8 per host) tcp rd" 32 "$tmp/hosts8" -- "$INV" -c 1000 -s 225
# The demo at P = 4 already ran instrumented; at P = 32 it took 57 s under TSan.
if [ -z "$san" ]; then
	demo 32 "$tmp/hosts8"
else
	echo "# demo P=32 not run in a sanitizer build ($san)"
fi
finish
