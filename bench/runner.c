/*
 * runner.c — producers appending to an engine: the measured loop every
 * append scenario shares.
 *
 * Phases, switched by the main thread through one atomic:
 *   0 warm-up    producers append; nothing is counted (first-call
 *                allocations, page faults, file growth settle here)
 *   1 measured   producers count records, calls and (optionally) per-call
 *                latency in their own histogram; the main thread samples
 *                the allocation and fsync counters at both ends
 *   2 stop       producers return
 * The measured phase ends after duration_ms, or when every producer has
 * appended its share of `count`, whichever is first. Nothing in the loop
 * allocates: records point into the shared pool, timestamps are computed.
 */
#include "bench.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct producer {
	pthread_t thread;
	const run_spec *spec;
	atomic_int *phase;
	atomic_int *finished;     /* producers done */
	int index;
	uint64_t limit;           /* measured records for this producer, 0 none */
	uint64_t records;         /* measured */
	uint64_t calls;
	_Atomic uint64_t warm_calls; /* appends before the measured phase */
	uint64_t end_ns;          /* when it reached its limit */
	int failed;
	char error[512];
	bench_hist hist;
	bench_rec *recs;
} producer;

static void *produce(void *arg)
{
	producer *p = arg;
	const run_spec *s = p->spec;
	void *handle = NULL;
	if (s->ops->handle_open(&handle, s->engine, 0) != 0) {
		p->failed = 1;
		snprintf(p->error, sizeof p->error, "%s handle: %s", s->ops->name,
		         engine_errmsg());
		atomic_fetch_add(p->finished, 1);
		return NULL;
	}
	uint64_t seq = (uint64_t)p->index << 40;
	uint64_t ts_seq = 0;
	uint64_t k = 0;
	int T = s->producers, P = s->partitions;
	while (atomic_load_explicit(p->phase, memory_order_relaxed) != 2) {
		for (size_t i = 0; i < s->batch; i++, seq++, ts_seq++) {
			p->recs[i].value = bench_value(s->pool, seq);
			p->recs[i].len = s->record_size;
			p->recs[i].ts = s->ts_base + (int64_t)(ts_seq / s->ts_per_ms);
		}
		int partition = (int)(((uint64_t)p->index + k * (uint64_t)T) % (uint64_t)P);
		k++;
		uint64_t t0 = s->latency ? bench_now_ns() : 0;
		int rc = s->ops->append(handle, partition, p->recs, s->batch);
		uint64_t t1 = s->latency ? bench_now_ns() : 0;
		if (rc != 0) {
			p->failed = 1;
			snprintf(p->error, sizeof p->error, "%s append: %s", s->ops->name,
			         engine_errmsg());
			break;
		}
		int ph = atomic_load_explicit(p->phase, memory_order_relaxed);
		if (ph == 0)
			atomic_fetch_add_explicit(&p->warm_calls, 1, memory_order_relaxed);
		if (ph == 1) {
			p->records += s->batch;
			p->calls++;
			if (s->latency)
				hist_add(&p->hist, t1 - t0);
			if (p->limit != 0 && p->records >= p->limit) {
				p->end_ns = bench_now_ns();
				break;
			}
		}
	}
	if (p->end_ns == 0)
		p->end_ns = bench_now_ns();
	s->ops->handle_close(handle);
	atomic_fetch_add(p->finished, 1);
	return NULL;
}

int bench_run_appends(const run_spec *s, run_result *r)
{
	memset(r, 0, sizeof *r);
	hist_reset(&r->latency);
	int T = s->producers;
	producer *prod = calloc((size_t)T, sizeof *prod);
	if (prod == NULL)
		bench_die("out of memory");
	atomic_int phase = s->warmup_ms > 0 ? 0 : 1;
	atomic_int finished = 0;
	for (int t = 0; t < T; t++) {
		producer *p = &prod[t];
		p->spec = s;
		p->phase = &phase;
		p->finished = &finished;
		p->index = t;
		if (s->count > 0) {
			p->limit = s->count / (uint64_t)T;
			if (p->limit < s->batch)
				p->limit = s->batch;
		}
		hist_reset(&p->hist);
		p->recs = calloc(s->batch, sizeof *p->recs);
		if (p->recs == NULL)
			bench_die("out of memory");
	}
	uint64_t allocs0 = 0, fsyncs0 = 0, syncs0 = 0, segments0 = 0, t0 = 0;
	if (phase == 1) {
		segments0 = s->ops->segments != NULL ? s->ops->segments(s->engine) : 0;
		allocs0 = bench_allocs();
		fsyncs0 = bench_fsyncs();
		syncs0 = s->ops->syncs != NULL ? s->ops->syncs(s->engine) : 0;
		t0 = bench_now_ns();
	}
	for (int t = 0; t < T; t++)
		if (pthread_create(&prod[t].thread, NULL, produce, &prod[t]) != 0)
			bench_die("pthread_create failed");
	if (phase == 0) {
		bench_sleep_ms(s->warmup_ms);
		/* And until every producer has appended to each of its partitions
		 * and once more: a first append's allocations (an encoder's
		 * buffers, a partition's index) are warm-up, not the steady
		 * state, even when one call outlasts --warmup-ms (16 MB zstd
		 * batches take ~100 ms). Bounded, for engines that stall. */
		uint64_t want = (uint64_t)((s->partitions + T - 1) / T) + 1;
		uint64_t give_up = bench_now_ns() + 30 * (uint64_t)1000000000;
		for (int t = 0; t < T && bench_now_ns() < give_up;) {
			if (atomic_load(&prod[t].warm_calls) >= want || atomic_load(&finished) > 0)
				t++;
			else
				bench_sleep_ms(1.0);
		}
		syncs0 = s->ops->syncs != NULL ? s->ops->syncs(s->engine) : 0;
		segments0 = s->ops->segments != NULL ? s->ops->segments(s->engine) : 0;
		allocs0 = bench_allocs();
		fsyncs0 = bench_fsyncs();
		t0 = bench_now_ns();
		atomic_store(&phase, 1);
	}
	uint64_t deadline = s->duration_ms > 0
	                        ? t0 + (uint64_t)(s->duration_ms * 1e6)
	                        : UINT64_MAX;
	uint64_t t1;
	for (;;) {
		t1 = bench_now_ns();
		if (atomic_load(&finished) == T || t1 >= deadline)
			break;
		if (s->tick != NULL)
			s->tick(s->tick_arg);
		double left_ms = (double)(deadline - t1) / 1e6;
		bench_sleep_ms(left_ms < 1.0 ? left_ms : 1.0);
	}
	uint64_t allocs1 = bench_allocs();
	uint64_t fsyncs1 = bench_fsyncs();
	uint64_t syncs1 = s->ops->syncs != NULL ? s->ops->syncs(s->engine) : 0;
	uint64_t segments1 = s->ops->segments != NULL ? s->ops->segments(s->engine) : 0;
	atomic_store(&phase, 2);
	if (atomic_load(&finished) == T) {
		/* everyone hit its count: the phase ended at the last finisher */
		uint64_t last = t0;
		for (int t = 0; t < T; t++)
			if (prod[t].end_ns > last)
				last = prod[t].end_ns;
		t1 = last;
	}
	for (int t = 0; t < T; t++)
		pthread_join(prod[t].thread, NULL);
	r->seconds = (double)(t1 - t0) / 1e9;
	if (r->seconds <= 0)
		r->seconds = 1e-9;
	r->allocs = allocs1 - allocs0;
	r->fsync_calls = fsyncs1 - fsyncs0;
	r->engine_syncs = syncs1 - syncs0;
	r->engine_syncs_known = s->ops->syncs != NULL;
	/* No retention runs in these scenarios: the growth is the rolls. */
	r->segment_rolls = segments1 > segments0 ? segments1 - segments0 : 0;
	r->rss_peak_mb = bench_rss_peak_mb();
	for (int t = 0; t < T; t++) {
		producer *p = &prod[t];
		r->records += p->records;
		r->calls += p->calls;
		if (s->latency)
			hist_merge(&r->latency, &p->hist);
		if (p->failed && !r->failed) {
			r->failed = 1;
			snprintf(r->error, sizeof r->error, "%s", p->error);
		}
		free(p->recs);
	}
	free(prod);
	return r->failed ? -1 : 0;
}

double bench_allocs_per_record_beyond_rolls(const run_result *r)
{
	uint64_t allowance = r->segment_rolls * BENCH_ALLOCS_PER_ROLL;
	uint64_t beyond = r->allocs > allowance ? r->allocs - allowance : 0;
	return r->records > 0 ? (double)beyond / (double)r->records : 0;
}

void bench_timed_run_setup(const bench_args *a, const bench_pool *pool, long rs,
                           long partitions, long producers, long batch,
                           engine_params *p, run_spec *s)
{
	memset(p, 0, sizeof *p);
	p->partitions = (int)partitions;
	p->producers = (int)producers;
	p->record_size = (size_t)rs;
	p->batch_max = (size_t)batch;
	p->prealloc_bytes = a->prealloc_mb * (1u << 20) / (uint64_t)partitions;
	p->segment_bytes = a->segment_bytes;
	p->preallocate = 1;
	p->retention_bytes = -1;
	memset(s, 0, sizeof *s);
	s->pool = pool;
	s->producers = (int)producers;
	s->partitions = (int)partitions;
	s->record_size = (size_t)rs;
	s->batch = (size_t)batch;
	s->warmup_ms = a->warmup_ms;
	s->duration_ms = a->duration_ms;
	s->count = a->count;
	s->ts_base = (int64_t)time(NULL) * 1000;
	s->ts_per_ms = 16;
}

int bench_fresh_run(const bench_args *a, const engine_ops *ops,
                    engine_params *params, run_spec *spec, run_result *result)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/%s", a->dir, ops->name);
	bench_rmrf(dir);
	params->dir = dir;
	params->reopen = 0;
	bench_rss_reset_peak();
	void *engine = NULL;
	if (ops->open(&engine, params) != 0) {
		memset(result, 0, sizeof *result);
		result->failed = 1;
		snprintf(result->error, sizeof result->error, "%s open: %s", ops->name,
		         engine_errmsg());
		bench_rmrf(dir);
		return -1;
	}
	spec->ops = ops;
	spec->engine = engine;
	/* Start from a quiet disk: writeback still draining from the run
	 * before (another engine, or this one's setup) would otherwise land
	 * in this run's fdatasyncs, and in whichever engine runs first. */
	sync();
	int rc = bench_run_appends(spec, result);
	if (ops->close(engine) != 0 && rc == 0) {
		result->failed = 1;
		snprintf(result->error, sizeof result->error, "%s close: %s", ops->name,
		         engine_errmsg());
		rc = -1;
	}
	bench_rmrf(dir);
	return rc;
}
