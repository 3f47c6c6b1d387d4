/*
 * bench_append.c — append throughput with the OS deciding when to flush
 * (rill durability=os; peers at the same durability: raw files without
 * fdatasync, SQLite synchronous=OFF, RocksDB sync=false, LMDB MDB_NOSYNC).
 *
 * For every combination of --record-size, --partitions, --producers,
 * --batch and --compression, each selected engine appends for
 * --duration-ms after --warmup-ms, --repeats times, each time into a fresh
 * directory; the repeats are interleaved across engines (every engine's
 * repeat 1, then every engine's repeat 2, ...). Peers do not compress: they
 * run once per combination (with compression=none) and rill's zstd rows
 * are compared with those.
 *
 * Reported per run: records/s, MB/s of values, heap allocations per record
 * in the measured phase, peak RSS. Then ratios rill/peer and the issue's
 * targets (MET/MISS).
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Every repeat of one engine in one configuration. */
typedef struct append_run {
	const engine_ops *ops;
	int is_rill;
	int failed;
	int n;
	double rps[BENCH_REPEATS_MAX], mbps[BENCH_REPEATS_MAX], apr[BENCH_REPEATS_MAX];
	double aprx[BENCH_REPEATS_MAX], rolls[BENCH_REPEATS_MAX], rss[BENCH_REPEATS_MAX];
} append_run;

static void run_once(const bench_args *a, const bench_pool *pool, append_run *d, long rs,
                     long partitions, long producers, long batch, int compression, int rep)
{
	const engine_ops *ops = d->ops;
	bench_progress(a, "%s record=%ld batch=%ld partitions=%ld producers=%ld "
	               "%s repeat %d/%d", ops->name, rs, batch, partitions,
	               producers, compression && d->is_rill ? "zstd" : "none",
	               rep + 1, a->repeats);
	engine_params p;
	run_spec s;
	bench_timed_run_setup(a, pool, rs, partitions, producers, batch, &p, &s);
	p.compression = d->is_rill ? compression : 0;
	p.records_hint = a->count;
	p.sqlite_off = a->sqlite_off;
	run_result *r = malloc(sizeof *r);
	if (r == NULL)
		bench_die("out of memory");
	if (bench_fresh_run(a, ops, &p, &s, r) != 0 || r->records == 0) {
		bench_progress_done(a);
		printf("FAILED: %s record=%ld batch=%ld partitions=%ld producers=%ld: %s\n",
		       ops->name, rs, batch, partitions, producers,
		       r->failed ? r->error : "no record appended");
		free(r);
		d->failed = 1;
		return;
	}
	int n = d->n++;
	d->rps[n] = (double)r->records / r->seconds;
	d->mbps[n] = (double)r->records * (double)rs / r->seconds / 1e6;
	d->apr[n] = (double)r->allocs / (double)r->records;
	d->aprx[n] = bench_allocs_per_record_beyond_rolls(r);
	d->rolls[n] = (double)r->segment_rolls;
	d->rss[n] = r->rss_peak_mb;
	free(r);
}

/* One configuration, every engine, interleaved repeat by repeat (every
 * engine's repeat 1, then every engine's repeat 2, ...), so that the
 * machine's drifting speed reaches every engine alike. */
static void run_config(const bench_args *a, const bench_pool *pool, long rs,
                       long partitions, long producers, long batch, int compression)
{
	append_run *runs = calloc(16, sizeof *runs);
	if (runs == NULL)
		bench_die("out of memory");
	int engines = 0;
	for (int ei = 0; bench_engines[ei] != NULL && engines < 16; ei++) {
		const engine_ops *ops = bench_engines[ei];
		int is_rill = strcmp(ops->name, "rill") == 0;
		if (!bench_engine_selected(a, ops->name))
			continue;
		/* peers once per combination, on the first compression value */
		if (!is_rill && compression != a->compression.value[0])
			continue;
		runs[engines].ops = ops;
		runs[engines].is_rill = is_rill;
		engines++;
	}
	for (int rep = 0; rep < a->repeats; rep++)
		for (int e = 0; e < engines; e++)
			if (!runs[e].failed)
				run_once(a, pool, &runs[e], rs, partitions, producers, batch, compression,
				         rep);
	for (int e = 0; e < engines; e++) {
		append_run *d = &runs[e];
		int n = d->n;
		if (n == 0)
			continue;
		bench_cfg c = {"append", d->ops->name, rs, batch, partitions, producers,
		               d->is_rill && compression ? "zstd" : "none", 0, 0};
		bench_result(a, &c, "records_per_s", "rec/s", BENCH_HIGHER, d->rps, n);
		bench_result(a, &c, "mb_per_s", "MB/s", BENCH_NEUTRAL, d->mbps, n);
		bench_result(a, &c, "allocs_per_record", "allocs", BENCH_NEUTRAL, d->apr, n);
		bench_result(a, &c, "allocs_per_record_beyond_rolls", "allocs", BENCH_NEUTRAL,
		             d->aprx, n);
		bench_result(a, &c, "segment_rolls", "rolls", BENCH_NEUTRAL, d->rolls, n);
		bench_result(a, &c, "peak_rss", "MiB", BENCH_NEUTRAL, d->rss, n);
	}
	free(runs);
}

static void ratio_target(const bench_args *a, long rs, long batch, const char *peer,
                         double limit)
{
	double rill = bench_lookup("append", "rill", rs, batch, 1, 1, "none", 0,
	                           "records_per_s");
	double other = bench_lookup("append", peer, rs, batch, 1, 1, "none", 0,
	                            "records_per_s");
	if (isnan(rill) && isnan(other))
		return; /* configuration not run */
	char text[256];
	snprintf(text, sizeof text,
	         "non-durable append, %ldB records, batches of %ld, 1 partition, 1 "
	         "producer: rill/%s records/s (rill %.0f, %s %.0f)",
	         rs, batch, peer, rill, peer, other);
	bench_target_ratio(a, text, rill, other, limit, 1);
}

int main(int argc, char **argv)
{
	bench_args a = {0};
	a.record_size = (bench_list){2, {100, 1024}};
	a.batch = (bench_list){4, {1, 16, 256, 1000}};
	a.partitions = (bench_list){1, {1}};
	a.producers = (bench_list){1, {1}};
	a.compression = (bench_list){1, {0}};
	a.duration_ms = 300;
	a.warmup_ms = 50;
	a.repeats = 3;
	a.seed = 42;
	a.segment_bytes = 128 << 20;
	a.prealloc_mb = 256;
	a.sqlite_off = 1;
	bench_parse_args(&a, argc, argv);
	bench_print_header(&a, "append throughput, durability=os (OS decides when to flush)");

	bench_pool pool;
	bench_pool_init_for(&pool, &a);
	for (int ri = 0; ri < a.record_size.count; ri++)
		for (int pi = 0; pi < a.partitions.count; pi++)
			for (int ti = 0; ti < a.producers.count; ti++)
				for (int bi = 0; bi < a.batch.count; bi++)
					for (int ci = 0; ci < a.compression.count; ci++)
						run_config(&a, &pool, a.record_size.value[ri],
						           a.partitions.value[pi], a.producers.value[ti],
						           a.batch.value[bi], (int)a.compression.value[ci]);
	bench_progress_done(&a);
	bench_print_table("append");
	bench_print_ratios(&a, "append");

	printf("\n-- targets (issue 4)\n");
	ratio_target(&a, 100, 1000, "raw", 0.8);
	ratio_target(&a, 100, 1000, "lmdb", 1.0);
	ratio_target(&a, 100, 1000, "rocksdb", 5.0);
	ratio_target(&a, 100, 1000, "sqlite", 6.0);
	ratio_target(&a, 1024, 1000, "raw", 0.8);
	char where[256], text[512];
	int n;
	double v = bench_worst("append", "rill", "allocs_per_record_beyond_rolls", where,
	                       sizeof where, &n);
	if (n > 0) {
		snprintf(text, sizeof text,
		         "heap allocations per appended record after warm-up, beyond %d per "
		         "segment roll, rill, worst of %d configurations (must be 0): %s",
		         BENCH_ALLOCS_PER_ROLL, n, where);
		bench_target(&a, text, v, 0, 0, "");
	}
	bench_pool_free(&pool);
	return 0;
}
