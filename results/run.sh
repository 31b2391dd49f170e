#!/bin/bash
# Reproduce the README's Results section: every number side by side in one
# run, on this machine, written to results/*.csv and results/*.png.
#   results/run.sh [latency] [imbalance] [idle] [demo] [model] [pipe] [background]
#   [targets] [doorbells] [base] [torch]
#   (default: all but torch, which needs python3-torch)
# Run from a built tree (./configure && make). Each part takes minutes (model
# 10-13, base about 20); MODEL_FIT_RUNS and MODEL_RUNS set the model's numbers
# of runs (6 and 3).
set -euo pipefail
cd "$(dirname "$0")/.."
out=results
run=tools/pcoll-run
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(latency imbalance idle demo model pipe background targets doorbells base)
has() { [[ " ${parts[*]} " == *" $1 "* ]]; }
plot() { gnuplot -e "csv='$1'; out='$2'" tools/plot_bench.gp; }

if has latency; then
	# Balanced allreduce at P=2: pcoll next to MPI on the same transport, in two
	# shapes: OSU's (a barrier before each iteration; allreduce_*_{shm,tcp}.csv)
	# and back to back like a training loop (-B; allreduce_*_{shm,tcp}_b2b.csv).
	sizes=4:16777216
	for shape in osu b2b; do
		B= sfx=
		[ $shape = osu ] || { B=-B; sfx=_b2b; }
		for prov in shm tcp; do
			$run -n 2 --timeout 900 -- tools/pcoll_bench allreduce $B -p "$prov" \
				-M sync,solo,majority -m $sizes -f -c "$out/allreduce_pcoll_$prov$sfx.csv"
			btl=vader
			[ $prov = shm ] || btl=tcp
			if [ -x tools/pcoll_mpi_bench_openmpi ]; then
				$run -n 2 --timeout 900 --launcher-arg=--mca --launcher-arg=pml \
					--launcher-arg=ob1 --launcher-arg=--mca --launcher-arg=btl \
					--launcher-arg=self,$btl -- tools/pcoll_mpi_bench_openmpi $B -m $sizes \
					-f -c "$out/allreduce_ompi_$prov$sfx.csv"
			fi
			if [ -x tools/pcoll_mpi_bench_mpich ] && [ $prov = shm ]; then
				$run --launcher mpich -n 2 --timeout 900 -- tools/pcoll_mpi_bench_mpich $B \
					-m $sizes -f -c "$out/allreduce_mpich_$prov$sfx.csv"
			elif [ -x tools/pcoll_mpi_bench_mpich ]; then
				UCX_TLS=tcp,self $run --launcher mpich -n 2 --timeout 900 \
					--launcher-arg=-genv --launcher-arg=UCX_TLS --launcher-arg=tcp,self \
					-- tools/pcoll_mpi_bench_mpich $B -m $sizes -f \
					-c "$out/allreduce_mpich_$prov$sfx.csv"
			fi
		done
	done
	for prov in shm tcp; do
		plot "$(ls $out/allreduce_*_$prov.csv | tr '\n' ' ')" "$out/allreduce_$prov.png"
		plot "$(ls $out/allreduce_*_${prov}_b2b.csv | tr '\n' ' ')" "$out/allreduce_${prov}_b2b.png"
	done
fi

if has imbalance; then
	# Sleep-emulated compute, base 20 ms, paper/slow/long-tail patterns; the
	# ratio is to the simulated ideal (tools/sim_ideal.c) of the same compute times.
	for P in 2 4 8; do
		$run -n "$P" --timeout 1800 -- tools/pcoll_bench imbalance -p shm \
			-M sync,solo,majority,quorum \
			-S 4 -n 100 -f -c "$out/imbalance_p$P.csv"
	done
	plot "$out/imbalance_p2.csv $out/imbalance_p4.csv $out/imbalance_p8.csv" "$out/imbalance.png"
	# The same at P = 8 with 4 KiB: what the rules allow once moving the data
	# costs next to nothing (README: the 1 MiB misses at P = 8).
	$run -n 8 --timeout 1800 -- tools/pcoll_bench imbalance -p shm -M sync,solo,majority,quorum \
		-S 4 -n 100 -m 4096 -f -c "$out/imbalance_p8_4k.csv"
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

if has model; then
	# The scale model (tools/pcoll_model; README "Scale model"), from several
	# runs of each measurement (MODEL_FIT_RUNS of the latencies, MODEL_RUNS of
	# the imbalance), interleaved, so that a burst of load spoils one run of each
	# rather than all of one. Its LogGP costs are fitted to sync allreduce
	# latencies at P = 2 on shm and tcp, the best per size over the runs, from
	# 4 B to 1 MiB (the sizes the prediction uses; 2 to 16 MiB leave the caches),
	# each size with both schedules (PCOLL_ALGORITHM), which tells the wire's
	# cost per byte (G) from the reduction's (gamma);
	# it is validated against the paper's pattern (1 and 2 of P processes at 5x)
	# measured at P = 2, 4, 8 and 16 (32 threads on this machine's 2 cores) with
	# sleep-emulated compute (base 20 ms, 1 MiB, S = 4), and predicted for P = 2 to 1024 under every paper pattern (the mean
	# over 16 draws of each), plotted under paper-1x5 with the measured cells.
	fitruns=${MODEL_FIT_RUNS:-6} runs=${MODEL_RUNS:-3}
	for r in $(seq 1 "$fitruns"); do
		for prov in shm tcp; do
			for algo in rd rsag; do
				PCOLL_ALGORITHM=$algo $run -n 2 --timeout 900 -- tools/pcoll_bench \
					allreduce -p "$prov" -M sync -m 4:1048576 -f \
					-c "$out/model_allreduce_${prov}_${algo}_r$r.csv"
			done
		done
	done
	for r in $(seq 1 "$runs"); do
		for P in 2 4 8 16; do
			$run -n "$P" --timeout 1800 -- tools/pcoll_bench imbalance -p shm \
				-M sync,solo,majority,quorum -S 4 -n 100 --patterns paper-1x5,paper-2x5 \
				-f -c "$out/model_imbalance_p${P}_r$r.csv"
		done
	done
	tools/pcoll_model fit --best -m 4:1048576 --params "$out/model_params.csv" -c "$out/model_fit.csv" \
		"$out"/model_allreduce_*_r*.csv
	tools/pcoll_model validate --params "$out/model_params.csv" \
		-c "$out/model_validation.csv" "$out"/model_imbalance_p*_r*.csv
	for prov in shm tcp; do
		tools/pcoll_model predict --params "$out/model_params.csv" -p "$prov" -S 4 \
			--seeds 16 --patterns paper-1x5,paper-1x2,paper-1x10,paper-2x2,paper-2x5,paper-2x10 \
			-c "$out/model_$prov.csv" --plot "$out/model_$prov.png" \
			--measured "$out/model_validation.csv"
	done
fi

if has pipe; then
	# The pipelined reduce-scatter + allgather (PCOLL_ALGORITHM=pipe) against
	# the plain one (rsag) at P = 2, 256 KiB to 16 MiB, sync, both shapes, with
	# 64 and 256 KiB segments; PIPE_RUNS interleaved runs (3). pipe.csv has the
	# ratio pipe / rsag of each run, size and shape; pipe.png its median.
	runs=${PIPE_RUNS:-3}
	for r in $(seq 1 "$runs"); do
		for prov in shm tcp; do
			for B in "" -B; do
				for cfg in rsag pipe:65536 pipe:262144; do
					algo=${cfg%%:*} seg=${cfg#*:}
					[ "$algo" = rsag ] && seg=
					PCOLL_ALGORITHM=$algo PCOLL_SEGMENT_BYTES=$seg $run -n 2 --timeout 900 -- \
						tools/pcoll_bench allreduce $B -p "$prov" -M sync -m 262144:16777216 \
						-c "$out/pipe_${prov}${B:+_b2b}_${algo}${seg}_r$r.csv"
				done
			done
		done
	done
	/usr/bin/python3 results/pipe_summary.py "$out" "$out"/pipe_*_r*.csv
fi

if has background; then
	# Reductions outside the engine lock (pcoll_bench allreduce --background):
	# P = 2, a 4 KiB and a 256 KiB sync allreduce on the main thread while a
	# second thread steps a 16 MiB solo collective, its reductions under the
	# lock or outside it, 10 interleaved pairs of blocks; BG_RUNS runs (3).
	for r in $(seq 1 "${BG_RUNS:-3}"); do
		for prov in shm tcp; do
			for m in 4096 262144; do
				$run -n 2 --timeout 900 -- tools/pcoll_bench allreduce -p "$prov" -M sync \
					-m $m:$m --background 16M -n 10 -i 200 -x 20 \
					-c "$out/background_${prov}_${m}_r$r.csv"
			done
		done
	done
	/usr/bin/python3 results/background_summary.py "$out" "$out"/background_*_r*.csv
fi

if has doorbells; then
	# The engine's scale on the counter path: the busy collective with 0 and
	# with 100 idle collectives open (--idle-colls), with doorbells and without
	# (PCOLL_DOORBELLS), launched one after the other; and what doorbells cost
	# a lone collective (--doorbells: without and with in one launch). shm,
	# P = 2, DB_RUNS runs (4).
	for r in $(seq 1 "${DB_RUNS:-4}"); do
		for m in 8 4096; do
			for db in 0 1; do
				PCOLL_NOTIFY=cntr PCOLL_DOORBELLS=$db $run -n 2 --timeout 600 -- \
					tools/pcoll_bench allreduce -p shm -M sync,solo,majority,quorum \
					-m $m:$m --idle-colls 100 -n 10 \
					-c "$out/doorbells_db${db}_${m}_r$r.csv"
			done
			PCOLL_NOTIFY=cntr $run -n 2 --timeout 600 -- tools/pcoll_bench allreduce \
				-p shm -M sync,solo,majority,quorum -m $m:$m --doorbells -n 10 \
				-c "$out/doorbells_cost_${m}_r$r.csv"
		done
	done
	/usr/bin/python3 results/doorbell_summary.py "$out" "$out"/doorbells_db*_r*.csv \
		"$out"/doorbells_cost_*_r*.csv
fi

if has base; then
	# Issue 9's P = 8 misses at 1 MiB: are they the engine or the cost of
	# moving the data, which the ideal counts as zero? The same imbalance run
	# (shm, 1 MiB, S = 4, every pattern and mode, 100 rounds) with 20 ms of
	# base compute, with 20 ms and a 10 us idle sleep (engines that wake at
	# once), and with 100 ms (the data's share of a step a fifth of it);
	# BASE_RUNS interleaved runs (1: 100 ms of base makes one run about 20
	# minutes). imbalance_p8_base.csv and .png sum them up.
	for r in $(seq 1 "${BASE_RUNS:-1}"); do
		for cfg in b20 b20idle10 b100; do
			b=${cfg#b}
			b=${b%%idle*}
			idle=
			[ "$cfg" = b20idle10 ] && idle=10
			PCOLL_IDLE_SLEEP_US=$idle $run -n 8 --timeout 1200 -- tools/pcoll_bench imbalance \
				-p shm -M sync,solo,majority,quorum -S 4 -n 100 -b "$b" -m 1048576 -f \
				-c "$out/imbalance_p8_base_${cfg}_r$r.csv"
		done
	done
	/usr/bin/python3 results/base_summary.py "$out" "$out"/imbalance_p8_base_b*_r*.csv
	# The zero-cost ideal is not the limit of small costs: at zero cost, rounds
	# that become possible at one instant complete together and a step takes
	# them all, and steps that end at one instant (the patterns' times are
	# multiples of the base) resolve in the replay's order; any cost changes
	# both. The same replay with every cost 1 ns (tools/pcoll_model,
	# ideal_eps_p*.csv: model_over_ideal), the mean over 16 draws.
	printf '%s\n' "provider,alpha_us,L_us,o_us,g_us,G_us_per_byte,gamma_us_per_byte,split,points,rms_rel_err,max_rel_err" \
		"shm,0.002,0.001,0.0005,0.0005,0,0,0.500,1,0,0" >"$out/model_params_eps.csv"
	for P in 2 4 8; do
		tools/pcoll_model predict --params "$out/model_params_eps.csv" -P $P -S 4 --seeds 16 \
			-M sync,solo,majority,quorum \
			--patterns paper-1x2,paper-1x5,paper-1x10,paper-2x2,paper-2x5,paper-2x10,slow-1x2,pareto \
			-c "$out/ideal_eps_p$P.csv" >/dev/null
	done
fi

if has torch; then
	# make demo-torch (examples/torch_digits.py, P = 4, one process of four
	# delayed 20 ms per step) in sync and majority, once per seed (TORCH_SEEDS
	# seeds from TORCH_FIRST: 10 from 0): issue 8's target over seeds, since one
	# run's final accuracy is measured on 360 test images. The demo's own
	# environment (STALENESS, TEST, ...) applies. TORCH_REPEAT=1 runs majority
	# twice per launch: the run-to-run noise of its final accuracy. Each seed's
	# output goes to torch_runs/ (not kept); torch_seeds.csv and .png sum them up.
	rm -rf "$out/torch_runs"
	first=${TORCH_FIRST:-0}
	modes="sync majority"
	[ "${TORCH_REPEAT:-0}" = 1 ] && modes="sync majority majority"
	for s in $(seq "$first" $((first + ${TORCH_SEEDS:-10} - 1))); do
		SEED=$s MODES="$modes" PYTHONPATH="$PWD/python" PCOLL_BUILDDIR="$PWD" \
			$run -n 4 --timeout 300 -- /usr/bin/python3 examples/torch_digits.py \
			"$out/torch_runs/s$s"
	done
	/usr/bin/python3 results/torch_summary.py "$out" "$out"/torch_runs/s*/torch_digits_summary.csv
fi

if has targets; then
	# Issue 9's targets: pcoll sync and solo against Open MPI on the same
	# transport, P = 2, 4 KiB / 1 MiB / 16 MiB, both shapes, launched one after
	# the other, TARGET_RUNS times (6); one row per launch pair in targets.csv.
	echo "run,shape,provider,size,sync_us,solo_us,mpi_us,load1" >"$out/targets.csv"
	for r in $(seq 1 "${TARGET_RUNS:-6}"); do
		for B in "" -B; do
			for prov in shm tcp; do
				btl=vader
				[ $prov = shm ] || btl=tcp
				for m in 4096 1048576 16777216; do
					p=$($run -n 2 --timeout 300 -- tools/pcoll_bench allreduce $B -p $prov \
						-M sync,solo -m $m:$m | awk '!/^#/ && NF == 2 {printf "%s,", $2}')
					o=$($run -n 2 --timeout 300 --launcher-arg=--mca --launcher-arg=pml \
						--launcher-arg=ob1 --launcher-arg=--mca --launcher-arg=btl \
						--launcher-arg=self,$btl -- tools/pcoll_mpi_bench_openmpi $B -m $m:$m |
						awk '!/^#/ && NF == 2 {print $2}')
					shape=osu
					[ -z "$B" ] || shape=b2b
					echo "$r,$shape,$prov,$m,$p$o,$(cut -d' ' -f1 /proc/loadavg)" \
						>>"$out/targets.csv"
				done
			done
		done
	done
fi
