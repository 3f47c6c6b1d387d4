#!/bin/sh
# bench/plot.sh OUT — draw PNG charts from OUT/results.csv and OUT/cdf.csv
# with gnuplot. Each chart is drawn only if its data is there. The data
# files behind each chart are kept in OUT/plots/ (x, median, min, max).
#
#   append_batch.png        records/s against records per call (non-durable)
#   append_partitions.png   records/s against partitions, 1 and 2 producers
#   durable_producers.png   durable records/s and p99 latency against producers
#   durable_latency_cdf.png durable append latency CDF, 1 and 16 producers
#   durable_latency_percentiles.png  the same as latency by percentile
#   read_latency_cdf.png    random read latency CDF
#   scan.png                sequential scan records/s, page cache and cold
#   tail_latency_cdf.png    append-to-tailing-reader latency CDF
#   scale.png               records/s, fds and RSS against partitions
set -u
OUT=$1
R=$OUT/results.csv
C=$OUT/cdf.csv
P=$OUT/plots
[ -f "$R" ] || { echo "plot: no $R"; exit 0; }
rm -rf "$P"
mkdir -p "$P"
for c in append_batch append_partitions durable_producers durable_latency_cdf \
	durable_latency_percentiles read_latency_cdf scan tail_latency_cdf scale; do
	rm -f "$OUT/$c.png"
done

# results.csv: 1 program 2 scenario 3 engine 4 record_size 5 batch
# 6 partitions 7 producers 8 compression 9 durability 10 data_mb 11 metric
# 12 unit 13 median 14 min 15 max 16 repeats
# cdf.csv: 1-10 as above, 11 metric 12 value_us 13 fraction

# extract NAME FILE CONDITION X SERIES: rows of FILE matching CONDITION
# become lines "X median min max" (results) or "X fraction" (cdf) in
# $P/NAME.SERIES.dat, sorted by X.
extract() {
	awk -F, -v pre="$P/$1" -v kind="$2" "NR > 1 && ($3) {
		f = pre \".\" ($5) \".dat\"
		if (kind == \"cdf\") print $4, \$13 > f
		else print $4, \$13, \$14, \$15 > f
	}" "$( [ "$2" = cdf ] && echo "$C" || echo "$R")"
	for f in "$P/$1".*.dat; do
		[ -f "$f" ] && sort -g -o "$f" "$f"
	done
	return 0
}

has() {
	for f in "$P/$1".*.dat; do
		[ -f "$f" ] && return 0
	done
	return 1
}

# spread NAME: 0 if the series of NAME have at least two distinct x values
spread() {
	[ "$(cat "$P/$1".*.dat 2>/dev/null | awk '{print $1}' | sort -u | wc -l)" -ge 2 ]
}

color() {
	case $1 in
	rill-zstd*) echo "#7b3294" ;;
	rill-keep*) echo "#999999" ;;
	rill*) echo "#d7191c" ;;
	rawpre*) echo "#404040" ;;
	raw*) echo "#000000" ;;
	sqlite*) echo "#2c7bb6" ;;
	rocksdb*) echo "#fdae61" ;;
	lmdb*) echo "#1a9641" ;;
	*) echo "#666666" ;;
	esac
}

# plots NAME USING STYLE: the "plot" arguments for every series of NAME
plots() {
	sep=""
	for f in "$P/$1".*.dat; do
		[ -f "$f" ] || continue
		s=${f#"$P/$1".}
		s=${s%.dat}
		w=2
		case $s in rill*) w=3 ;; esac
		dt=1
		case $s in rawpre* | *t2*) dt=2 ;; esac
		printf "%s'%s' using %s with %s lw %s dt %s lc rgb '%s' title '%s'" \
			"$sep" "$f" "$2" "$3" "$w" "$dt" "$(color "$s")" "$s"
		sep=", "
	done
}

HEAD="set terminal pngcairo size 1400,560 font 'Sans,10'
set grid
set key outside right top
set datafile missing '?'"

# ------------------------------------------------------------- append
for rs in 100 1024 16384; do
	extract "append_batch_$rs" results "\$2 == \"append\" && \$4 == $rs && \$6 == 1 && \$7 == 1 && \$11 == \"records_per_s\"" '$5' '$3 ($8 == "zstd" ? "-zstd" : "")'
done
if has append_batch_100 || has append_batch_1024; then
	{
		echo "$HEAD"
		echo "set output '$OUT/append_batch.png'"
		echo "set multiplot layout 1,2 title 'Non-durable append (durability=os): records/s against records per append call, 1 partition, 1 producer (median, min-max)'"
		echo "set logscale xy; set xlabel 'records per append call'; set ylabel 'records/s'"
		for rs in 100 1024; do
			has "append_batch_$rs" || continue
			echo "set title '$rs-byte records'"
			echo "plot $(plots "append_batch_$rs" '1:2:3:4' 'yerrorlines')"
		done
		echo "unset multiplot"
	} | gnuplot || exit 1
fi

extract append_partitions results '$2 == "append" && $4 == 100 && $5 == 1000 && $8 == "none" && $11 == "records_per_s"' '$6' '$3 "-t" $7'
if has append_partitions && spread append_partitions; then
	{
		echo "$HEAD"
		echo "set output '$OUT/append_partitions.png'"
		echo "set title 'Non-durable append, 100-byte records in batches of 1000: records/s against partitions (-t1: 1 producer, -t2: 2 producers)'"
		echo "set logscale xy; set xlabel 'partitions'; set ylabel 'records/s'"
		echo "plot $(plots append_partitions '1:2:3:4' 'yerrorlines')"
	} | gnuplot || exit 1
fi

# ------------------------------------------------------------ durable
extract durable_rps results '$2 == "durable" && $5 == 1 && $11 == "records_per_s" && $4 == 100' '$7' '$3'
extract durable_p99 results '$2 == "durable" && $5 == 1 && $11 == "lat_p99" && $4 == 100' '$7' '$3'
if has durable_rps && spread durable_rps; then
	{
		echo "$HEAD"
		echo "set output '$OUT/durable_producers.png'"
		echo "set multiplot layout 1,2 title 'Durable append (acknowledged after fdatasync), 100-byte records, one record per call, one partition'"
		echo "set logscale xy; set xlabel 'concurrent producers'"
		echo "set title 'records/s (group commit lifts this with producers)'; set ylabel 'records/s'"
		echo "plot $(plots durable_rps '1:2:3:4' 'yerrorlines')"
		echo "set title 'p99 latency of one append call'; set ylabel 'microseconds'"
		echo "plot $(plots durable_p99 '1:2:3:4' 'yerrorlines')"
		echo "unset multiplot"
	} | gnuplot || exit 1
fi

if [ -f "$C" ]; then
	for t in 1 16; do
		extract "durable_cdf_$t" cdf "\$2 == \"durable\" && \$4 == 100 && \$7 == $t" '$12' '$3'
	done
	if has durable_cdf_1; then
		{
			echo "$HEAD"
			echo "set output '$OUT/durable_latency_cdf.png'"
			echo "set multiplot layout 1,2 title 'Durable append latency, cumulative distribution (all repeats), 100-byte records'"
			echo "set logscale x; set xlabel 'latency of one append call, microseconds'; set ylabel 'fraction of calls at or below'"
			echo "set yrange [0:1]"
			for t in 1 16; do
				has "durable_cdf_$t" || continue
				echo "set title '$t producer(s)'"
				echo "plot $(plots "durable_cdf_$t" '1:2' 'steps')"
			done
			echo "unset multiplot"
		} | gnuplot || exit 1
		{
			echo "$HEAD"
			echo "set output '$OUT/durable_latency_percentiles.png'"
			echo "set multiplot layout 1,2 title 'Durable append latency by percentile (HdrHistogram style), 100-byte records'"
			echo "set logscale xy; set xlabel 'percentile'; set ylabel 'microseconds'"
			echo "set xtics ('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000)"
			for t in 1 16; do
				has "durable_cdf_$t" || continue
				echo "set title '$t producer(s)'"
				echo "plot $(plots "durable_cdf_$t" '($2 < 1 ? 1/(1-$2) : 1/0):1' 'steps')"
			done
			echo "unset multiplot"
		} | gnuplot || exit 1
	fi

	extract read_cdf cdf '$2 == "random_read" && $4 == 100' '$12 * 1000' '$3'
	if has read_cdf; then
		{
			echo "$HEAD"
			echo "set output '$OUT/read_latency_cdf.png'"
			echo "set title 'Random read by offset from the page cache, 100-byte records: latency CDF (each read timed; includes ~20-40 ns of clock reads)'"
			echo "set logscale x; set xlabel 'nanoseconds per read'; set ylabel 'fraction of reads at or below'; set yrange [0:1]"
			echo "plot $(plots read_cdf '1:2' 'steps')"
		} | gnuplot || exit 1
	fi

	extract tail_cdf cdf '$2 == "tail"' '$12' '$3 "-" $9'
	if has tail_cdf; then
		{
			echo "$HEAD"
			echo "set output '$OUT/tail_latency_cdf.png'"
			echo "set title 'Reading while appending: append call start to tailing reader holding the record (CDF; suffix: durability)'"
			echo "set logscale x; set xlabel 'microseconds'; set ylabel 'fraction of records at or below'; set yrange [0:1]"
			echo "plot $(plots tail_cdf '1:2' 'steps')"
		} | gnuplot || exit 1
	fi
fi

# --------------------------------------------------------------- scans
awk -F, 'NR > 1 && ($2 == "scan_warm" || $2 == "scan_cold") && $4 == 100 && $11 == "records_per_s" {
	if (!($3 in seen)) { seen[$3] = 1; order[++n] = $3 }
	v[$3, $2] = $13
} END {
	for (i = 1; i <= n; i++) {
		e = order[i]
		w = ((e, "scan_warm") in v) ? v[e, "scan_warm"] : "?"
		c = ((e, "scan_cold") in v) ? v[e, "scan_cold"] : "?"
		print e, w, c
	}
}' "$R" > "$P/scan.dat"
if [ -s "$P/scan.dat" ]; then
	{
		echo "$HEAD"
		echo "set output '$OUT/scan.png'"
		echo "set title 'Sequential read of every record, 100-byte records (checksums verified where the engine has them)'"
		echo "set style data histograms; set style histogram clustered gap 1; set style fill solid 0.8 border -1"
		echo "set logscale y; set ylabel 'records/s'; set yrange [1e5:*]"
		echo "plot '$P/scan.dat' using 2:xtic(1) title 'page cache' lc rgb '#d7191c', '' using 3 title 'after dropping the cache' lc rgb '#2c7bb6'"
	} | gnuplot || exit 1
fi

# --------------------------------------------------------------- scale
extract scale_rps results '$2 == "scale" && $11 == "records_per_s"' '$6' '"records_per_s"'
extract scale_fds results '$2 == "scale" && $11 == "open_fds"' '$6' '"open_fds"'
extract scale_rss results '$2 == "scale" && $11 == "peak_rss"' '$6' '"peak_rss_MiB"'
if has scale_rps && spread scale_rps; then
	{
		echo "$HEAD"
		echo "set output '$OUT/scale.png'"
		echo "set multiplot layout 1,2 title 'rill with many partitions, appended round-robin'"
		echo "set logscale x; set xlabel 'partitions'"
		echo "set title 'records/s'; set ylabel 'records/s'; set yrange [0:*]"
		echo "plot $(plots scale_rps '1:2' 'linespoints')"
		echo "set title 'file descriptors held and peak RSS (MiB)'; set ylabel 'count / MiB'"
		echo "plot $(plots scale_fds '1:2' 'linespoints'), $(plots scale_rss '1:2' 'linespoints')"
		echo "unset multiplot"
	} | gnuplot || exit 1
fi

echo "charts: $(cd "$OUT" && ls ./*.png 2>/dev/null | sed 's|^\./||' | tr '\n' ' ')"
echo "chart data: $P/"
