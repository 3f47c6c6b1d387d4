/*
 * bench_tail.c — reading while appending: the time from the start of an
 * append call to the moment a tailing reader in another thread has the
 * record in hand.
 *
 * A writer appends one record per call at --rate records per second (0:
 * as fast as it can) for --duration-ms; each value starts with the
 * monotonic time taken just before the append. A reader thread follows
 * the partition and subtracts.
 *   rill  reader at RILL_START_LATEST; rill_reader_next until RILL_EAGAIN,
 *         then rill_reader_wait (blocking on the partition's notification)
 *   raw   the limit: pwrite of a framed record, publish the new end with a
 *         release store, write(eventfd); the reader blocks in read(eventfd)
 *         and preads the frames up to the published end
 * Durability is --durability (os by default; append adds the fdatasync to
 * the latency for rill and raw alike).
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

typedef struct tail_run {
	const bench_args *a;
	const bench_pool *pool;
	size_t record_size;
	uint64_t expected;        /* records the writer will append */
	atomic_uint_fast64_t written;
	atomic_int writer_done;
	bench_hist hist;
	uint64_t received;
	int failed;
	char error[256];
	/* rill */
	rill_topic *topic;
	/* raw */
	int fd, efd;
	atomic_uint_fast64_t end; /* published end of the raw file */
} tail_run;

static void *rill_tail_reader(void *arg)
{
	tail_run *t = arg;
	rill_reader *r;
	int rc = rill_reader_open(&r, t->topic, 0, 0);
	if (rc != 0) {
		snprintf(t->error, sizeof t->error, "reader_open: %s", rill_errmsg());
		t->failed = 1;
		return NULL;
	}
	rill_record rec;
	while (t->received < t->expected) {
		rc = rill_reader_next(r, &rec);
		if (rc == 0) {
			uint64_t now = bench_now_ns(), stamp;
			memcpy(&stamp, rec.value, sizeof stamp);
			hist_add(&t->hist, now - stamp);
			t->received++;
			continue;
		}
		if (rc != RILL_EAGAIN) {
			snprintf(t->error, sizeof t->error, "reader_next: %s", rill_errmsg());
			t->failed = 1;
			break;
		}
		if (atomic_load(&t->writer_done) &&
		    t->received >= atomic_load(&t->written))
			break;
		rc = rill_reader_wait(r, 100);
		if (rc != 0 && rc != RILL_ETIMEDOUT) {
			snprintf(t->error, sizeof t->error, "reader_wait: %s", rill_errmsg());
			t->failed = 1;
			break;
		}
	}
	rill_reader_close(r);
	return NULL;
}

static void *raw_tail_reader(void *arg)
{
	tail_run *t = arg;
	uint64_t pos = 0;
	size_t frame = 12 + t->record_size;
	uint8_t *buf = malloc(frame * 4096);
	if (buf == NULL)
		return NULL;
	while (t->received < t->expected) {
		uint64_t end = atomic_load_explicit(&t->end, memory_order_acquire);
		if (pos == end) {
			if (atomic_load(&t->writer_done))
				break;
			uint64_t v;
			if (read(t->efd, &v, sizeof v) < 0 && errno != EINTR)
				break;
			continue;
		}
		size_t len = (size_t)(end - pos);
		if (len > frame * 4096)
			len = frame * 4096;
		if (pread(t->fd, buf, len, (off_t)pos) != (ssize_t)len) {
			t->failed = 1;
			snprintf(t->error, sizeof t->error, "pread failed");
			break;
		}
		for (size_t off = 0; off + frame <= len; off += frame) {
			uint64_t sum, stamp;
			memcpy(&sum, buf + off + 4, 8);
			if (XXH3_64bits(buf + off + 12, t->record_size) != sum) {
				t->failed = 1;
				snprintf(t->error, sizeof t->error, "checksum mismatch");
				break;
			}
			memcpy(&stamp, buf + off + 12, sizeof stamp);
			hist_add(&t->hist, bench_now_ns() - stamp);
			t->received++;
		}
		pos += len / frame * frame;
	}
	free(buf);
	return NULL;
}

/* Pace the writer: wait until record i's slot (busy for the last 50 us). */
static void pace(uint64_t start, uint64_t i, double rate)
{
	if (rate <= 0)
		return;
	uint64_t due = start + (uint64_t)((double)i * 1e9 / rate);
	for (;;) {
		uint64_t now = bench_now_ns();
		if (now >= due)
			return;
		if (due - now > 100000)
			bench_sleep_ms((double)(due - now - 50000) / 1e6);
	}
}

static int run_rill(tail_run *t)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/rill", t->a->dir);
	bench_rmrf(dir);
	engine_params p = {0};
	p.dir = dir;
	p.partitions = 1;
	p.durable = t->a->durable;
	p.record_size = t->record_size;
	p.batch_max = 1;
	p.segment_bytes = t->a->segment_bytes;
	p.preallocate = 1;
	p.retention_bytes = -1;
	void *engine;
	if (engine_rill.open(&engine, &p) != 0) {
		snprintf(t->error, sizeof t->error, "%s", engine_errmsg());
		return -1;
	}
	t->topic = bench_rill_topic(engine);
	pthread_t reader;
	pthread_create(&reader, NULL, rill_tail_reader, t);
	bench_sleep_ms(5); /* the reader is waiting */
	uint8_t *value = malloc(t->record_size);
	rill_record rec = {0};
	rec.value = value;
	rec.value_len = t->record_size;
	uint64_t start = bench_now_ns();
	int rc = 0;
	for (uint64_t i = 0; i < t->expected && !t->failed; i++) {
		pace(start, i, t->a->rate);
		memcpy(value, bench_value(t->pool, i), t->record_size);
		uint64_t now = bench_now_ns();
		memcpy(value, &now, sizeof now);
		rec.timestamp_ms = (int64_t)time(NULL) * 1000;
		rc = rill_append(NULL, t->topic, 0, &rec, 1, 0);
		if (rc != 0) {
			snprintf(t->error, sizeof t->error, "append: %s", rill_errmsg());
			t->failed = 1;
			break;
		}
		atomic_fetch_add(&t->written, 1);
	}
	atomic_store(&t->writer_done, 1);
	pthread_join(reader, NULL);
	free(value);
	engine_rill.close(engine);
	bench_rmrf(dir);
	return t->failed ? -1 : 0;
}

static int run_raw(tail_run *t)
{
	char dir[4096], path[4200];
	snprintf(dir, sizeof dir, "%s/raw", t->a->dir);
	bench_rmrf(dir);
	bench_mkdirs(dir);
	snprintf(path, sizeof path, "%s/p0.log", dir);
	t->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	t->efd = eventfd(0, 0);
	if (t->fd < 0 || t->efd < 0) {
		snprintf(t->error, sizeof t->error, "open: %s", strerror(errno));
		return -1;
	}
	pthread_t reader;
	pthread_create(&reader, NULL, raw_tail_reader, t);
	bench_sleep_ms(5);
	size_t frame = 12 + t->record_size;
	uint8_t *buf = malloc(frame);
	uint64_t start = bench_now_ns(), pos = 0;
	for (uint64_t i = 0; i < t->expected && !t->failed; i++) {
		pace(start, i, t->a->rate);
		uint64_t now = bench_now_ns();
		uint32_t len = (uint32_t)t->record_size;
		memcpy(buf + 12, bench_value(t->pool, i), t->record_size);
		memcpy(buf + 12, &now, sizeof now);
		uint64_t sum = XXH3_64bits(buf + 12, t->record_size);
		memcpy(buf, &len, 4);
		memcpy(buf + 4, &sum, 8);
		if (pwrite(t->fd, buf, frame, (off_t)pos) != (ssize_t)frame ||
		    (t->a->durable && fdatasync(t->fd) != 0)) {
			t->failed = 1;
			snprintf(t->error, sizeof t->error, "write: %s", strerror(errno));
			break;
		}
		pos += frame;
		atomic_store_explicit(&t->end, pos, memory_order_release);
		uint64_t one = 1;
		if (write(t->efd, &one, sizeof one) != sizeof one)
			t->failed = 1;
		atomic_fetch_add(&t->written, 1);
	}
	atomic_store(&t->writer_done, 1);
	uint64_t one = 1;
	if (write(t->efd, &one, sizeof one) != sizeof one)
		t->failed = 1;
	pthread_join(reader, NULL);
	free(buf);
	close(t->fd);
	close(t->efd);
	bench_rmrf(dir);
	return t->failed ? -1 : 0;
}

int main(int argc, char **argv)
{
	bench_args a = {0};
	a.record_size = (bench_list){1, {100}};
	a.duration_ms = 1000;
	a.rate = 10000;
	a.repeats = 3;
	a.seed = 42;
	a.segment_bytes = 128 << 20;
	bench_parse_args(&a, argc, argv);
	bench_print_header(&a, "reading while appending: append-to-tailing-reader latency");
	long rs = a.record_size.value[0];
	if (rs < 8)
		bench_die("--record-size must be at least 8 (the value carries a timestamp)");
	bench_pool pool;
	bench_pool_init_for(&pool, &a);
	uint64_t expected = a.rate > 0 ? (uint64_t)(a.rate * a.duration_ms / 1000.0)
	                               : 100000;
	if (a.count > 0 && (a.rate <= 0 || a.count < expected))
		expected = a.count;
	if (expected == 0)
		expected = 1;
	const char *engines[] = {"rill", "raw"};
	for (int e = 0; e < 2; e++) {
		if (!bench_engine_selected(&a, engines[e]))
			continue;
		double p50[BENCH_REPEATS_MAX], p99[BENCH_REPEATS_MAX], p999[BENCH_REPEATS_MAX];
		double pmax[BENCH_REPEATS_MAX], rps[BENCH_REPEATS_MAX];
		bench_hist *all = malloc(sizeof *all);
		hist_reset(all);
		int n = 0;
		for (int rep = 0; rep < a.repeats; rep++) {
			bench_progress(&a, "%s: %llu records at %.0f/s, repeat %d/%d", engines[e],
			               (unsigned long long)expected, a.rate, rep + 1, a.repeats);
			tail_run *t = calloc(1, sizeof *t);
			t->a = &a;
			t->pool = &pool;
			t->record_size = (size_t)rs;
			t->expected = expected;
			hist_reset(&t->hist);
			uint64_t t0 = bench_now_ns();
			int rc = e == 0 ? run_rill(t) : run_raw(t);
			double sec = (double)(bench_now_ns() - t0) / 1e9;
			if (rc != 0 || t->received != expected) {
				bench_progress_done(&a);
				printf("FAILED: tail %s: %s (received %llu of %llu)\n", engines[e],
				       t->error, (unsigned long long)t->received,
				       (unsigned long long)expected);
				free(t);
				break;
			}
			p50[n] = (double)hist_percentile(&t->hist, 50) / 1e3;
			p99[n] = (double)hist_percentile(&t->hist, 99) / 1e3;
			p999[n] = (double)hist_percentile(&t->hist, 99.9) / 1e3;
			pmax[n] = (double)t->hist.max / 1e3;
			rps[n] = (double)t->received / sec;
			hist_merge(all, &t->hist);
			n++;
			free(t);
		}
		if (n > 0) {
			bench_cfg c = {"tail", engines[e], rs, 1, 1, 1, "none", a.durable, 0};
			bench_result(&a, &c, "lat_p50", "us", BENCH_LOWER, p50, n);
			bench_result(&a, &c, "lat_p99", "us", BENCH_LOWER, p99, n);
			bench_result(&a, &c, "lat_p99.9", "us", BENCH_LOWER, p999, n);
			bench_result(&a, &c, "lat_max", "us", BENCH_LOWER, pmax, n);
			bench_result(&a, &c, "records_per_s", "rec/s", BENCH_NEUTRAL, rps, n);
			bench_write_cdf(&a, &c, "tail_latency", all);
		}
		free(all);
	}
	bench_progress_done(&a);
	bench_print_table("tail");
	bench_print_ratios(&a, "tail");
	bench_pool_free(&pool);
	return 0;
}
