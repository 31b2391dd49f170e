# plot_model.gp -- plot a pcoll_model predict -c file (and the measured
# cells of a pcoll_model validate -c file).
#
#   gnuplot -e "csv='model.csv'; out='model.png'; measured='validation.csv'; pattern='paper-1x5'" \
#     tools/plot_model.gp
#
# Left: steps/s against P for every mode under one pattern (`pattern`, default
#   the first in the file): the model (solid), the zero-cost ideal (dashed) and
#   the measured medians with their range over the runs (points).
# Middle: the speedup of each partial mode over sync under that pattern, model
#   (solid) and ideal (dashed).
# Right: solo's speedup over sync (model) under every pattern in the file.
# Quorum's label carries its k (quorum:K); the lines join quorum over P.
# File names must not contain spaces or quotes.

if (!exists("csv")) csv = (exists("ARG1") && ARG1 ne "") ? ARG1 : "model.csv"
if (!exists("out")) out = (exists("ARG2") && ARG2 ne "") ? ARG2 : "model.png"
if (!exists("measured")) measured = ""
if (!exists("pattern") || pattern eq "") \
	pattern = system(sprintf("awk -F, 'FNR==2 {print $5; exit}' %s", csv))
if (pattern eq "") {
	print sprintf("plot_model.gp: %s: no pcoll_model predict rows", csv)
	exit status 1
}
provider = system(sprintf("awk -F, 'FNR==2 {print $2; exit}' %s", csv))
size = system(sprintf("awk -F, 'FNR==2 {printf \"%%g KiB\", $4 / 1024; exit}' %s", csv))
stale = system(sprintf("awk -F, 'FNR>1 && $9 != \"sync\" {print $8; exit}' %s", csv))
base = system(sprintf("awk -F, 'FNR==2 {print $6 + 0; exit}' %s", csv))
seeds = system(sprintf("awk -F, 'FNR==2 {print $18 + 0; exit}' %s", csv))

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1650,560 noenhanced font ",10"
} else {
	set terminal png size 1650,560 noenhanced
}
set output out
set datafile separator ","
set grid
set logscale x 2
set xlabel "Processes P"
set key top left noenhanced

modes = "sync solo majority quorum"
# rows of the prediction for one mode (quorum:K as quorum) and pattern: P, a, b
pred(m, p, cols) = sprintf("< awk -F, -v m='%s' -v p='%s' 'FNR>1 {split($9, a, \":\"); if (a[1]==m && $5==p) print %s}' %s", m, p, cols, csv)
# measured medians of one mode and pattern on the same transport: P, median, min, max
meas(m, p) = sprintf("< awk -F, -v m='%s' -v p='%s' -v prov='%s' 'FNR>1 && $1==\"validate\" {split($9, a, \":\"); split(prov, b, \";\"); split($2, c, \";\"); if (a[1]==m && $5==p && b[1]==c[1]) print $3\",\"$11\",\"$12\",\"$13}' %s", m, p, provider, measured)
pats = system(sprintf("awk -F, 'FNR>1 && !($5 in s) {s[$5]=1; printf \"%%s \", $5}' %s", csv))

set multiplot layout 1,3 title sprintf("pcoll scale model: %s, %s, base %s ms, S = %s, quorum k = ceil(P/2); model and ideal: mean over %s seed(s) of the pattern", provider, size, base, stale, seeds)

set title sprintf("Steps/s, %s (solid: model, dashed: ideal, points: measured)", pattern)
set ylabel "Steps/s"
set yrange [0:*]
# measured cells of this transport (the file may hold another's only)
nmeas = 0
if (measured ne "") nmeas = int(system(sprintf("awk -F, -v prov='%s' 'FNR>1 && $1==\"validate\" {split(prov, b, \";\"); split($2, c, \";\"); if (b[1]==c[1]) n++} END {print n+0}' %s", provider, measured)))
if (nmeas > 0) {
	plot for [i=1:words(modes)] pred(word(modes, i), pattern, "$3\",\"$10") using 1:2 with linespoints lc i dt 1 pt 7 ps 0.6 title word(modes, i), \
	     for [i=1:words(modes)] pred(word(modes, i), pattern, "$3\",\"$11") using 1:2 with lines lc i dt 2 notitle, \
	     for [i=1:words(modes)] meas(word(modes, i), pattern) using 1:2:3:4 with yerrorbars lc i pt 5 ps 1.2 notitle
} else {
	plot for [i=1:words(modes)] pred(word(modes, i), pattern, "$3\",\"$10") using 1:2 with linespoints lc i dt 1 pt 7 ps 0.6 title word(modes, i), \
	     for [i=1:words(modes)] pred(word(modes, i), pattern, "$3\",\"$11") using 1:2 with lines lc i dt 2 notitle
}

set title sprintf("Speedup over sync, %s (solid: model, dashed: ideal)", pattern)
set ylabel "Steps/s over sync's"
plot for [i=2:words(modes)] pred(word(modes, i), pattern, "$3\",\"$13") using 1:2 with linespoints lc i dt 1 pt 7 ps 0.6 title word(modes, i), \
     for [i=2:words(modes)] pred(word(modes, i), pattern, "$3\",\"$14") using 1:2 with lines lc i dt 2 notitle

colors = "#1b9e77 #d95f02 #7570b3 #e7298a #66a61e #a6761d #666666 #e6ab02"
set title "solo's speedup over sync by pattern (model)"
plot for [i=1:words(pats)] pred("solo", word(pats, i), "$3\",\"$13") using 1:2 with linespoints lc rgb word(colors, i) pt 7 ps 0.6 title word(pats, i)

unset multiplot
