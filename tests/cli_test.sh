#!/usr/bin/env bash
#
# cli_test.sh — end-to-end tests of the `rill` command-line tool. Runs the
# real binary on temporary stores and checks what it prints, its exit
# status (0 ok, 1 error, 2 usage) and that failing commands change nothing
# on disk.
#
#   usage: tests/cli_test.sh [path/to/rill]     (or RILL=path/to/rill)
#
# What it proves:
#   - every subcommand has --help with examples; usage errors exit 2
#   - topics create/list/describe/alter/add-partitions/delete round trip
#   - produce from a file, consume, byte-for-byte equal (lines, NUL, binary)
#   - keyed records land where XXH3_64(key) % partitions says (checked by
#     tests/cli/partition_for_key.c, built on libxxhash, not on librill),
#     in input order within each partition
#   - JSON lines with UTF-8 text and base64 for binary data
#   - consume positions: earliest, latest, N, -N, @ISO-8601, @epoch-ms
#   - follow mode sees records produced by another process, stops on SIGINT
#   - bad input (unknown topic, bad config key, bad timestamp, binary
#     garbage on stdin, a corrupt segment for dump/verify) gives a message
#     naming the problem, the right status, and an unchanged store
#
# Prints "cli: N passed, M failed" last; exits 1 if anything failed.
set -u

RILL=${1:-${RILL:-build/examples/rill}}
case $RILL in /*) ;; *) RILL=$PWD/$RILL ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
if [ ! -x "$RILL" ]; then
	echo "cli_test: $RILL is not an executable (build it with make)" >&2
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/rill-cli.XXXXXX")
BG_PIDS=""
cleanup() {
	for p in $BG_PIDS; do kill "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); }
failure() {
	failed=$((failed + 1))
	echo "FAIL: $*" >&2
	if [ -s "$T/err" ]; then sed 's/^/  stderr: /' "$T/err" | head -5 >&2; fi
}

# run ARGS...: run rill with stdin from /dev/null unless redirected by the
# caller; sets $rc, stdout in $T/out, stderr in $T/err.
run() {
	"$RILL" "$@" >"$T/out" 2>"$T/err"
	rc=$?
}
# runin FILE ARGS...: same with stdin from FILE.
runin() {
	local input=$1
	shift
	"$RILL" "$@" <"$input" >"$T/out" 2>"$T/err"
	rc=$?
}
# expect NAME STATUS [REGEX-in-stderr]
expect() {
	local name=$1 want=$2 pattern=${3:-}
	if [ "$rc" -ne "$want" ]; then
		failure "$name: exit status $rc, expected $want"
		return 1
	fi
	if [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$T/err"; then
		failure "$name: stderr does not match /$pattern/"
		return 1
	fi
	pass
	return 0
}
# check NAME COMMAND...: passes if the command succeeds.
check() {
	local name=$1
	shift
	if "$@"; then pass; else failure "$name"; fi
}
# snapshot DIR: one hash over every path and every file's content.
snapshot() {
	(cd "$1" && find . -print | LC_ALL=C sort && \
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum
}
same_file() { cmp -s "$1" "$2"; }

S=$T/store

# ------------------------------------------------------------------ help
for c in "" "topics" "topics create" "topics list" "topics describe" \
	"topics alter" "topics delete" "topics add-partitions" "produce" \
	"consume" "offsets" "dump" "verify" "stats"; do
	# shellcheck disable=SC2086
	run $c --help
	if [ "$rc" -eq 0 ] && grep -q 'Usage: rill' "$T/out" &&
		grep -q '^Examples:' "$T/out"; then
		pass
	else
		failure "'rill $c --help' (status $rc)"
	fi
done
run
expect "no arguments is a usage error" 2
run frobnicate
expect "unknown command" 2 "unknown command 'frobnicate'"
run consume --bogus "$S" t
expect "unknown option" 2 "unknown option '--bogus'"
run consume "$S"
expect "missing TOPIC" 2 "expected STORE and TOPIC"
run topics create "$S" t --partitions zero
expect "bad --partitions" 2 "bad --partitions 'zero'"
check "usage errors create no store" test ! -e "$S"
run --version
expect "--version" 0

# ---------------------------------------------------------------- topics
run topics create "$S" lines
expect "create topic lines" 0
run topics create "$S" multi --partitions 3 --config retention.ms=-1 \
	--config compression.type=zstd
expect "create topic multi with config" 0
run topics create "$S" lines
expect "create existing topic" 1 "topic 'lines' already exists"
run topics create "$S" lines --if-not-exists
expect "create --if-not-exists" 0
run topics create "$S" 'bad/name'
expect "bad topic name" 1 "bad/name"

before=$(snapshot "$S")
run topics create "$S" x --config retention.msec=5
expect "unknown config key is a usage error" 2 "unknown config key 'retention.msec'"
run topics create "$S" x --config compression.type=lz77
expect "bad config value is a usage error" 2 "compression.type"
run topics create "$S" x --config novalue
expect "config without =" 2 "KEY=VALUE"
check "bad config changes nothing" test "$before" = "$(snapshot "$S")"

run topics list "$S"
printf 'lines\nmulti\n' >"$T/want"
check "topics list" same_file "$T/out" "$T/want"

run topics describe "$S" multi
expect "describe" 0 &&
	check "describe partitions" grep -qx 'partitions: 3' "$T/out" &&
	check "describe config" grep -qx 'config: compression.type=zstd' "$T/out" &&
	check "describe retention" grep -qx 'config: retention.ms=-1' "$T/out" &&
	check "describe partition rows" test "$(grep -c '^[0-9]' "$T/out")" -eq 3

run topics alter "$S" multi --config retention.bytes=1000000
expect "alter" 0
run topics describe "$S" multi
check "alter persisted" grep -qx 'config: retention.bytes=1000000' "$T/out"
run topics alter "$S" multi --delete-config retention.bytes
expect "alter --delete-config" 0
run topics describe "$S" multi
check "delete-config restores default" grep -qx 'config: retention.bytes=-1' "$T/out"
before=$(snapshot "$S")
run topics alter "$S" multi --config bogus.key=1
expect "alter unknown key" 2 "unknown config key 'bogus.key'"
run topics alter "$S" nope --config retention.ms=5
expect "alter unknown topic" 1 "topic 'nope' does not exist"
check "failed alters change nothing" test "$before" = "$(snapshot "$S")"

# --------------------------------------------------- produce and consume
# Lines: ASCII, tabs, UTF-8, an empty line, backslashes, percent signs.
{
	for i in $(seq 1 3000); do printf 'line %d\twith tab %% and \\ back\n' "$i"; done
	printf '\n'
	printf 'caf\xc3\xa9 na\xc3\xafve \xe2\x82\xac\n'
	for i in $(seq 3001 5000); do printf 'record-%06d\n' "$i"; done
} >"$T/lines.txt"
runin "$T/lines.txt" produce "$S" lines
expect "produce lines" 0
run consume "$S" lines
expect "consume lines" 0 && check "lines round trip byte for byte" same_file "$T/out" "$T/lines.txt"
run offsets "$S" lines
check "offsets after produce" grep -qx 'lines 0 0 5002' "$T/out"

# A larger input through small batches, spread over 3 partitions (keyless:
# sticky partition), then read back: the same multiset of lines.
seq 1 200000 >"$T/big.txt"
runin "$T/big.txt" produce "$S" multi -b 5000 --durability none
expect "produce 200000 lines" 0
run consume "$S" multi
sort -n "$T/out" >"$T/got"
check "200000 lines all back" same_file "$T/got" "$T/big.txt"
run consume "$S" multi -c 10
check "-c 10" test "$(wc -l <"$T/out")" -eq 10

# NUL-delimited records may hold newlines.
printf 'one\nstill one\0two\0three\0' >"$T/nul.bin"
run topics create "$S" nul
runin "$T/nul.bin" produce "$S" nul -z
expect "produce -z" 0
run consume "$S" nul -F '%s\0'
check "NUL-delimited round trip" same_file "$T/out" "$T/nul.bin"

# -v reports each append; -b splits.
seq 1 20 >"$T/20.txt"
run topics create "$S" verbose
runin "$T/20.txt" produce "$S" verbose -b 7 -v
expect "produce -v" 0
printf '%s\n' 'partition=0 base_offset=0 last_offset=6 records=7 durable=1' \
	'partition=0 base_offset=7 last_offset=13 records=7 durable=1' \
	'partition=0 base_offset=14 last_offset=19 records=6 durable=1' >"$T/want"
check "-v lists appends" same_file "$T/out" "$T/want"

# Headers, keys, tombstones and the format string.
run topics create "$S" fmt
printf 'k1:v1\nno key here\nk3:\n' >"$T/fmt.txt"
runin "$T/fmt.txt" produce "$S" fmt -K : -Z -H a=1 -H b=x=y --timestamp 1764064800000
expect "produce with headers and keys" 0
run consume "$S" fmt -Z -F '%t|%p|%o|%T|%K|%S|%k|%s|%h\n'
printf '%s\n' 'fmt|0|0|1764064800000|2|2|k1|v1|a=1,b=x=y' \
	'fmt|0|1|1764064800000|-1|11|NULL|no key here|a=1,b=x=y' \
	'fmt|0|2|1764064800000|2|-1|k3|NULL|a=1,b=x=y' >"$T/want"
check "format string directives" same_file "$T/out" "$T/want"
run consume "$S" fmt -F '%x'
expect "unknown format directive" 2 "'x'"

# Keyed records land in the partition XXH3_64(key) % 3 names, in order.
ORACLE=$T/partition_for_key
if cc -std=c11 -O1 -o "$ORACLE" "$HERE/cli/partition_for_key.c" -lxxhash 2>"$T/err"; then
	run topics create "$S" keyed --partitions 3
	for i in $(seq 1 3000); do printf 'user-%d:event %d\n' $((i % 97)) "$i"; done >"$T/keyed.txt"
	runin "$T/keyed.txt" produce "$S" keyed -K : -b 256
	expect "keyed produce" 0
	cut -d: -f1 "$T/keyed.txt" | "$ORACLE" 3 >"$T/parts"
	paste -d' ' "$T/parts" "$T/keyed.txt" >"$T/keyed-parts"
	for p in 0 1 2; do
		grep "^$p " "$T/keyed-parts" | cut -d' ' -f2- >"$T/want"
		run consume "$S" keyed -p "$p" -F '%k:%s\n'
		check "partition $p holds exactly its keys, in order" same_file "$T/out" "$T/want"
	done
else
	failure "cannot build tests/cli/partition_for_key.c (needs cc and libxxhash)"
fi

# ------------------------------------------------------ binary and JSON
run topics create "$S" bin
# key "k1" + value 00 ff 0a 80 41 ; key null + value "text \"q\"" ; key
# "k3" + an empty value.
printf '\x00\x00\x00\x02k1\x00\x00\x00\x05\x00\xff\x0a\x80A' >"$T/bin.in"
printf '\xff\xff\xff\xff\x00\x00\x00\x09text "q"\n' >>"$T/bin.in"
printf '\x00\x00\x00\x02k3\x00\x00\x00\x00' >>"$T/bin.in"
runin "$T/bin.in" produce "$S" bin --binary --binary-keys --timestamp 2026-11-25T10:00:00Z
expect "produce --binary --binary-keys" 0
run consume "$S" bin -J
cat >"$T/want" <<'EOF'
{"topic":"bin","partition":0,"offset":0,"timestamp":1795600800000,"key":"k1","value_b64":"AP8KgEE=","headers":[]}
{"topic":"bin","partition":0,"offset":1,"timestamp":1795600800000,"key":null,"value":"text \"q\"\n","headers":[]}
{"topic":"bin","partition":0,"offset":2,"timestamp":1795600800000,"key":"k3","value":"","headers":[]}
EOF
expect "consume -J" 0 && check "JSON lines, base64 for binary" same_file "$T/out" "$T/want"
head -1 "$T/out" | sed 's/.*"value_b64":"\([^"]*\)".*/\1/' | base64 -d >"$T/got"
printf '\x00\xff\x0a\x80A' >"$T/want"
check "base64 decodes to the bytes produced" same_file "$T/got" "$T/want"
run consume "$S" bin -J --base64 -c 1 -o 1
check "--base64 forces base64" grep -qx '{"topic":"bin","partition":0,"offset":1,"timestamp":1795600800000,"key":null,"value_b64":"dGV4dCAicSIK","headers":\[\]}' "$T/out"
run consume "$S" fmt -J -c 1
check "JSON headers" grep -q '"headers":\[{"name":"a","value":"1"},{"name":"b","value":"x=y"}\]' "$T/out"

# Binary values only: round trip of arbitrary bytes.
head -c 300000 /dev/urandom >"$T/random"
run topics create "$S" rnd
: >"$T/rnd.in"
: >"$T/rnd.want"
off=0
for len in 0 1 255 4096 65536 100000 129952; do
	printf "\\x$(printf %02x $((len >> 24 & 255)))\\x$(printf %02x $((len >> 16 & 255)))\\x$(printf %02x $((len >> 8 & 255)))\\x$(printf %02x $((len & 255)))" >>"$T/rnd.in"
	tail -c +$((off + 1)) "$T/random" | head -c "$len" >>"$T/rnd.in"
	tail -c +$((off + 1)) "$T/random" | head -c "$len" >>"$T/rnd.want"
	off=$((off + len))
done
runin "$T/rnd.in" produce "$S" rnd --binary
expect "produce --binary random bytes" 0
run consume "$S" rnd -F '%s'
check "binary round trip" same_file "$T/out" "$T/rnd.want"

# ------------------------------------------------------------- positions
run consume "$S" verbose -o -5
check "-o -5" same_file "$T/out" <(seq 16 20)
run consume "$S" verbose -o 3 -c 2 -F '%o\n'
check "-o 3 -c 2" same_file "$T/out" <(printf '3\n4\n')
run consume "$S" verbose -o latest
check "-o latest" test ! -s "$T/out"
run consume "$S" verbose -o 999
expect "offset past the end" 1 "offset 999 is out of range"
run topics create "$S" times
seq 1 10 >"$T/10.txt"
runin "$T/10.txt" produce "$S" times --timestamp 2026-11-25T10:00:00Z
seq 11 20 >"$T/10b.txt"
runin "$T/10b.txt" produce "$S" times --timestamp 2026-11-25T11:00:00.500Z
run consume "$S" times -o @2026-11-25T10:30:00Z -F '%o %s\n' -c 1
check "-o @ISO" grep -qx '10 11' "$T/out"
run consume "$S" times -o @2026-11-25T11:30:00.250+01:00 -F '%o\n' -c 1
check "-o @ISO with fraction and zone" grep -qx '10' "$T/out"
run consume "$S" times -o @1795604400500 -F '%T\n' -c 1
check "-o @epoch-ms" grep -qx '1795604400500' "$T/out"
run offsets "$S" times -t 2026-11-25T10:00:00.001Z
check "offsets -t" grep -qx 'times 0 10' "$T/out"
run offsets "$S" times -t 2030-01-01
check "offsets -t after the last record is the log end" grep -qx 'times 0 20' "$T/out"

before=$(snapshot "$S")
run consume "$S" times -o @2026-13-45T00:00:00Z
expect "bad month in timestamp" 2 "bad offset '@2026-13-45T00:00:00Z'"
run consume "$S" times -o @yesterday
expect "bad timestamp word" 2 "@yesterday"
run offsets "$S" times -t 2026-02-30
expect "offsets bad date" 2 "bad timestamp '2026-02-30'"
runin "$T/10.txt" produce "$S" times --timestamp 10:00
expect "produce bad timestamp" 2 "bad timestamp '10:00'"
check "bad timestamps change nothing" test "$before" = "$(snapshot "$S")"

# --------------------------------------------------------- unknown things
before=$(snapshot "$S")
run consume "$S" nope
expect "consume unknown topic" 1 "topic 'nope' does not exist"
runin "$T/10.txt" produce "$S" nope
expect "produce unknown topic" 1 "topic 'nope' does not exist"
run offsets "$S" nope
expect "offsets unknown topic" 1 "nope"
run topics describe "$S" nope
expect "describe unknown topic" 1 "nope"
run topics delete "$S" nope
expect "delete unknown topic" 1 "topic 'nope' does not exist"
run consume "$S" lines -p 7
expect "consume missing partition" 1 "partition 7 does not exist"
runin "$T/10.txt" produce "$S" lines -p 7
expect "produce missing partition" 1 "partition 7 does not exist"
run verify "$S" nope
expect "verify unknown topic" 1 "nope"
check "unknown topics change nothing" test "$before" = "$(snapshot "$S")"
run consume "$T/no-store" lines
expect "consume on a missing store" 1 "no-store"
runin "$T/10.txt" produce "$T/no-store" lines
expect "produce on a missing store" 1 "no-store"
check "missing store is not created" test ! -e "$T/no-store"

# ------------------------------------------------------ garbage on stdin
before=$(snapshot "$S")
printf '\xff\xff\xff\xf0garbage' >"$T/garbage1"
runin "$T/garbage1" produce "$S" bin --binary
expect "binary garbage: huge length" 1 "record 1 at byte 0: length prefix"
printf '\x00\x00\x00\x10short' >"$T/garbage2"
runin "$T/garbage2" produce "$S" bin --binary
expect "binary garbage: truncated record" 1 "truncated record"
printf '\x00\x00\x00\x01a\x00\x00' >"$T/garbage3"
runin "$T/garbage3" produce "$S" bin --binary
expect "binary garbage: torn length prefix" 1 "record 2 at byte 5"
head -c 5000 /dev/urandom >"$T/garbage4"
printf '\xff' | dd of="$T/garbage4" bs=1 count=1 conv=notrunc 2>/dev/null
runin "$T/garbage4" produce "$S" bin --binary
expect "binary garbage: random bytes" 1 "stdin"
check "garbage on stdin changes nothing" test "$before" = "$(snapshot "$S")"
run offsets "$S" bin
check "garbage appended nothing" grep -qx 'bin 0 0 3' "$T/out"

# -------------------------------------------------- follow (-f) and signals
run topics create "$S" live --partitions 2
"$RILL" consume "$S" live -f -F '%p %s\n' >"$T/follow.out" 2>"$T/follow.err" &
fpid=$!
BG_PIDS="$BG_PIDS $fpid"
sleep 0.3
for round in 1 2 3; do
	seq $((round * 100 + 1)) $((round * 100 + 5)) >"$T/round"
	"$RILL" produce "$S" live -p $((round % 2)) <"$T/round" 2>>"$T/follow.err"
	sleep 0.2
done
for _ in $(seq 1 100); do
	[ "$(wc -l <"$T/follow.out")" -ge 15 ] && break
	sleep 0.1
done
kill -INT "$fpid" 2>/dev/null
wait "$fpid"
frc=$?
BG_PIDS=""
check "follow sees records from another process" test "$(wc -l <"$T/follow.out")" -eq 15
check "follow exits 0 on SIGINT" test "$frc" -eq 0
check "follow output in order" same_file <(cut -d' ' -f2 "$T/follow.out") \
	<(printf '%s\n' 101 102 103 104 105 201 202 203 204 205 301 302 303 304 305)
# -f with -c stops by itself once it has N records (starting at the log
# end as it is now, so a slow start cannot miss them).
run offsets "$S" live -p 0
end=$(cut -d' ' -f4 "$T/out")
(sleep 0.5; seq 1 3 | "$RILL" produce "$S" live -p 0) &
timeout 20 "$RILL" consume "$S" live -p 0 -o "$end" -f -c 3 >"$T/out" 2>"$T/err"
rc=$?
wait
expect "follow -c 3" 0 && check "follow -c 3 output" same_file "$T/out" <(seq 1 3)
# A reader runs beside a live writer (read-only open takes no lock).
(seq 1 200000 | "$RILL" produce "$S" multi -b 10 --durability none) &
wpid=$!
run offsets "$S" multi
expect "offsets beside a live writer" 0
run topics describe "$S" multi
expect "describe beside a live writer" 0
wait "$wpid"
check "the writer finished" test $? -eq 0

# --------------------------------------------- writer lock, durability
run topics create "$S" lock
# The first writer appends one record at once (-b 1), then holds the store
# while it waits for more input; wait until its record is visible.
(echo first; sleep 4; echo late) | "$RILL" produce "$S" lock -b 1 &
lpid=$!
for _ in $(seq 1 100); do
	"$RILL" offsets "$S" lock 2>/dev/null | grep -qx 'lock 0 0 1' && break
	sleep 0.1
done
echo early >"$T/one"
runin "$T/one" produce "$S" lock
expect "a second writer is refused" 1 "locked"
run consume "$S" lock
expect "a reader runs beside the writer" 0 &&
	check "the reader sees the writer's record" same_file "$T/out" <(echo first)
wait "$lpid"
check "the first writer succeeded" test $? -eq 0
run consume "$S" lock
check "only the first writer's records" same_file "$T/out" <(printf 'first\nlate\n')
runin "$T/20.txt" produce "$S" lock --durability none -v -b 20
check "--durability none returns before fsync" grep -q ' durable=0$' "$T/out"
run topics alter "$S" lock --config durability=os
expect "alter durability=os" 0
runin "$T/20.txt" produce "$S" lock --durability append -v -b 20
check "--durability append overrides durability=os" grep -q ' durable=1$' "$T/out"
runin "$T/20.txt" produce "$S" lock --durability sometimes
expect "bad --durability" 2 "sometimes"

# ------------------------------------------------------------ misc usage
run help produce
expect "rill help produce" 0 && check "help alias prints produce help" grep -q '^Usage: rill produce' "$T/out"
run consume "$S" keyed -o -2 -F '%p\n'
check "-o -2 applies to every partition" same_file "$T/out" <(printf '0\n0\n1\n1\n2\n2\n')
: >"$T/a-file"
run topics create "$T/a-file" t
expect "a store path that is a file" 1 "a-file"
run stats "$S" times
check "stats first timestamp" grep -q '^times 0 0 20 20 1 [0-9]* 1795600800000 ' "$T/out"

# ---------------------------------------------------- dump, verify, stats
run verify "$S"
expect "verify a clean store" 0 && check "verify summary" grep -q '^verified: [0-9]* batches, 0 problems$' "$T/out"
run verify "$S" lines
expect "verify one topic" 0
run dump "$S" fmt --records
expect "dump topic" 0
check "dump batch line" grep -q '^baseOffset: 0 lastOffset: 2 count: 3 .*checksum: 0x[0-9a-f]* OK$' "$T/out"
check "dump records" grep -q '^| offset: 1 timestamp: 1764064800000 keySize: -1 valueSize: 11 headers: 2 key: null value: "no key here"' "$T/out"
seg=$(find "$S" -path '*/multi-*' -name '*.log' | head -1)
run dump "$seg"
expect "dump a segment file" 0
check "dump file: every batch OK" test "$(grep -c ' OK$' "$T/out")" -gt 0
check "dump file: no BAD" test "$(grep -c ' BAD$' "$T/out")" -eq 0
check "dump of zstd batches" grep -q 'compression: zstd' "$T/out"
run dump "$seg" --partition-key wrong/0
expect "dump with a wrong partition key" 1 "bad batch"
check "wrong key: BAD" grep -q ' BAD$' "$T/out"
run dump "$S"
expect "dump STORE without TOPIC" 2 "directory"

run stats "$S"
expect "stats" 0 && check "stats topics" grep -qx 'topics: [0-9]*' "$T/out" &&
	check "stats partition rows" grep -q '^lines 0 0 5002 ' "$T/out"

# Many segments: small segment.bytes makes the log roll.
run topics create "$S" rolled --config segment.bytes=4096 --config preallocate=false
seq 1 5000 | sed 's/^/rolled record /' >"$T/rolled.txt"
runin "$T/rolled.txt" produce "$S" rolled -b 50
expect "produce into small segments" 0
run consume "$S" rolled
check "round trip across segments" same_file "$T/out" "$T/rolled.txt"
run dump "$S" rolled
expect "dump every segment" 0 &&
	check "dump visits several files" test "$(grep -c '^# file: ' "$T/out")" -gt 5 &&
	check "dump counts every record" grep -qx '# total: files: [0-9]* batches: 100 bad: 0' "$T/out"
run topics describe "$S" rolled
check "describe counts segments" grep -Eq '^0 0 5000 5000 ([6-9]|[1-9][0-9]+) ' "$T/out"
run consume "$S" rolled -o 2345 -c 1
check "seek into a later segment" grep -qx 'rolled record 2346' "$T/out"

# A corrupt copy: flip one byte inside the records of the first batch.
C=$T/corrupt
cp -a "$S" "$C"
cseg=$(find "$C" -path '*/lines-0/*' -name '*.log' | head -1)
byte=$(od -An -tu1 -j 100 -N 1 "$cseg" | tr -d ' ')
printf "\\x$(printf %02x $((byte ^ 0x55)))" | dd of="$cseg" bs=1 seek=100 count=1 conv=notrunc 2>/dev/null
before=$(snapshot "$C")
run verify "$C"
expect "verify finds corruption" 1 "problem"
check "verify names the batch" grep -Eq '^lines 0 segment: 0+ position: 0 offset: 0: ' "$T/out"
run verify "$C" lines
expect "verify topic finds corruption" 1
run dump "$cseg"
expect "dump a corrupt segment" 1 "bad batch"
check "dump marks the batch BAD" grep -q '^baseOffset: 0 .* BAD$' "$T/out"
run dump "$C" lines
expect "dump topic with a corrupt segment" 1
check "verify and dump change nothing" test "$before" = "$(snapshot "$C")"
# A torn header: cut the segment inside its last batch.
tseg=$T/torn/lines-0/00000000000000000000.log
mkdir -p "$(dirname "$tseg")"
head -c 150 "$seg" >"$tseg"
run dump "$tseg" --partition-key multi/0
expect "dump a torn segment" 1 "bad batch"
printf 'not a segment' >"$T/junk.log"
run dump "$T/junk.log"
expect "dump a junk file" 1
run dump "$T/missing.log"
expect "dump a missing file" 1 "missing.log"

# ------------------------------------------------------- more options
run topics create "$S" appendtime --config message.timestamp.type=LogAppendTime
expect "create a LogAppendTime topic" 0
seq 1 3 >"$T/3.txt"
runin "$T/3.txt" produce "$S" appendtime --timestamp 1000
run consume "$S" appendtime -F '%T\n' -c 1
check "LogAppendTime replaces the producer's timestamp" test "$(cat "$T/out")" -gt 1000
run dump "$S" appendtime
check "dump shows LogAppendTime" grep -q 'timestampType: LogAppendTime' "$T/out"
run dump "$S" rolled -n 1
check "dump -n 1: one batch per file" test "$(grep -c '^baseOffset' "$T/out")" -eq "$(grep -c '^# file' "$T/out")"
run dump "$S" multi -p 0 --records -n 1
check "dump --records of a zstd batch" grep -q '^| offset: 0 ' "$T/out"
run consume "$S" fmt -J -o 2
check "JSON tombstone" grep -q '"key":"k3","value":null,' "$T/out"
runin "$T/3.txt" produce "$S" fmt -H =x
expect "header without a name" 2 "NAME=VALUE"
runin "$T/3.txt" produce "$S" fmt --binary-keys
expect "--binary-keys without --binary" 2 "needs --binary"
runin "$T/3.txt" produce "$S" fmt --binary -K :
expect "-K with --binary" 2 "binary"
run consume "$S" fmt -J -F '%s'
expect "-J with -F" 2 "cannot be combined"
run consume "$S" fmt -p x
expect "bad partition number" 2 "bad partition 'x'"
run topics alter "$S" fmt
expect "alter with nothing to change" 2 "nothing to change"
run stats "$S" fmt
expect "stats for one topic" 0 && check "stats: one topic's rows" test "$(grep -c '^fmt ' "$T/out")" -eq 1

# SIGTERM ends the input: what was read is appended, the store closed cleanly.
run topics create "$S" term
(seq 1 5; sleep 5) | "$RILL" produce "$S" term -b 1 2>"$T/term.err" &
tpid=$!
for _ in $(seq 1 100); do
	"$RILL" offsets "$S" term 2>/dev/null | grep -qx 'term 0 0 5' && break
	sleep 0.1
done
kill -TERM "$tpid"
wait "$tpid"
check "produce exits 0 on SIGTERM" test $? -eq 0
run offsets "$S" term
check "records read before SIGTERM were appended" grep -qx 'term 0 0 5' "$T/out"
run stats "$S"
check "the interrupted writer shut down cleanly" grep -qx 'clean_open: 1' "$T/out"

# --------------------------------------------- add-partitions and delete
run topics add-partitions "$S" lines --partitions 4
expect "add-partitions" 0
run offsets "$S" lines
check "four partitions now" test "$(wc -l <"$T/out")" -eq 4
run topics add-partitions "$S" lines --partitions 2
expect "add-partitions cannot shrink" 1 "cannot shrink"
run topics delete "$S" verbose
expect "delete" 0
run topics list "$S"
check "deleted topic gone" test "$(grep -c '^verbose$' "$T/out")" -eq 0
run topics delete "$S" verbose --if-exists
expect "delete --if-exists" 0

# ------------------------------------------------------------- throughput
# A million short lines must go fast (batched appends, no per-line work
# beyond a memchr). The bound is loose: it catches per-record fsyncs.
run topics create "$S" million
seq 1 1000000 >"$T/million.txt"
start=$(date +%s)
runin "$T/million.txt" produce "$S" million
end=$(date +%s)
expect "produce a million lines" 0
check "a million lines in under 60 s ($((end - start)) s)" test $((end - start)) -lt 60
run offsets "$S" million
check "a million offsets" grep -qx 'million 0 0 1000000' "$T/out"

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
