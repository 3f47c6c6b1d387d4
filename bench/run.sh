#!/bin/sh
# bench/run.sh PROFILE — run every bench program with the parameters of one
# profile, then draw the charts and print every target missed.
#
#   PROFILE   quick (make bench, about 5 minutes on 2 cores), full
#             (make bench-full), smoke (make bench-smoke: tiny counts, output
#             checked by bench/check_output.sh, no target judged)
#   BUILD     build directory holding bench/ programs (default build)
#   BENCH_DATA  data directory, on the disk to measure (default $BUILD/bench-data)
#   BENCH_OUT   results directory (default bench/results/<timestamp>-<profile>)
#
# Each program's stdout goes to the terminal and to $BENCH_OUT/<program>.txt;
# all programs append to the same results.csv, ratios.csv, targets.csv and
# cdf.csv there. Exit status: non-zero if a program failed.
set -u
PROFILE=${1:-quick}
BUILD=${BUILD:-build}
BIN=$BUILD/bench
DATA=${BENCH_DATA:-$BUILD/bench-data}
OUT=${BENCH_OUT:-}
if [ -z "$OUT" ]; then
	OUT=bench/results/$(date +%Y%m%d-%H%M%S)-$PROFILE
fi
mkdir -p "$OUT" "$DATA" || exit 1
rm -f "$OUT"/results.csv "$OUT"/ratios.csv "$OUT"/targets.csv "$OUT"/cdf.csv \
	"$OUT"/bench_*.txt "$OUT"/summary.txt "$OUT"/machine.txt
STATUS=0
START=$(date +%s)

# run PROGRAM ARGS...: stdout to the terminal and $OUT/PROGRAM.txt
run() {
	prog=$1
	shift
	if [ ! -x "$BIN/$prog" ]; then
		echo "bench: $BIN/$prog is missing (make bench-build)" >&2
		STATUS=1
		return
	fi
	echo "### $prog $*" >> "$OUT/$prog.txt"
	"$BIN/$prog" --dir "$DATA" --out "$OUT" "$@" > "$OUT/.last.txt"
	rc=$?
	[ "$PROFILE" = smoke ] || cat "$OUT/.last.txt" # smoke: files only
	cat "$OUT/.last.txt" >> "$OUT/$prog.txt"
	rm -f "$OUT/.last.txt"
	if [ $rc -ne 0 ]; then
		echo "bench: $prog exited with status $rc (output: $OUT/$prog.txt)" >&2
		STATUS=1
	fi
}

case $PROFILE in
smoke)
	S="--smoke --quiet --repeats 1"
	run bench_fio $S --duration-ms 1000
	run bench_append $S --record-size 100 --batch 1,100 --partitions 2 --producers 2 \
		--compression none,zstd --duration-ms 20 --warmup-ms 5 --prealloc-mb 4 \
		--segment-bytes 1M
	run bench_durable $S --producers 1,4 --duration-ms 30 --warmup-ms 5 --prealloc-mb 1 \
		--segment-bytes 1M
	run bench_read $S --record-size 100,1K --sizes-mb 1 --ops 1000 --segment-bytes 1M
	run bench_read $S --record-size 100 --batch 1 --index-interval 0 --sizes-mb 1 --ops 1000 \
		--segment-bytes 1M
	run bench_tail $S --duration-ms 50 --rate 2000
	run bench_recovery $S --sizes-mb 2,4 --partitions 1,3 --unclean-mb 1 --segment-bytes 1M
	run bench_retention $S --duration-ms 100 --warmup-ms 10 --segment-bytes 64K
	run bench_scale $S --partitions 1,50 --duration-ms 50 --warmup-ms 10
	;;
quick)
	R="--repeats 3"
	run bench_fio --duration-ms 2000
	run bench_append $R --record-size 100,1K --batch 1,16,256,1000 --compression none,zstd \
		--duration-ms 200 --warmup-ms 30 --prealloc-mb 128
	run bench_append $R --record-size 100 --batch 1000 --partitions 8,64 --producers 1,2 \
		--duration-ms 200 --warmup-ms 30 --prealloc-mb 128
	run bench_append $R --record-size 16K --batch 16 --duration-ms 200 --warmup-ms 30 \
		--prealloc-mb 256
	run bench_durable $R --producers 1,4,16,64 --duration-ms 400 --warmup-ms 50 \
		--prealloc-mb 64
	run bench_read $R --record-size 100,1K --sizes-mb 64 --ops 20000
	# random reads of records appended one per call, rill indexing every batch
	run bench_read $R --record-size 100 --batch 1 --index-interval 0 --sizes-mb 64 --ops 20000
	run bench_tail $R --duration-ms 1000 --rate 10000
	run bench_recovery $R --sizes-mb 64,512 --partitions 1,100 --unclean-mb 16
	run bench_retention $R --duration-ms 1000
	run bench_scale --repeats 1 --partitions 1,100,1000 --duration-ms 1000
	;;
full)
	# Every dimension the issue names, at longer durations than quick: its
	# first run took 84 minutes on 2 cores (beside other work).
	# --prealloc-mb is the raw file's total, divided over the partitions.
	R="--repeats 3"
	run bench_fio --repeats 3 --duration-ms 5000
	run bench_append $R --record-size 100,1K,16K --batch 1,16,256,1000 --partitions 1,8,64 \
		--producers 1,2 --compression none,zstd --duration-ms 500 --warmup-ms 50 \
		--prealloc-mb 1024
	run bench_durable $R --record-size 100,1K,16K --producers 1,4,16,64 \
		--duration-ms 1000 --warmup-ms 100 --prealloc-mb 128
	run bench_read $R --record-size 100,1K,16K --sizes-mb 256 --ops 200000
	run bench_read $R --record-size 100,1K --batch 1 --index-interval 0 --sizes-mb 128 \
		--ops 200000
	run bench_tail $R --duration-ms 3000 --rate 10000
	run bench_tail $R --duration-ms 3000 --rate 0 --count 200000
	run bench_tail $R --duration-ms 2000 --rate 1000 --durability append
	run bench_recovery $R --sizes-mb 100,1000,10000 --partitions 1,100,1000 \
		--unclean-mb 64
	run bench_retention $R --duration-ms 3000
	run bench_scale $R --partitions 1,100,1000,10000 --duration-ms 3000
	;;
*)
	echo "usage: $0 smoke|quick|full" >&2
	exit 2
	;;
esac
rmdir "$DATA" 2>/dev/null # each program removed what it wrote

if command -v gnuplot >/dev/null 2>&1; then
	if [ "$PROFILE" = smoke ]; then
		sh bench/plot.sh "$OUT" > /dev/null || STATUS=1
	else
		sh bench/plot.sh "$OUT" || STATUS=1
	fi
else
	echo "bench: gnuplot not installed: no charts (apt-get install gnuplot-nox)"
fi

if [ "$PROFILE" = smoke ]; then
	sh bench/check_output.sh "$OUT" || STATUS=1
	exit $STATUS
fi

END=$(date +%s)
{
	echo
	echo "================================================================ summary"
	echo "profile $PROFILE, $((END - START)) s; results in $OUT"
	cat "$OUT/machine.txt" 2>/dev/null
	echo
	echo "targets: $(grep -c '^MET' "$OUT"/*.txt | awk -F: '{s+=$2} END {print s+0}') met," \
		"$(grep -c '^MISS' "$OUT"/*.txt | awk -F: '{s+=$2} END {print s+0}') missed," \
		"$(grep -c '^SKIP' "$OUT"/*.txt | awk -F: '{s+=$2} END {print s+0}') skipped"
	grep -h -A1 '^MISS' "$OUT"/*.txt | grep -v '^--$'
	grep -h '^FAILED' "$OUT"/*.txt
	echo
	echo "files: $(cd "$OUT" && ls | tr '\n' ' ')"
} | tee "$OUT/summary.txt"
exit $STATUS
