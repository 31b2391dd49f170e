# plot_sgd.gp -- held-out loss against wall time, one line per mode, from pcoll_sgd's CSVs.
#
# pcoll_sgd runs it as
#   gnuplot -e "files='a.csv b.csv'; titles='sync solo'; out='x.png'; wl='mlp'; procs=4; \
#               target=0.5" plot_sgd.gp
# files and titles are space-separated lists of the same length; target (optional) draws the
# target loss. CSV columns: time_s,step,round,loss,accuracy,contributions,staleness; rows
# without a loss (rounds between evaluation points) are skipped.

if (!exists("files")) files = "pcoll_sgd_out/mlp_sync.csv pcoll_sgd_out/mlp_solo.csv pcoll_sgd_out/mlp_majority.csv"
if (!exists("titles")) titles = "sync solo majority"
if (!exists("out")) out = "pcoll_sgd_out/mlp_loss.png"
if (!exists("wl")) wl = "mlp"
if (!exists("procs")) procs = 0

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 960,600 enhanced font ",11"
} else {
	set terminal png size 960,600
}
set output out

set datafile separator comma
set key top right box opaque width 1
set grid
set xlabel "wall time (s)"
set ylabel "held-out loss"
if (wl eq "hyperplane") {
	set logscale y
	set ylabel "held-out MSE"
}
if (procs > 0) {
	set title sprintf("pcoll\\_sgd: %s, %d processes (loss against wall time)", wl, procs)
} else {
	set title sprintf("pcoll\\_sgd: %s (loss against wall time)", wl)
}

if (exists("target")) {
	set arrow 1 from graph 0, first target to graph 1, first target nohead dt 2 lc rgb "#555555"
	set label 1 sprintf("target %.4g", target) at graph 0.01, first target offset 0,0.7 tc rgb "#555555"
}

plot for [i=1:words(files)] word(files, i) using 1:4 with linespoints \
	lw 2 pt 7 ps 0.5 title word(titles, i)
