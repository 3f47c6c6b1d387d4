#!/bin/sh
# bench/check_output.sh OUT — is a bench run's output well-formed?
# Used by `make bench-smoke` (in `make test`). Judges no time: it checks
# that every program ran and reported, that every CSV has its header and
# the right number of columns, that numeric columns are numbers, that no
# NaN or infinity slipped in, and that no program printed "FAILED:".
set -u
OUT=$1
BAD=0
fail() {
	echo "bench-smoke: $*" >&2
	BAD=1
}

# check FILE HEADER NUMERIC-COLUMNS...
check() {
	file=$OUT/$1
	header=$2
	shift 2
	if [ ! -s "$file" ]; then
		fail "$1 missing or empty"
		return
	fi
	[ "$(head -n 1 "$file")" = "$header" ] || fail "$file: header is not '$header'"
	cols=$(echo "$header" | awk -F, '{print NF}')
	awk -F, -v cols="$cols" -v nums="$*" -v file="$file" '
	BEGIN { n = split(nums, num, " ") }
	NR == 1 { next }
	NF != cols { printf "%s:%d: %d columns, expected %d\n", file, NR, NF, cols; bad = 1; next }
	{
		for (i = 1; i <= n; i++) {
			v = $(num[i])
			if (v !~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/) {
				printf "%s:%d: column %d is not a number: \"%s\"\n", file, NR, num[i], v
				bad = 1
			}
		}
		if (tolower($0) ~ /(^|,)-?(nan|inf)/) { printf "%s:%d: NaN or infinity\n", file, NR; bad = 1 }
		rows++
	}
	END { if (rows == 0) { printf "%s: no data rows\n", file; bad = 1 } exit bad }
	' "$file" >&2 || BAD=1
}

check results.csv "program,scenario,engine,record_size,batch,partitions,producers,compression,durability,data_mb,metric,unit,median,min,max,repeats" 4 5 6 7 10 13 14 15 16
check cdf.csv "program,scenario,engine,record_size,batch,partitions,producers,compression,durability,data_mb,metric,value_us,fraction" 4 5 6 7 10 12 13
check ratios.csv "program,scenario,record_size,batch,partitions,producers,compression,durability,data_mb,metric,peer,rill,peer_value,ratio,better" 3 4 5 6 9 12 13 14

# targets.csv: the last column is quoted text that may hold commas
if [ -s "$OUT/targets.csv" ]; then
	awk -F, 'NR > 1 && $2 != "SKIP" { printf "targets.csv:%d: verdict %s in a smoke run\n", NR, $2; bad = 1 }
	END { exit bad }' "$OUT/targets.csv" >&2 || BAD=1
else
	fail "targets.csv missing"
fi

# every program reported (bench_fio only if fio is installed)
for p in bench_append bench_durable bench_read bench_tail bench_recovery bench_retention bench_scale bench_fio; do
	if [ "$p" = bench_fio ] && ! command -v fio >/dev/null 2>&1; then
		continue
	fi
	grep -q "^$p," "$OUT/results.csv" 2>/dev/null || fail "$p wrote no result"
done
# every rill scenario reported a rill figure
for s in append durable scan_warm scan_cold random_read ts_lookup tail recovery_clean recovery_unclean retention scale; do
	grep -q "^[a-z_]*,$s,rill," "$OUT/results.csv" 2>/dev/null || fail "no rill result for scenario $s"
done
if grep -h '^FAILED' "$OUT"/bench_*.txt >&2; then
	fail "a program reported a failure (above)"
fi
[ -s "$OUT/machine.txt" ] || fail "machine.txt missing"

if [ $BAD -ne 0 ]; then
	echo "bench-smoke: output in $OUT is not well-formed" >&2
	exit 1
fi
echo "  BENCH   smoke: every scenario ran; CSV well-formed ($(($(wc -l < "$OUT/results.csv") - 1)) results) in $OUT"
