# plot_bench.gp -- plot the CSV files written by pcoll_bench -c / pcoll_mpi_bench -c.
#
#   gnuplot -e "csv='pcoll.csv mpi.csv'; out='latency.png'" tools/plot_bench.gp
#   gnuplot -c tools/plot_bench.gp pcoll.csv latency.png
#
# allreduce rows: latency vs message size, log-log, one line per
#   (implementation/mode, provider, P, shape) found in the files; shape is osu
#   (a barrier per iteration) or b2b (back to back, pcoll_bench -B).
# imbalance rows: steps/s per pattern, one line per mode (measured solid, ideal
#   dashed: the simulated ideal, sim_ideal.c).
# idle rows:      CPU % of one core per mode.
# The kind is taken from the first data row of the first file. File names must
# not contain spaces or quotes.

if (!exists("csv")) csv = (exists("ARG1") && ARG1 ne "") ? ARG1 : "bench.csv"
if (!exists("out")) out = (exists("ARG2") && ARG2 ne "") ? ARG2 : "bench.png"

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1000,650 noenhanced font ",10"
} else {
	set terminal png size 1000,650 noenhanced
}
set output out
set datafile separator ","
set grid
set key top left noenhanced

first = word(csv, 1)
kind = system(sprintf("awk -F, 'FNR==2 {print $1; exit}' %s", first))

# One key per series; spaces in fields become '_' so that keys are words.
series(filter, fields) = system(sprintf("awk -F, 'FNR>1 && %s {k=%s; gsub(/ /,\"_\",k); if (!(k in s)) {s[k]=1; print k}}' %s", filter, fields, csv))
rows(filter, fields, key, cols) = sprintf("< awk -F, -v key='%s' 'FNR>1 && %s {k=%s; gsub(/ /,\"_\",k); if (k==key) print %s}' %s", key, filter, fields, cols, csv)

if (kind eq "allreduce") {
	f = "$1==\"allreduce\""
	k = "$2\"/\"$3\"[\"$4\",P=\"$5\"]\"(NF>10?\",\"$11:\"\")"
	keys = series(f, k)
	set title "Allreduce latency (osu: a barrier per iteration; b2b: back to back)"
	set xlabel "Message size (bytes)"
	set ylabel "Average latency (us)"
	set logscale x 2
	set logscale y 10
	set format x "%.0b%B"
	plot for [key in keys] rows(f, k, key, "$6\",\"$7") using 1:2 with linespoints title key
} else {
	if (kind eq "imbalance") {
		f = "$1==\"imbalance\""
		k = "$3\"[\"$4\",P=\"$5\"]\""
		set offsets 0.3, 0.3, 0, 0
		keys = series(f, k)
		set title "Steps per second under imbalance (solid: measured, dashed: simulated ideal)"
		set xlabel "Pattern"
		set ylabel "Steps/s"
		set xtics rotate by -30
		# x positions by pattern name, from the file with the most patterns
		# (smaller P skips the patterns that need more processes).
		pats = system(sprintf("awk -F, 'FNR>1 && $1==\"imbalance\" && !((FILENAME, $7) in s) {s[FILENAME, $7]=1; n[FILENAME]++; L[FILENAME]=L[FILENAME] \" \" $7} END {for (f in L) if (n[f] > bn) {bn=n[f]; b=L[f]} print b}' %s", csv))
		set xtics ()
		do for [i=1:words(pats)] { set xtics add (word(pats, i) i-1) }
		rowsx(key) = sprintf("< awk -F, -v key='%s' -v pats='%s' 'BEGIN {n=split(pats, p, \" \"); for (i=1; i<=n; i++) x[p[i]]=i-1} FNR>1 && %s {k=%s; gsub(/ /,\"_\",k); if (k==key && ($7 in x)) print x[$7]\",\"$10\",\"$11}' %s", key, pats, f, k, csv)
		plot for [i=1:words(keys)] rowsx(word(keys, i)) using 1:2 with linespoints lc i dt 1 title word(keys, i), \
		     for [i=1:words(keys)] rowsx(word(keys, i)) using 1:3 with lines lc i dt 2 notitle
	} else {
		if (kind eq "idle") {
			f = "$1==\"idle\""
			k = "$4\",P=\"$5"
			set offsets 0.5, 0.5, 0, 0
			keys = series(f, k)
			set title "CPU used while idle (% of one core per process)"
			set ylabel "CPU (%)"
			set yrange [0:*]
			set style fill solid 0.6
			set boxwidth 0.8 relative
			plot for [key in keys] rows(f, k, key, "$3\",\"$8") using 0:2:xtic(1) with boxes title key
		} else {
			print sprintf("plot_bench.gp: %s: no pcoll_bench/pcoll_mpi_bench CSV rows found", first)
			exit status 1
		}
	}
}
