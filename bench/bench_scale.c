/*
 * bench_scale.c — many partitions: 1, 100, 1,000 and 10,000 partitions in
 * one topic, appended to round-robin by one producer (--batch records per
 * call, --record-size values, durability=os).
 *
 * Reported per partition count: time to create the topic, appends/s,
 * records/s, heap allocations per record, file descriptors held by the
 * process during the run (above the count before opening) and rill's own
 * count (rill_store_stats .open_files), resident memory after the run and
 * its peak, time to close, and time to reopen the store and topic.
 * Segments are small and not preallocated (segment.bytes --segment-bytes,
 * segment.index.bytes 1 MiB, preallocate=false) so 10,000 partitions fit
 * any disk; --max-open-files sets rill's descriptor cache.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	bench_args a = {0};
	a.record_size = (bench_list){1, {100}};
	a.batch = (bench_list){1, {1}};
	a.partitions = (bench_list){4, {1, 100, 1000, 10000}};
	a.duration_ms = 1000;
	a.warmup_ms = 100;
	a.repeats = 1;
	a.seed = 42;
	a.segment_bytes = 16 << 20;
	bench_parse_args(&a, argc, argv);
	bench_print_header(&a, "scale: many partitions appended round-robin");
	long rs = a.record_size.value[0], batch = a.batch.value[0];
	bench_pool pool;
	bench_pool_init_for(&pool, &a);
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/scale", a.dir);
	long maxp = 0;
	for (int pi = 0; pi < a.partitions.count; pi++) {
		long P = a.partitions.value[pi];
		if (P > maxp)
			maxp = P;
		double create[BENCH_REPEATS_MAX], rps[BENCH_REPEATS_MAX], apr[BENCH_REPEATS_MAX], aprx[BENCH_REPEATS_MAX], rolls[BENCH_REPEATS_MAX];
		double fds[BENCH_REPEATS_MAX], rfiles[BENCH_REPEATS_MAX], rss[BENCH_REPEATS_MAX];
		double peak[BENCH_REPEATS_MAX], closems[BENCH_REPEATS_MAX], openms[BENCH_REPEATS_MAX];
		int n = 0;
		for (int rep = 0; rep < a.repeats; rep++) {
			bench_progress(&a, "%ld partitions, repeat %d/%d", P, rep + 1, a.repeats);
			bench_rmrf(dir);
			int fds0 = bench_open_fds();
			bench_rss_reset_peak();
			engine_params p = {0};
			p.dir = dir;
			p.partitions = (int)P;
			p.record_size = (size_t)rs;
			p.batch_max = (size_t)batch;
			p.segment_bytes = a.segment_bytes;
			p.segment_index_bytes = 1 << 20;
			p.preallocate = 0;
			p.retention_bytes = -1;
			/* The scale scenario shows the bound: a 256-descriptor cache unless -F says otherwise. */
			p.max_open_files = a.max_open_files > 0 ? a.max_open_files : 256;
			void *engine;
			uint64_t t0 = bench_now_ns();
			if (engine_rill.open(&engine, &p) != 0) {
				printf("FAILED: scale %ld partitions: %s\n", P, engine_errmsg());
				break;
			}
			create[n] = (double)(bench_now_ns() - t0) / 1e6;
			run_spec s = {0};
			s.ops = &engine_rill;
			s.engine = engine;
			s.pool = &pool;
			s.producers = 1;
			s.partitions = (int)P;
			s.record_size = (size_t)rs;
			s.batch = (size_t)batch;
			s.warmup_ms = a.warmup_ms;
			s.duration_ms = a.duration_ms;
			s.count = a.count;
			s.ts_base = (int64_t)time(NULL) * 1000;
			s.ts_per_ms = 16;
			run_result *r = malloc(sizeof *r);
			int rc = bench_run_appends(&s, r);
			int fds1 = bench_open_fds();
			rill_store_stats st;
			memset(&st, 0, sizeof st);
			rill_store_stats_get(&st, bench_rill_store(engine));
			rss[n] = bench_rss_mb();
			peak[n] = bench_rss_peak_mb();
			t0 = bench_now_ns();
			int crc = engine_rill.close(engine);
			closems[n] = (double)(bench_now_ns() - t0) / 1e6;
			if (crc != 0 || rc != 0 || r->records == 0) {
				printf("FAILED: scale %ld partitions: %s\n", P,
				       r->failed ? r->error : engine_errmsg());
				free(r);
				break;
			}
			rps[n] = (double)r->records / r->seconds;
			apr[n] = (double)r->allocs / (double)r->records;
			aprx[n] = bench_allocs_per_record_beyond_rolls(r);
			rolls[n] = (double)r->segment_rolls;
			fds[n] = fds1 - fds0;
			rfiles[n] = (double)st.open_files;
			free(r);
			p.reopen = 1;
			t0 = bench_now_ns();
			if (engine_rill.open(&engine, &p) != 0) {
				printf("FAILED: scale reopen %ld partitions: %s\n", P, engine_errmsg());
				break;
			}
			openms[n] = (double)(bench_now_ns() - t0) / 1e6;
			engine_rill.close(engine);
			n++;
		}
		bench_rmrf(dir);
		if (n == 0)
			continue;
		bench_cfg c = {"scale", "rill", rs, batch, P, 1, "none", 0, 0};
		bench_result(&a, &c, "records_per_s", "rec/s", BENCH_HIGHER, rps, n);
		bench_result(&a, &c, "create_ms", "ms", BENCH_LOWER, create, n);
		bench_result(&a, &c, "reopen_ms", "ms", BENCH_LOWER, openms, n);
		bench_result(&a, &c, "close_ms", "ms", BENCH_LOWER, closems, n);
		bench_result(&a, &c, "open_fds", "fds", BENCH_LOWER, fds, n);
		bench_result(&a, &c, "rill_open_files", "files", BENCH_NEUTRAL, rfiles, n);
		bench_result(&a, &c, "rss", "MiB", BENCH_LOWER, rss, n);
		bench_result(&a, &c, "peak_rss", "MiB", BENCH_LOWER, peak, n);
		bench_result(&a, &c, "allocs_per_record", "allocs", BENCH_NEUTRAL, apr, n);
		bench_result(&a, &c, "allocs_per_record_beyond_rolls", "allocs", BENCH_NEUTRAL, aprx, n);
		bench_result(&a, &c, "segment_rolls", "rolls", BENCH_NEUTRAL, rolls, n);
	}
	bench_progress_done(&a);
	bench_print_table("scale");
	printf("\n-- targets (issue 4)\n");
	char text[300];
	int cache = a.max_open_files > 0 ? a.max_open_files : 256;
	double f = bench_lookup("scale", "rill", rs, batch, maxp, 1, "none", 0, "open_fds");
	double m = bench_lookup("scale", "rill", rs, batch, maxp, 1, "none", 0, "peak_rss");
	if (!isnan(f) || !isnan(m)) {
		snprintf(text, sizeof text,
		         "%ld partitions open and appended to: file descriptors bounded by "
		         "the segment cache (max_open_files %d, + 32 for the store itself)",
		         maxp, cache);
		bench_target(&a, text, f, cache + 32, 0, " fds");
		snprintf(text, sizeof text,
		         "%ld partitions open and appended to: peak RSS of the process", maxp);
		bench_target(&a, text, m, 512, 0, " MiB");
	}
	double ap = bench_lookup("scale", "rill", rs, batch, maxp, 1, "none", 0,
	                         "allocs_per_record_beyond_rolls");
	if (!isnan(ap)) {
		snprintf(text, sizeof text,
		         "heap allocations per appended record after warm-up, beyond %d per "
		         "segment roll, %ld partitions round-robin (must be 0)",
		         BENCH_ALLOCS_PER_ROLL, maxp);
		bench_target(&a, text, ap, 0, 0, "");
	}
	bench_pool_free(&pool);
	return 0;
}
