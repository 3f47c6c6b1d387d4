/*
 * bench_recovery.c — how long opening a store takes, after a clean
 * shutdown and after kill -9 of the writer, for stores of growing size.
 *
 * For every --sizes-mb and --partitions: a fresh store is filled with that
 * many MB of --record-size values (round-robin over the partitions,
 * batches of --batch, durability=os, segment.bytes --segment-bytes) and
 * closed cleanly. Then, --repeats times each:
 *   clean    time rill_store_open + rill_topic_open; bytes the open
 *            validated (rill_store_stats .recovered_bytes_scanned); close
 *   unclean  a forked child opens the store, appends --unclean-mb more,
 *            calls rill_sync, tells the parent, keeps appending; the parent
 *            kills it with SIGKILL, then times the open as above and
 *            records bytes scanned and cut, and the data written since the
 *            last clean close (from the log end offsets); then closes
 *            cleanly (the next repeat starts from that clean point)
 * The data is in the page cache (just written): this measures the work
 * recovery does, not the disk.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOPIC "bench"

static uint64_t total_records(rill_topic *topic, int partitions)
{
	uint64_t n = 0;
	for (int i = 0; i < partitions; i++) {
		rill_offsets o;
		if (rill_partition_offsets(&o, topic, i) == 0)
			n += o.log_end - o.log_start;
	}
	return n;
}

/* open store + topic, timed; fills stats; returns ms or NAN */
static double timed_open(const char *dir, rill_store **out_store, rill_topic **out_topic,
                         rill_store_stats *stats)
{
	uint64_t t0 = bench_now_ns();
	int rc = rill_store_open(out_store, dir, NULL);
	if (rc == 0)
		rc = rill_topic_open(out_topic, *out_store, TOPIC);
	uint64_t t1 = bench_now_ns();
	if (rc != 0) {
		printf("FAILED: recovery open %s: %s (%s)\n", dir, rill_strerror(rc),
		       rill_errmsg());
		return NAN;
	}
	memset(stats, 0, sizeof *stats);
	rill_store_stats_get(stats, *out_store);
	return (double)(t1 - t0) / 1e6;
}

/* the child: append `bytes`, sync, signal, keep appending until killed */
static void child_writer(const char *dir, int partitions, long rs, long batch,
                         const bench_pool *pool, uint64_t bytes, int ready_fd)
{
	rill_store *store;
	rill_topic *topic;
	if (rill_store_open(&store, dir, NULL) != 0 ||
	    rill_topic_open(&topic, store, TOPIC) != 0) {
		dprintf(2, "child: open failed: %s\n", rill_errmsg());
		_exit(1);
	}
	rill_record *recs = calloc((size_t)batch, sizeof *recs);
	uint64_t written = 0, seq = 0, k = 0;
	int signalled = 0;
	uint64_t limit = bytes * 4 + (64u << 20); /* stop growing if never killed */
	while (written < limit) {
		for (long i = 0; i < batch; i++, seq++) {
			recs[i].value = bench_value(pool, seq);
			recs[i].value_len = (size_t)rs;
			recs[i].timestamp_ms = (int64_t)time(NULL) * 1000;
		}
		int rc = rill_append(NULL, topic, (int32_t)(k++ % (uint64_t)partitions), recs,
		                     (size_t)batch, 0);
		if (rc != 0) {
			dprintf(2, "child: append failed: %s\n", rill_errmsg());
			_exit(1);
		}
		written += (uint64_t)(rs * batch);
		if (!signalled && written >= bytes) {
			if (rill_sync(topic, -1) != 0)
				_exit(1);
			if (write(ready_fd, "r", 1) != 1)
				_exit(1);
			signalled = 1;
		}
	}
	pause();
	_exit(0);
}

int main(int argc, char **argv)
{
	bench_args a = {0};
	a.record_size = (bench_list){1, {1024}};
	a.batch = (bench_list){1, {100}};
	a.partitions = (bench_list){2, {1, 100}};
	a.sizes_mb = (bench_list){2, {64, 512}};
	a.unclean_mb = 16;
	a.repeats = 3;
	a.seed = 42;
	a.segment_bytes = 8 << 20;
	bench_parse_args(&a, argc, argv);
	bench_print_header(&a, "recovery: open after clean shutdown and after kill -9");
	long rs = a.record_size.value[0], batch = a.batch.value[0];
	bench_pool pool;
	bench_pool_init_for(&pool, &a);
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/recovery", a.dir);
	/* per partitions value: results of the smallest and largest store */
	typedef struct target {
		char text[2][400];
		double value[2];
	} target;
	target targets[BENCH_LIST_MAX];
	int target_count = 0;
	for (int pi = 0; pi < a.partitions.count; pi++) {
		long P = a.partitions.value[pi];
		double clean_first = NAN, clean_last = NAN, unclean_last_scanned = NAN;
		double unclean_last_since = NAN, clean_first_ms = NAN, clean_last_ms = NAN;
		double unclean_first_scanned = NAN;
		long first_mb = 0, last_mb = 0;
		for (int si = 0; si < a.sizes_mb.count; si++) {
			long mb = a.sizes_mb.value[si];
			bench_rmrf(dir);
			bench_progress(&a, "partitions=%ld: writing %ld MB", P, mb);
			engine_params p = {0};
			p.dir = dir;
			p.partitions = (int)P;
			p.record_size = (size_t)rs;
			p.batch_max = (size_t)batch;
			p.segment_bytes = a.segment_bytes;
			p.preallocate = 1;
			p.retention_bytes = -1;
			p.max_open_files = a.max_open_files;
			void *engine;
			if (engine_rill.open(&engine, &p) != 0) {
				printf("FAILED: recovery create: %s\n", engine_errmsg());
				continue;
			}
			run_spec s = {0};
			s.ops = &engine_rill;
			s.engine = engine;
			s.pool = &pool;
			s.producers = 1;
			s.partitions = (int)P;
			s.record_size = (size_t)rs;
			s.batch = (size_t)batch;
			s.count = (uint64_t)mb * (1u << 20) / (uint64_t)rs;
			s.ts_base = (int64_t)time(NULL) * 1000;
			s.ts_per_ms = 16;
			run_result *r = malloc(sizeof *r);
			int rc = bench_run_appends(&s, r);
			if (engine_rill.close(engine) != 0 || rc != 0) {
				printf("FAILED: recovery fill: %s\n", r->failed ? r->error : engine_errmsg());
				free(r);
				continue;
			}
			free(r);

			double c_ms[BENCH_REPEATS_MAX], c_scan[BENCH_REPEATS_MAX];
			double u_ms[BENCH_REPEATS_MAX], u_scan[BENCH_REPEATS_MAX];
			double u_since[BENCH_REPEATS_MAX], u_cut[BENCH_REPEATS_MAX];
			double c_clean[BENCH_REPEATS_MAX], u_clean[BENCH_REPEATS_MAX];
			int cn = 0, un = 0;
			for (int rep = 0; rep < a.repeats; rep++) {
				bench_progress(&a, "partitions=%ld %ld MB: clean open %d/%d", P, mb,
				               rep + 1, a.repeats);
				rill_store *store;
				rill_topic *topic;
				rill_store_stats st;
				double ms = timed_open(dir, &store, &topic, &st);
				if (isnan(ms))
					break;
				c_ms[cn] = ms;
				c_scan[cn] = (double)st.recovered_bytes_scanned / 1048576.0;
				c_clean[cn] = st.clean_open;
				cn++;
				rill_topic_close(topic);
				rill_store_close(store);
			}
			for (int rep = 0; rep < a.repeats; rep++) {
				bench_progress(&a, "partitions=%ld %ld MB: kill -9 and open %d/%d", P,
				               mb, rep + 1, a.repeats);
				/* records at the clean point */
				rill_store *store;
				rill_topic *topic;
				rill_store_stats st;
				if (isnan(timed_open(dir, &store, &topic, &st)))
					break;
				uint64_t before = total_records(topic, (int)P);
				rill_topic_close(topic);
				rill_store_close(store);
				int fds[2];
				if (pipe(fds) != 0)
					bench_die("pipe: %s", strerror(errno));
				fflush(stdout);
				pid_t pid = fork();
				if (pid == 0) {
					close(fds[0]);
					child_writer(dir, (int)P, rs, batch, &pool,
					             (uint64_t)(a.unclean_mb * 1048576.0), fds[1]);
				}
				close(fds[1]);
				struct pollfd pfd = {fds[0], POLLIN, 0};
				char c;
				int ready = poll(&pfd, 1, 120000) == 1 && read(fds[0], &c, 1) == 1;
				close(fds[0]);
				bench_sleep_ms(10); /* let it get into the next appends */
				kill(pid, SIGKILL);
				int status;
				waitpid(pid, &status, 0);
				if (!ready) {
					printf("FAILED: recovery writer child did not get ready\n");
					break;
				}
				double ms = timed_open(dir, &store, &topic, &st);
				if (isnan(ms))
					break;
				uint64_t after = total_records(topic, (int)P);
				u_ms[un] = ms;
				u_scan[un] = (double)st.recovered_bytes_scanned / 1048576.0;
				u_cut[un] = (double)st.recovered_bytes_cut / 1024.0;
				u_since[un] = (double)(after - before) * (double)rs / 1048576.0;
				u_clean[un] = st.clean_open;
				un++;
				rill_topic_close(topic);
				rill_store_close(store);
			}
			bench_cfg cfg = {"recovery_clean", "rill", rs, batch, P, 1, "none", 0, mb};
			if (cn > 0) {
				bench_result(&a, &cfg, "open_ms", "ms", BENCH_LOWER, c_ms, cn);
				bench_result(&a, &cfg, "scanned_mb", "MiB", BENCH_LOWER, c_scan, cn);
				bench_result(&a, &cfg, "clean_flag", "bool", BENCH_NEUTRAL, c_clean, cn);
				double sc, lo, hi, ms;
				bench_stats(c_scan, cn, &sc, &lo, &hi);
				bench_stats(c_ms, cn, &ms, &lo, &hi);
				if (si == 0) {
					clean_first = sc;
					clean_first_ms = ms;
					first_mb = mb;
				}
				clean_last = sc;
				clean_last_ms = ms;
				last_mb = mb;
			}
			cfg.scenario = "recovery_unclean";
			if (un > 0) {
				bench_result(&a, &cfg, "open_ms", "ms", BENCH_LOWER, u_ms, un);
				bench_result(&a, &cfg, "scanned_mb", "MiB", BENCH_LOWER, u_scan, un);
				bench_result(&a, &cfg, "written_since_clean_mb", "MiB", BENCH_NEUTRAL,
				             u_since, un);
				bench_result(&a, &cfg, "cut_kb", "KiB", BENCH_NEUTRAL, u_cut, un);
				bench_result(&a, &cfg, "clean_flag", "bool", BENCH_NEUTRAL, u_clean, un);
				double lo, hi;
				bench_stats(u_scan, un, &unclean_last_scanned, &lo, &hi);
				bench_stats(u_since, un, &unclean_last_since, &lo, &hi);
				if (si == 0)
					unclean_first_scanned = unclean_last_scanned;
			}
		}
		bench_rmrf(dir);
		bench_progress_done(&a);
		target *t = &targets[target_count++];
		snprintf(t->text[0], sizeof t->text[0],
		         "open after a clean shutdown does not scan the data: MiB validated "
		         "at open per MiB stored, %ld partitions, %ld MB store (scanned %.2f "
		         "MiB; %ld MB store: %.2f MiB; open %.2f ms vs %.2f ms)",
		         P, last_mb, clean_last, first_mb, clean_first, clean_last_ms,
		         clean_first_ms);
		t->value[0] = clean_last / (double)last_mb;
		double allowance = unclean_last_since +
		                   (double)P * (double)a.segment_bytes / 1048576.0;
		snprintf(t->text[1], sizeof t->text[1],
		         "open after kill -9 scans only what was written since the last "
		         "recovery point: MiB scanned / (MiB written since the clean close + "
		         "one segment per partition), %ld partitions, %ld MB store (scanned "
		         "%.1f MiB, written since %.1f MiB; %ld MB store scanned %.1f MiB)",
		         P, last_mb, unclean_last_scanned, unclean_last_since, first_mb,
		         unclean_first_scanned);
		t->value[1] = unclean_last_scanned / allowance;
	}
	bench_print_table("recovery_clean");
	bench_print_table("recovery_unclean");
	printf("\n-- targets (issue 4)\n");
	for (int i = 0; i < target_count; i++) {
		bench_target(&a, targets[i].text[0], targets[i].value[0], 0.01, 0, "");
		bench_target(&a, targets[i].text[1], targets[i].value[1], 1.0, 0, "");
	}
	bench_pool_free(&pool);
	return 0;
}
