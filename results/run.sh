#!/bin/bash
# Reproduce the README's Results section: every number side by side in one
# run, on this machine, written to results/*.csv and results/*.png.
#   results/run.sh [latency] [imbalance] [idle] [demo]     (default: all)
# Run from a built tree (./configure && make). Takes about 15 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=results
run=tools/pcoll-run
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(latency imbalance idle demo)
has() { [[ " ${parts[*]} " == *" $1 "* ]]; }
plot() { gnuplot -e "csv='$1'; out='$2'" tools/plot_bench.gp; }

if has latency; then
	# Balanced allreduce at P=2: pcoll next to MPI on the same transport.
	for prov in shm tcp; do
		$run -n 2 --timeout 900 -- tools/pcoll_bench allreduce -p "$prov" -M sync,solo,majority \
			-m 4:1048576 -f -c "$out/allreduce_pcoll_$prov.csv"
	done
	if [ -x tools/pcoll_mpi_bench_openmpi ]; then
		$run -n 2 --timeout 900 --launcher-arg=--mca --launcher-arg=pml --launcher-arg=ob1 \
			--launcher-arg=--mca --launcher-arg=btl --launcher-arg=self,vader \
			-- tools/pcoll_mpi_bench_openmpi -m 4:1048576 -f -c "$out/allreduce_ompi_shm.csv"
		$run -n 2 --timeout 900 --launcher-arg=--mca --launcher-arg=pml --launcher-arg=ob1 \
			--launcher-arg=--mca --launcher-arg=btl --launcher-arg=self,tcp \
			-- tools/pcoll_mpi_bench_openmpi -m 4:1048576 -f -c "$out/allreduce_ompi_tcp.csv"
	fi
	if [ -x tools/pcoll_mpi_bench_mpich ]; then
		$run --launcher mpich -n 2 --timeout 900 -- tools/pcoll_mpi_bench_mpich -m 4:1048576 -f \
			-c "$out/allreduce_mpich_shm.csv"
		UCX_TLS=tcp,self $run --launcher mpich -n 2 --timeout 900 \
			--launcher-arg=-genv --launcher-arg=UCX_TLS --launcher-arg=tcp,self \
			-- tools/pcoll_mpi_bench_mpich -m 4:1048576 -f -c "$out/allreduce_mpich_tcp.csv"
	fi
	plot "$(ls $out/allreduce_*shm.csv | tr '\n' ' ')" "$out/allreduce_shm.png"
	plot "$(ls $out/allreduce_*tcp.csv | tr '\n' ' ')" "$out/allreduce_tcp.png"
fi

if has imbalance; then
	# Sleep-emulated compute, base 20 ms, paper/slow/long-tail patterns.
	for P in 2 4 8; do
		$run -n "$P" --timeout 1800 -- tools/pcoll_bench imbalance -p shm -M sync,solo,majority \
			-S 4 -n 100 -f -c "$out/imbalance_p$P.csv"
	done
	plot "$out/imbalance_p2.csv $out/imbalance_p4.csv $out/imbalance_p8.csv" "$out/imbalance.png"
fi

if has idle; then
	# Every provider here (DESIGN: <= 1% of a core on each).
	for prov in shm tcp sockets "udp;ofi_rxd" net; do
		$run -n 2 --timeout 300 -- tools/pcoll_bench idle -p "$prov" -T 10 \
			-c "$out/idle_${prov%%;*}.csv"
	done
fi

if has demo; then
	# The README's main job, as `make demo` runs it.
	$run -n 4 --timeout 600 -- tools/pcoll_sgd -o "$out/sgd" | tee "$out/sgd.txt"
fi
