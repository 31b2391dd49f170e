#!/bin/bash
# Multi-host under Open MPI's mpirun: four network namespaces stand in for
# four hosts (tests/netns_lib.sh: a veth pair each to a bridge in a fifth
# namespace, 10.77.0.1-4/24 only inside them, a hostname each). mpirun runs
# in the first host and starts its daemons in the others through an rsh
# agent that enters the host's namespaces with nsenter. Over libfabric tcp
# (FI_TCP_IFACE=veth0):
#  - P = 4, one process per host: placement (pcoll_info: every host has its
#    share of the endpoints and of the hostnames), the invariants (recursive
#    doubling; teams overlapping the context, reduce-scatter + allgather) and
#    the quick demo;
#  - a bandwidth limit (tc tbf both ways) on the fourth host: a sync
#    allreduce of 1 MiB vectors still passes, is slower than without the
#    limit, and takes at least the time the limit allows for the bytes that
#    host sent (tc's own count);
#  - P = 32, eight per host: placement, the invariants and the quick demo
#    (not the demo in a sanitizer build: 57 s under TSan).
# tests/slurm-multihost.sh does the same under SLURM, one slurmd per host.
# Skips unless it runs as root with ip (netns), nsenter, unshare, tc and Open
# MPI's mpirun. Every launch runs under timeout(1); namespaces, mounts and
# processes are removed on exit.
# shellcheck disable=SC2317 # cleanup is called indirectly (trap)
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
top_builddir=$(cd "$top_builddir" && pwd) && top_srcdir=$(cd "$top_srcdir" && pwd) || exit 99

. "$top_srcdir/tests/netns_lib.sh"
netns_usable
if ! "$top_builddir/tools/pcoll-run" --launcher mpirun -n 1 --dry-run true >/dev/null 2>&1; then
	echo "SKIP: Open MPI's mpirun not found (the multi-host test launches through its rsh agent)"
	exit 77
fi
. "$top_srcdir/tests/mp_lib.sh"

tag=pcmh$$ # namespace and host names: $tag-br, $tag-h0 ... $tag-h3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pcoll-multihost.XXXXXX") || exit 99
cleanup() {
	local rc=$?
	# mpirun, its daemons and the processes all run in our namespaces.
	netns_destroy
	rm -rf "$tmp" "${TMPDIR:-/tmp}"/ompi."$tag"-h*
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ------------------------------------------------------------- the hosts
netns_build "$tag" "$tmp" || exit 1
# The hostfiles (one and eight slots a host), and the rsh agent, which
# mpirun calls as AGENT HOST COMMAND...
cases=
for ((i = 0; i < NH; i++)); do
	echo "$(ip_of "$i") slots=1" >>"$tmp/hosts1"
	echo "$(ip_of "$i") slots=8" >>"$tmp/hosts8"
	cases+="$(ip_of "$i")|$tag-h$i) h=h$i ;;
"
done
cat >"$tmp/agent" <<EOF && chmod +x "$tmp/agent" || exit 99
#!/bin/sh
host=\$1
shift
case \$host in
$cases*) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
exec nsenter --net=/run/netns/$tag-\$h --uts=$tmp/uts/\$h -- /bin/sh -c "\$*"
EOF

# host_cmd NP [VAR=value...] -- prog args: the launch, as words in the array
# mh: mpirun in host 0, its daemons elsewhere through the agent, NP/NH
# processes a host (the hostfile with that many slots).
host_cmd() {
	local np=$1
	shift
	split_envs "$@"
	local envs=("${ENVS[@]}")
	set -- "${REST[@]}"
	ns_words 0
	mh=("${NSW[@]}"
		env FI_PROVIDER=tcp FI_TCP_IFACE=veth0 FI_SOCKETS_IFACE=veth0 "${envs[@]+"${envs[@]}"}"
		"$RUN" --launcher mpirun -n "$np" --timeout "$T"
		--launcher-arg=--hostfile "--launcher-arg=$tmp/hosts$((np / NH))"
		--launcher-arg=--mca --launcher-arg=plm_rsh_agent "--launcher-arg=$tmp/agent"
		-- "$@")
}

host_suite
finish
