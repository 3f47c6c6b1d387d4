/*
 * bench_durable.c — durable appends: every append call returns only after
 * its data is on stable storage (rill durability=append; raw files with
 * fdatasync per commit; SQLite synchronous=FULL; RocksDB sync=true; LMDB
 * default sync).
 *
 * One record per call (--batch 1) into one partition, by 1 producer
 * (commits/s and latency of a lone writer) and by 4, 16 and 64 concurrent
 * producers (group commit: records/s, fsyncs/s, records per fsync, latency
 * percentiles). Every call is timed; the distribution of all repeats goes
 * to cdf.csv for the latency chart. Repeats are interleaved across engines
 * (every engine's repeat 1, then every engine's repeat 2, ...), each a
 * fresh data directory.
 *
 * fsyncs_per_s: rill's own count (rill_partition_stats_get .fsyncs) and the
 * raw files' count; for the other peers the fsync/fdatasync calls the
 * process made. fsync_calls_per_s: those calls for every engine (rill's
 * may include directory and index syncs). LMDB also syncs its meta page
 * through O_DSYNC writes, which are not calls and are not counted.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Every repeat of one engine in one configuration. */
typedef struct durable_run {
	const engine_ops *ops;
	int failed;
	int n;
	double rps[BENCH_REPEATS_MAX], fps[BENCH_REPEATS_MAX], rpf[BENCH_REPEATS_MAX];
	double p50[BENCH_REPEATS_MAX], p99[BENCH_REPEATS_MAX], p999[BENCH_REPEATS_MAX];
	double pmax[BENCH_REPEATS_MAX], apr[BENCH_REPEATS_MAX], aprx[BENCH_REPEATS_MAX];
	double rolls[BENCH_REPEATS_MAX], rss[BENCH_REPEATS_MAX], calls[BENCH_REPEATS_MAX];
	bench_hist all;
} durable_run;

static void run_once(const bench_args *a, const bench_pool *pool, durable_run *d, long rs,
                     long partitions, long producers, long batch, int rep)
{
	const engine_ops *ops = d->ops;
	bench_progress(a, "%s record=%ld batch=%ld producers=%ld repeat %d/%d", ops->name, rs,
	               batch, producers, rep + 1, a->repeats);
	engine_params p;
	run_spec s;
	bench_timed_run_setup(a, pool, rs, partitions, producers, batch, &p, &s);
	p.durable = 1;
	s.latency = 1;
	run_result *r = malloc(sizeof *r);
	if (r == NULL)
		bench_die("out of memory");
	if (bench_fresh_run(a, ops, &p, &s, r) != 0 || r->records == 0) {
		bench_progress_done(a);
		printf("FAILED: %s record=%ld producers=%ld: %s\n", ops->name, rs, producers,
		       r->failed ? r->error : "no record appended");
		free(r);
		d->failed = 1;
		return;
	}
	uint64_t syncs = r->engine_syncs_known ? r->engine_syncs : r->fsync_calls;
	int n = d->n++;
	d->rps[n] = (double)r->records / r->seconds;
	d->fps[n] = (double)syncs / r->seconds;
	d->calls[n] = (double)r->fsync_calls / r->seconds;
	d->rpf[n] = syncs > 0 ? (double)r->records / (double)syncs : NAN;
	d->p50[n] = (double)hist_percentile(&r->latency, 50) / 1e3;
	d->p99[n] = (double)hist_percentile(&r->latency, 99) / 1e3;
	d->p999[n] = (double)hist_percentile(&r->latency, 99.9) / 1e3;
	d->pmax[n] = (double)r->latency.max / 1e3;
	d->apr[n] = (double)r->allocs / (double)r->records;
	d->aprx[n] = bench_allocs_per_record_beyond_rolls(r);
	d->rolls[n] = (double)r->segment_rolls;
	d->rss[n] = r->rss_peak_mb;
	hist_merge(&d->all, &r->latency);
	free(r);
}

/*
 * One configuration, every engine, interleaved repeat by repeat (every
 * engine's repeat 1, then every engine's repeat 2, ...): the disk's
 * latency drifts over minutes on a shared machine, and measured one
 * engine after another that drift landed in the ratios (a p99 ratio moved
 * from 0.8x to 1.5x between runs).
 */
static void run_config(const bench_args *a, const bench_pool *pool, long rs,
                       long partitions, long producers, long batch)
{
	durable_run *runs = calloc(16, sizeof *runs);
	if (runs == NULL)
		bench_die("out of memory");
	int engines = 0;
	for (int ei = 0; bench_engines[ei] != NULL && engines < 16; ei++)
		if (bench_engine_selected(a, bench_engines[ei]->name)) {
			runs[engines].ops = bench_engines[ei];
			hist_reset(&runs[engines].all);
			engines++;
		}
	for (int rep = 0; rep < a->repeats; rep++)
		for (int e = 0; e < engines; e++)
			if (!runs[e].failed)
				run_once(a, pool, &runs[e], rs, partitions, producers, batch, rep);
	for (int e = 0; e < engines; e++) {
		durable_run *d = &runs[e];
		int n = d->n;
		if (n == 0)
			continue;
		bench_cfg c = {"durable", d->ops->name, rs, batch, partitions, producers, "none", 1, 0};
		bench_result(a, &c, "records_per_s", "rec/s", BENCH_HIGHER, d->rps, n);
		bench_result(a, &c, "fsyncs_per_s", "1/s", BENCH_NEUTRAL, d->fps, n);
		bench_result(a, &c, "fsync_calls_per_s", "1/s", BENCH_NEUTRAL, d->calls, n);
		if (!isnan(d->rpf[0]))
			bench_result(a, &c, "records_per_fsync", "rec", BENCH_NEUTRAL, d->rpf, n);
		bench_result(a, &c, "lat_p50", "us", BENCH_LOWER, d->p50, n);
		bench_result(a, &c, "lat_p99", "us", BENCH_LOWER, d->p99, n);
		bench_result(a, &c, "lat_p99.9", "us", BENCH_LOWER, d->p999, n);
		bench_result(a, &c, "lat_max", "us", BENCH_LOWER, d->pmax, n);
		bench_result(a, &c, "allocs_per_record", "allocs", BENCH_NEUTRAL, d->apr, n);
		bench_result(a, &c, "allocs_per_record_beyond_rolls", "allocs", BENCH_NEUTRAL,
		             d->aprx, n);
		bench_result(a, &c, "segment_rolls", "rolls", BENCH_NEUTRAL, d->rolls, n);
		bench_result(a, &c, "peak_rss", "MiB", BENCH_NEUTRAL, d->rss, n);
		bench_write_cdf(a, &c, "append_latency", &d->all);
	}
	free(runs);
}

static double get(long producers, const char *engine, const char *metric)
{
	return bench_lookup("durable", engine, 100, 1, 1, producers, "none", 1, metric);
}

/*
 * Context for a group-commit target: what the same 16 producers reach on
 * the preallocated raw file (the physical limit, with a group
 * commit that waits for its group as rill's does) in this run, so a MISS
 * shows whether the disk and the machine's scheduling let anything get
 * near the figure asked for.
 */
static void group_context(double needed, const char *what, double raw16, double raw1,
                          double rill16)
{
	if (isnan(needed) || isnan(raw16) || raw16 <= 0)
		return;
	printf("      context: %s is %.0f records/s, %.2fx what the preallocated raw file "
	       "reaches with the same 16 producers and the same group commit (%.0f, %.1fx its "
	       "one producer); rill reaches %.0f\n",
	       what, needed, needed / raw16, raw16, isnan(raw1) || raw1 <= 0 ? NAN : raw16 / raw1,
	       rill16);
}

int main(int argc, char **argv)
{
	bench_args a = {0};
	a.record_size = (bench_list){1, {100}};
	a.batch = (bench_list){1, {1}};
	a.partitions = (bench_list){1, {1}};
	a.producers = (bench_list){4, {1, 4, 16, 64}};
	a.compression = (bench_list){1, {0}};
	a.durable = 1;
	a.duration_ms = 500;
	a.warmup_ms = 50;
	a.repeats = 3;
	a.seed = 42;
	a.segment_bytes = 128 << 20;
	a.prealloc_mb = 64;
	bench_parse_args(&a, argc, argv);
	a.durable = 1;
	bench_print_header(&a, "durable appends (acknowledged after fdatasync), one record per call");

	bench_pool pool;
	bench_pool_init_for(&pool, &a);
	for (int ri = 0; ri < a.record_size.count; ri++)
		for (int pi = 0; pi < a.partitions.count; pi++)
			for (int bi = 0; bi < a.batch.count; bi++)
				for (int ti = 0; ti < a.producers.count; ti++)
					run_config(&a, &pool, a.record_size.value[ri],
					           a.partitions.value[pi], a.producers.value[ti],
					           a.batch.value[bi]);
	bench_progress_done(&a);
	bench_print_table("durable");
	bench_print_ratios(&a, "durable");

	printf("\n-- targets (issue 4)\n");
	char text[600];
	double r1 = get(1, "rill", "records_per_s"), pre1 = get(1, "rawpre", "records_per_s");
	if (!isnan(r1) || !isnan(pre1)) {
		snprintf(text, sizeof text,
		         "durable append, 1 producer, 1 record per call: rill/rawpre commits/s "
		         "(rill %.0f, preallocated raw file + fdatasync %.0f, SQLite FULL %.0f)",
		         r1, pre1, get(1, "sqlite", "records_per_s"));
		bench_target_ratio(&a, text, r1, pre1, 0.9, 1);
		double l1 = get(1, "rill", "lat_p99"), lp = get(1, "rawpre", "lat_p99");
		snprintf(text, sizeof text,
		         "durable append, 1 producer: rill/rawpre p99 latency (rill %.1f us, "
		         "rawpre %.1f us)", l1, lp);
		bench_target_ratio(&a, text, l1, lp, 1.25, 0);
	}
	double r16 = get(16, "rill", "records_per_s");
	double pre16 = get(16, "rawpre", "records_per_s");
	if (!isnan(r16)) {
		snprintf(text, sizeof text,
		         "durable append, 16 producers vs 1 producer, rill records/s (%.0f vs "
		         "%.0f): group commit", r16, r1);
		bench_target_ratio(&a, text, r16, r1, 10, 1);
		group_context(10 * r1, "10x rill's one producer", pre16, pre1, r16);
		const char *peers[] = {"sqlite", "rocksdb"};
		for (int i = 0; i < 2; i++) {
			double p16 = get(16, peers[i], "records_per_s");
			snprintf(text, sizeof text,
			         "durable append, 16 producers: rill/%s records/s (rill %.0f, %s %.0f)",
			         peers[i], r16, peers[i], p16);
			bench_target_ratio(&a, text, r16, p16, 10, 1);
			char what[64];
			snprintf(what, sizeof what, "10x %s", peers[i]);
			group_context(10 * p16, what, pre16, pre1, r16);
		}
	}
	char where[256];
	int n;
	double v = bench_worst("durable", "rill", "allocs_per_record_beyond_rolls", where,
	                       sizeof where, &n);
	if (n > 0) {
		snprintf(text, sizeof text,
		         "heap allocations per durable append after warm-up, beyond %d per "
		         "segment roll, rill, worst of %d configurations (must be 0): %s",
		         BENCH_ALLOCS_PER_ROLL, n, where);
		bench_target(&a, text, v, 0, 0, "");
	}
	bench_pool_free(&pool);
	return 0;
}
