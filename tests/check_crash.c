/*
 * check_crash.c — power loss at every mutating I/O call, on the
 * crash-simulating file system (tests/sim_io.h), for four workloads.
 *
 * Proves (issue 3, item 7, first two bullets): after a crash at any point of
 *   (a) durable appends of 1-byte to 64 KiB records across segment rolls
 *       (segment.bytes 64-256 KiB, index.interval.bytes 0-4096,
 *       preallocation on and off, a clean close and reopen midway),
 *   (b) 2-4 threads appending keyed batches to two topics of three
 *       partitions, one of them zstd (half the batches compressed),
 *   (c) appends (a third without waiting for the sync; a third of the
 *       topics with interval durability) while segments roll by size and
 *       age and retention deletes them: retention.bytes, retention.ms on
 *       the sim clock, rill_delete_records, rill_topic_retain,
 *       rill_store_maintain,
 *   (d) topic create / delete / add-partitions / alter churn, appends to
 *       topics of every durability mode, sync, maintenance, reopen,
 * and any kind of damage to what was not synced (drop all, random subset,
 * torn writes, size without content, garbage, mixed, keep all), the store
 * reopens; every acknowledged record is there byte for byte at its offset
 * (key, value, headers, timestamp); every record returned is one the
 * workload wrote, at the offset rill gave it, and batches are whole;
 * offsets are dense from log start to log end; the log start never moves
 * below what was durably set nor past anything asked for; a topic
 * operation that returned 0 is durable and one in flight is all or
 * nothing; the store then takes appends, closes cleanly, survives a power
 * loss after that clean close and reopens clean (nothing scanned) with
 * exactly the same records. The same holds when a second crash hits the
 * middle of recovery, and when the process is killed (what it wrote stays
 * in the page cache), recovers, takes durable appends, and only then
 * loses power: recovery syncs whatever it trusts, data and directory
 * entries, before it acknowledges anything (R9, R10). No call crashes or
 * hangs; every store, including one whose close failed, frees everything
 * (ASan/LSan in `make asan`).
 *
 * How (SQLite's test6.c crash loop): a workload is a deterministic program
 * of its seed. It runs once to the end to count its mutating calls
 * (sim_mutations), then once per crash point n in [1, total + 1] on a
 * fresh sim with sim_crash_after(n), once per damage mode (the four the
 * issue names and one of garbage / mixed / keep-all in turn). Everything
 * rill acknowledged goes into an oracle: per partition, the batches whose
 * append returned 0 with their offsets, which of them are durable (the
 * append said so, or a later sync, durable append or clean close covered
 * them), and bounds on the log start. Records carry a "rid" header
 * (stream, batch, index) from which every byte of the record is
 * regenerated, so a record read back is checked without storing data.
 * For the double crash, the first reopen's mutating calls are counted and
 * a second crash is placed at each of them, for a sample of first crashes.
 * A kill is a persistent -EIO on every call that could change the disk
 * (sim_fail_at, with failed syncs keeping their data queued), placed at
 * every such call of the workload; sim_clear_faults restarts the process.
 *
 * Three things make rare bugs likely: workload (b) runs on a table whose
 * fdatasync yields after the sync took effect, so other threads write
 * while a sync is in flight (group commit must not count them); a third
 * of (c)'s appends do not wait for the sync, so checkpoints, retention
 * and delete_records meet unsynced data; and after a crash that lost a
 * written batch at the log end, the first append has exactly that batch's
 * shape, so bytes recovery failed to cut would line up with the offsets
 * and come back as records. The suite was checked against planted bugs
 * (acknowledging before fdatasync, an over-eager group commit, a recovery
 * point past the durable end, no torn-tail cut, no sync before a roll,
 * before delete_records' new start, of a temp file before its rename, of
 * a directory before the topic.meta that names it, of what recovery
 * trusts, ...): each fails it.
 *
 * Sections: hashing, filling · oracle · record generation · trial specs ·
 * workloads · verification · one trial · accounting · tests.
 *
 * Figures are printed per test and summed in the last test of the suite.
 * Environment: RILL_TEST_SEED replays the workload seeds of a run;
 * RILL_CRASH_TRIALS=n scales the number of trials (default: at least
 * 24000 single-crash, 4800 double-crash, 4000 kill-then-power-loss);
 * RILL_CRASH_REPLAY=<spec> (printed with every failure; a capital
 * workload letter is a kill trial) runs one trial, logging the workload's
 * operations, the files after the crash and the library's log on stderr;
 * RILL_SOAK=1 runs a million random trials instead (RILL_SOAK=n: n
 * trials; random workload, seed, crash point and damage; a second crash
 * in recovery one time in four, a kill before the power loss one in
 * eight), printing progress every 10,000.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "rill.h"
#include "sim_io.h"
#include "test_util.h"

Suite *crash_suite(void);

#define STORE_PATH "/sim/store"
#define T0_MS INT64_C(1700000000000) /* the sim's initial wall clock */
#define MAX_INCS 24                  /* topic incarnations per workload run */
#define MAX_PARTS 6                  /* partitions per topic */
#define MAX_STREAMS 160              /* record streams per workload run */
#define MAX_BATCH 6                  /* records per batch */
#define RID_LEN 12                   /* rid header: stream, batch, index (u32 LE) */
#define VALUE_MAX 65536              /* largest record value */
#define MAX_THREADS 4

enum workload { W_APPEND, W_CONCURRENT, W_RETENTION, W_CHURN, W_COUNT };
static const char *const workload_names[W_COUNT] = {
	"durable appends", "concurrent keyed appends", "retention", "topic churn"};

/* ======================================================== hashing, filling */

static uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

static uint64_t hash4(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return mix64(a ^ mix64(b ^ mix64(c ^ mix64(d))));
}

static uint64_t rnd(uint64_t *state)
{
	return tu_rand(state);
}

static void fill_bytes(uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t s = mix64(seed) | 1;
	size_t i = 0;
	while (i + 8 <= len) {
		uint64_t r = tu_rand(&s);
		memcpy(p + i, &r, 8);
		i += 8;
	}
	if (i < len) {
		uint64_t r = tu_rand(&s);
		memcpy(p + i, &r, len - i);
	}
}

/* Compressible text: words from a small vocabulary. */
static void fill_text(uint8_t *p, size_t len, uint64_t seed)
{
	static const char *const words[] = {"order ", "shipped ", "user=", "42 ", "payment ",
	                                    "ok ", "retry ", "eu-west ", "cart ", "7 "};
	uint64_t s = mix64(seed) | 1;
	size_t i = 0;
	while (i < len) {
		const char *w = words[tu_rand(&s) % 10];
		size_t n = strlen(w);
		if (n > len - i)
			n = len - i;
		memcpy(p + i, w, n);
		i += n;
	}
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ================================================================= oracle */

/* One append that returned 0. */
typedef struct batch_rec {
	uint64_t base;     /* offset of its first record */
	uint32_t stream;
	uint32_t batch;
	uint32_t count;
	bool durable;      /* acknowledged durable, directly or by a later sync */
} batch_rec;

typedef struct part_oracle {
	batch_rec *v;
	size_t n, cap;
	uint64_t start_lo;   /* the log start was durably set at least this far */
	uint64_t start_hi;   /* no operation could move the log start past this */
	bool exact;          /* after a clean close: start and end must be seen_* */
	bool lost_next;      /* the batch at seen_end was written, then lost */
	uint32_t lost_sid, lost_batch;
	uint64_t seen_start; /* what the last verification found */
	uint64_t seen_end;
} part_oracle;

enum topic_state { T_PENDING_CREATE = 1, T_LIVE, T_PENDING_DELETE, T_DELETED };

/* One incarnation of a topic name (a name can be deleted and created again). */
typedef struct topic_inc {
	char name[16];
	int state;
	int32_t partitions;         /* confirmed count */
	int32_t partitions_pending; /* add-partitions in flight to this; 0 none */
	rill_config config;
	rill_config config_pending; /* alter in flight */
	bool alter_pending;
	part_oracle parts[MAX_PARTS];
	rill_topic *handle;         /* open handle while the store is open */
} topic_inc;

/* Record sizes and contents. P_MIRROR: the same shape (record count, key,
 * value and header lengths, timestamps) as one batch of another stream,
 * other bytes, so its encoding has exactly that batch's length. */
enum profile { P_WIDE, P_SMALL, P_TEXT, P_MIRROR };

/* A sequence of batches from one producer; its records say which. */
typedef struct stream {
	int inc;            /* topic incarnation */
	int32_t partition;  /* explicit partition, or -1: by key (partitioner) */
	int profile;        /* enum profile: record sizes and content */
	uint32_t attempted; /* batches handed to rill_append (one thread owns it) */
	bool mirror;        /* P_MIRROR: batch 0 has the shape of another batch */
	uint32_t mirror_sid, mirror_batch;
} stream;

typedef struct oracle {
	uint64_t seed;
	pthread_mutex_t lock; /* batch lists, from appender threads */
	topic_inc inc[MAX_INCS];
	int inc_count;
	stream streams[MAX_STREAMS];
	int stream_count;
} oracle;

static oracle *oracle_new(uint64_t seed)
{
	oracle *o = calloc(1, sizeof(*o));
	ck_assert_ptr_nonnull(o);
	o->seed = seed;
	pthread_mutex_init(&o->lock, NULL);
	return o;
}

static void oracle_free(oracle *o)
{
	for (int i = 0; i < o->inc_count; i++)
		for (int p = 0; p < MAX_PARTS; p++)
			free(o->inc[i].parts[p].v);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

/* The latest incarnation of a name, or -1. */
static int oracle_topic(const oracle *o, const char *name)
{
	for (int i = o->inc_count - 1; i >= 0; i--)
		if (strcmp(o->inc[i].name, name) == 0)
			return i;
	return -1;
}

static int oracle_new_inc(oracle *o, const char *name, int32_t partitions, const rill_config *config)
{
	ck_assert_int_lt(o->inc_count, MAX_INCS);
	int i = o->inc_count++;
	topic_inc *t = &o->inc[i];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->state = T_PENDING_CREATE;
	t->partitions = partitions;
	t->config = *config;
	return i;
}

static uint32_t oracle_stream(oracle *o, int inc, int32_t partition, int profile)
{
	pthread_mutex_lock(&o->lock);
	ck_assert_int_lt(o->stream_count, MAX_STREAMS);
	uint32_t sid = (uint32_t)o->stream_count++;
	o->streams[sid] = (stream){inc, partition, profile, 0, false, 0, 0};
	pthread_mutex_unlock(&o->lock);
	return sid;
}

/* The stream writing to (inc, partition) with a profile, made on first use. */
static uint32_t oracle_stream_for(oracle *o, int inc, int32_t partition, int profile)
{
	for (int s = 0; s < o->stream_count; s++)
		if (o->streams[s].inc == inc && o->streams[s].partition == partition &&
		    o->streams[s].profile == profile)
			return (uint32_t)s;
	return oracle_stream(o, inc, partition, profile);
}

/* Everything at or below `end` in the partition is durable. Lock held. */
static void mark_durable_below(part_oracle *po, uint64_t end)
{
	for (size_t i = 0; i < po->n; i++)
		if (po->v[i].base + po->v[i].count <= end)
			po->v[i].durable = true;
}

/* An append returned 0. Lock held. */
static void oracle_written(oracle *o, int inc, int32_t p, uint32_t sid, uint32_t batch,
                           uint32_t count, uint64_t base, bool durable)
{
	part_oracle *po = &o->inc[inc].parts[p];
	if (po->n == po->cap) {
		po->cap = po->cap ? po->cap * 2 : 32;
		po->v = realloc(po->v, po->cap * sizeof(*po->v));
		ck_assert_ptr_nonnull(po->v);
	}
	po->v[po->n++] = (batch_rec){base, sid, batch, count, durable};
	if (durable)
		mark_durable_below(po, base + count);
}

/* rill_sync (or a clean close) returned 0: all written so far is durable. */
static void oracle_synced(oracle *o, int inc)
{
	pthread_mutex_lock(&o->lock);
	for (int p = 0; p < MAX_PARTS; p++)
		mark_durable_below(&o->inc[inc].parts[p], UINT64_MAX);
	pthread_mutex_unlock(&o->lock);
}

static void oracle_all_durable(oracle *o)
{
	for (int i = 0; i < o->inc_count; i++)
		oracle_synced(o, i);
}

static bool config_eq(const rill_config *a, const rill_config *b)
{
	return a->segment_bytes == b->segment_bytes && a->segment_ms == b->segment_ms &&
	       a->segment_index_bytes == b->segment_index_bytes &&
	       a->index_interval_bytes == b->index_interval_bytes && a->retention_ms == b->retention_ms &&
	       a->retention_bytes == b->retention_bytes && a->max_message_bytes == b->max_message_bytes &&
	       a->compression_type == b->compression_type &&
	       a->compression_zstd_level == b->compression_zstd_level &&
	       a->timestamp_type == b->timestamp_type && a->flush_messages == b->flush_messages &&
	       a->flush_ms == b->flush_ms && a->durability == b->durability &&
	       a->preallocate == b->preallocate;
}

/* ======================================================= record generation */

/* One record, regenerated from (seed, stream, batch, index). */
typedef struct gen {
	uint8_t key[40];
	uint8_t rid[RID_LEN];
	uint8_t hvalue[16];
	rill_header headers[2];
	uint8_t *value; /* VALUE_MAX bytes */
	rill_record rec;
} gen;

typedef struct batch_gen {
	gen g[MAX_BATCH];
	rill_record recs[MAX_BATCH];
} batch_gen;

static void gen_init(gen *g)
{
	memset(g, 0, sizeof(*g));
	g->value = malloc(VALUE_MAX);
	ck_assert_ptr_nonnull(g->value);
}

static void gen_free(gen *g)
{
	free(g->value);
}

static batch_gen *batch_gen_new(void)
{
	batch_gen *bg = malloc(sizeof(*bg));
	ck_assert_ptr_nonnull(bg);
	for (int i = 0; i < MAX_BATCH; i++)
		gen_init(&bg->g[i]);
	return bg;
}

static void batch_gen_free(batch_gen *bg)
{
	if (bg == NULL)
		return;
	for (int i = 0; i < MAX_BATCH; i++)
		gen_free(&bg->g[i]);
	free(bg);
}

static uint32_t batch_count(const oracle *o, uint32_t sid, uint32_t batch)
{
	if (o->streams[sid].mirror)
		return batch_count(o, o->streams[sid].mirror_sid, o->streams[sid].mirror_batch);
	uint64_t h = hash4(o->seed, sid, batch, 0xBA7C4);
	switch (o->streams[sid].profile) {
	case P_WIDE:
		return 1 + (uint32_t)(h % 3);
	case P_TEXT:
		return 1 + (uint32_t)(h % MAX_BATCH);
	default:
		return 1 + (uint32_t)(h % 5);
	}
}

/* Keyed streams: one key per batch, from a small set (so keys repeat). */
static size_t batch_key(const oracle *o, uint32_t sid, uint32_t batch, uint8_t *key)
{
	uint64_t h = hash4(o->seed, sid, batch, 0x4B4559);
	return (size_t)snprintf((char *)key, 40, "user-%02u", (unsigned)(h % 40));
}

/* 1 byte to 64 KiB, both ends included, most of it small. */
static size_t wide_len(uint64_t h)
{
	uint64_t r = h >> 8;
	switch (h % 16) {
	case 0:
		return 1;
	case 1:
		return VALUE_MAX;
	case 2:
	case 3:
	case 4:
	case 5:
		return 1 + r % 64;
	case 6:
	case 7:
	case 8:
	case 9:
	case 10:
		return 65 + r % 1984;
	case 11:
	case 12:
	case 13:
		return 2049 + r % 14335;
	default:
		return 16384 + r % (VALUE_MAX - 16384);
	}
}

static void gen_record(gen *g, const oracle *o, uint32_t sid, uint32_t batch, uint32_t idx)
{
	const stream *s = &o->streams[sid];
	if (s->mirror) {
		/* The source record, then other bytes in the same places. */
		gen_record(g, o, s->mirror_sid, s->mirror_batch, idx);
		uint64_t h = hash4(o->seed, sid, batch, 0x2000000ULL + idx);
		put_u32(g->rid, sid);
		put_u32(g->rid + 4, batch);
		if (g->rec.key != NULL && s->partition >= 0)
			fill_bytes(g->key, g->rec.key_len, h ^ 1);
		if (g->rec.value != NULL)
			fill_bytes(g->value, g->rec.value_len, h ^ 2);
		if (g->rec.header_count > 1 && g->headers[1].value != NULL)
			fill_bytes(g->hvalue, g->headers[1].value_len, h ^ 3);
		return;
	}
	uint64_t h = hash4(o->seed, sid, batch, 0x1000000ULL + idx);
	rill_record *r = &g->rec;
	memset(r, 0, sizeof(*r));
	put_u32(g->rid, sid);
	put_u32(g->rid + 4, batch);
	put_u32(g->rid + 8, idx);
	g->headers[0] = (rill_header){"rid", 3, g->rid, RID_LEN};
	r->headers = g->headers;
	r->header_count = 1;
	if ((h >> 20) % 3 == 0) {
		size_t hl = 1 + (h >> 24) % 16;
		bool null = (h >> 28) % 5 == 0;
		fill_bytes(g->hvalue, hl, h ^ 0x77);
		g->headers[1] = (rill_header){"h", 1, null ? NULL : g->hvalue, null ? 0 : hl};
		r->header_count = 2;
	}
	if (s->partition < 0) {
		r->key = g->key;
		r->key_len = batch_key(o, sid, batch, g->key);
	} else if (h % 5 == 0) {
		r->key = NULL; /* null key */
	} else if (h % 7 == 1) {
		r->key = g->key; /* empty key, not null */
		r->key_len = 0;
	} else {
		r->key_len = 1 + (h >> 8) % 32;
		fill_bytes(g->key, r->key_len, h ^ 0x55);
		r->key = g->key;
	}
	uint64_t hv = mix64(h ^ 0xABCDEF);
	size_t vlen = s->profile == P_WIDE ? wide_len(hv) : s->profile == P_TEXT ? 20 + hv % 600 : 1 + hv % 300;
	if (s->profile != P_TEXT && (hv >> 40) % 29 == 0) {
		r->value = NULL; /* tombstone */
	} else if (s->profile == P_SMALL && (hv >> 40) % 29 == 1) {
		r->value = g->value; /* empty value */
		r->value_len = 0;
	} else {
		if (s->profile == P_TEXT)
			fill_text(g->value, vlen, hv);
		else
			fill_bytes(g->value, vlen, hv);
		r->value = g->value;
		r->value_len = vlen;
	}
	/* CreateTime; later records of a batch may be older than the first. */
	r->timestamp_ms = T0_MS + (int64_t)batch * 1000 + (int64_t)(idx % 3) * 7 - (int64_t)(idx % 2) * 5;
}

static bool bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
	if ((a == NULL) != (b == NULL) || alen != blen)
		return false;
	return alen == 0 || memcmp(a, b, alen) == 0;
}

/* NULL if equal, else the first field that differs. */
static const char *record_diff(const rill_record *got, const rill_record *want)
{
	if (got->timestamp_ms != want->timestamp_ms)
		return "timestamp";
	if (!bytes_eq(got->key, got->key_len, want->key, want->key_len))
		return "key";
	if (!bytes_eq(got->value, got->value_len, want->value, want->value_len))
		return "value";
	if (got->header_count != want->header_count)
		return "header count";
	for (size_t i = 0; i < want->header_count; i++) {
		const rill_header *a = &got->headers[i], *b = &want->headers[i];
		if (a->name_len != b->name_len || memcmp(a->name, b->name, b->name_len) != 0)
			return "header name";
		if (!bytes_eq(a->value, a->value_len, b->value, b->value_len))
			return "header value";
	}
	return NULL;
}

/* ============================================================= trial specs */

typedef struct trial_spec {
	int workload;        /* enum workload */
	uint64_t wseed;      /* the workload's seed */
	uint64_t crash_n;    /* crash at this mutating call; 0: none (probe run) */
	int mode;            /* damage at the crash (enum sim_crash_mode) */
	uint64_t cseed;
	uint64_t recovery_n; /* a second crash at this mutating call of the reopen; 0 none */
	int mode2;
	uint64_t cseed2;
	int kill;            /* crash_n kills the process only (page cache kept);
	                        the power fails after the recovery that follows */
} trial_spec;

typedef struct trial_out {
	bool failed;
	char msg[1536];
	uint64_t problems;
	uint64_t lost;               /* acknowledged records missing or replaced */
	uint64_t phantom;            /* records returned that were not written there */
	uint64_t checked;            /* records read back and compared */
	uint64_t mutations;          /* mutating calls the workload made */
	uint64_t kill_calls;         /* calls it made that a process kill counts */
	uint64_t recovery_mutations; /* mutating calls of the first reopen */
	bool fired;                  /* the crash point was reached */
	/* coverage: what the crashes did to the store */
	uint64_t cut_bytes;          /* torn tail recovery removed at the first reopen */
	uint64_t tails_cut;          /* 1 if it removed anything */
	uint64_t segments;           /* segments in the final store */
	uint64_t starts_moved;       /* partitions whose log start is above 0 */
	uint64_t inflight_kept;      /* topic operations in flight that persisted */
	uint64_t inflight_undone;    /* ... and that did not */
	uint64_t mirrors;            /* appends after recovery shaped like a lost batch */
} trial_out;

typedef struct trial {
	const trial_spec *spec;
	trial_out *out;
	pthread_mutex_t lock;
} trial;

static void tfail(trial *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void spec_string(const trial_spec *sp, char *buf, size_t size);

/* A check failed: keep the first message, with the line that replays it. */
static void tfail(trial *t, const char *fmt, ...)
{
	pthread_mutex_lock(&t->lock);
	t->out->problems++;
	if (!t->out->failed) {
		t->out->failed = true;
		char spec[200];
		spec_string(t->spec, spec, sizeof(spec));
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->out->msg, sizeof(t->out->msg) - 256, fmt, ap);
		va_end(ap);
		size_t at = n < 0 ? 0 : strlen(t->out->msg);
		snprintf(t->out->msg + at, sizeof(t->out->msg) - at, " [replay: RILL_CRASH_REPLAY=%s]", spec);
	}
	pthread_mutex_unlock(&t->lock);
}

/* Shared with the forked test processes (mapped before Check forks). */
typedef struct crash_totals {
	uint64_t trials[W_COUNT];        /* single-crash trials */
	uint64_t double_trials[W_COUNT]; /* with a second crash in recovery */
	uint64_t kill_trials[W_COUNT];   /* process kill, recovery, then power loss */
	uint64_t failed;
	uint64_t lost;
	uint64_t phantom;
	uint64_t checked;
	uint64_t by_mode[SIM_CRASH_MODES];
	double seconds;
	unsigned ran;                    /* bit per default test that ran */
	int in_trial;                    /* a trial started and has not ended */
	char current[200];               /* its spec: printed if it never ends */
	char dead[200];                  /* the first trial whose process died */
} crash_totals;

static crash_totals *totals;
static crash_totals local_totals;

/* "w:wseed:n:mode:cseed:m:mode2:cseed2"; W in capitals for a kill trial. */
static void spec_string(const trial_spec *sp, char *buf, size_t size)
{
	snprintf(buf, size, "%c:%" PRIu64 ":%" PRIu64 ":%d:%" PRIu64 ":%" PRIu64 ":%d:%" PRIu64,
	         (sp->kill ? 'A' : 'a') + sp->workload, sp->wseed, sp->crash_n, sp->mode, sp->cseed, sp->recovery_n,
	         sp->mode2, sp->cseed2);
}

static bool spec_parse(const char *text, trial_spec *sp)
{
	char w = 0;
	unsigned long long a = 0, b = 0, c = 0, d = 0, e = 0;
	int m = 0, m2 = 0;
	memset(sp, 0, sizeof(*sp));
	int n = sscanf(text, "%c:%llu:%llu:%d:%llu:%llu:%d:%llu", &w, &a, &b, &m, &c, &d, &m2, &e);
	int kill = w >= 'A' && w < 'A' + W_COUNT;
	if (kill)
		w = (char)(w - 'A' + 'a');
	if (n < 5 || w < 'a' || w >= 'a' + W_COUNT || m < 0 || m >= SIM_CRASH_MODES || m2 < 0 ||
	    m2 >= SIM_CRASH_MODES)
		return false;
	*sp = (trial_spec){w - 'a', a, b, m, c, n >= 6 ? d : 0, m2, n >= 8 ? e : 0, kill};
	return true;
}

static void log_stderr(void *ctx, int level, const char *message)
{
	(void)ctx;
	fprintf(stderr, "rill[%d]: %s\n", level, message);
}

/* ============================================================== workloads */

/* State of one workload run; operations record their outcome in the oracle. */
typedef struct wctx {
	trial *t;
	oracle *o;
	sim_fs *sim;
	rill_options opts;
	rill_store *store;
	uint64_t rng;
	bool stopped;       /* an operation failed: the workload ends */
	batch_gen *bg;
	uint64_t kill_at;   /* kill trial: the KILL_CALLS call that fails first */
} wctx;

/* A process kill stops the process at its next call of these classes:
 * from then on nothing it does reaches the file system. */
#define KILL_CALLS                                                                          \
	(SIM_OP_OPEN | SIM_OP_WRITE | SIM_OP_SYNC | SIM_OP_TRUNCATE | SIM_OP_ALLOCATE |          \
	 SIM_OP_RENAME | SIM_OP_UNLINK | SIM_OP_MKDIR | SIM_OP_RMDIR)

/* Did the process die (power loss or kill)? Failures are expected then. */
static bool process_dead(const wctx *w)
{
	if (sim_is_dead(w->sim))
		return true;
	return w->kill_at != 0 && sim_calls(w->sim, KILL_CALLS) >= w->kill_at;
}

static void wlog(const wctx *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Replay mode: the workload's operations, as they happen. */
static void wlog(const wctx *w, const char *fmt, ...)
{
	if (w->opts.log == NULL)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "crash: op ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

/* An operation failed: expected once the crash point fired, a bug before. */
static void op_failed(wctx *w, const char *what, int rc)
{
	if (!process_dead(w)) {
		tfail(w->t, "%s failed before the crash point: %s: %s", what,
		      rill_strerror(rc), rill_errmsg());
	}
	w->stopped = true;
}

/*
 * Append batch `stream.attempted` of a stream and record what came back.
 * Returns rill_append's code; *out_info filled on success.
 */
static int append_batch(trial *t, oracle *o, batch_gen *bg, uint32_t sid, rill_topic *h,
                        uint32_t flags, rill_append_info *out_info)
{
	stream *s = &o->streams[sid];
	topic_inc *ti = &o->inc[s->inc];
	uint32_t batch = s->attempted++;
	uint32_t count = batch_count(o, sid, batch);
	for (uint32_t i = 0; i < count; i++) {
		gen_record(&bg->g[i], o, sid, batch, i);
		bg->recs[i] = bg->g[i].rec;
	}
	rill_append_info info;
	memset(&info, 0, sizeof(info));
	int32_t part = s->partition >= 0 ? s->partition : RILL_PARTITION_AUTO;
	int rc = rill_append(&info, h, part, bg->recs, count, flags);
	if (rc != 0)
		return rc;
	int32_t want = s->partition;
	if (want < 0)
		want = rill_partition_for_key(RILL_PARTITIONER_XXH3, bg->g[0].rec.key, bg->g[0].rec.key_len,
		                              ti->partitions);
	if (info.partition != want || info.last_offset - info.base_offset + 1 != count) {
		tfail(t, "append to %s went to partition %d offsets [%" PRIu64 ", %" PRIu64 "], "
		        "expected partition %d and %u records",
		      ti->name, info.partition, info.base_offset, info.last_offset, want, count);
		return RILL_EINVAL;
	}
	bool must_sync = (flags & RILL_APPEND_SYNC) ||
	                 (ti->config.durability == RILL_DURABILITY_APPEND && !(flags & RILL_APPEND_NOSYNC));
	if (must_sync && !info.durable)
		tfail(t, "append to %s-%d returned 0 under durability=append with durable=0", ti->name, want);
	pthread_mutex_lock(&o->lock);
	oracle_written(o, s->inc, info.partition, sid, batch, count, info.base_offset, info.durable != 0);
	pthread_mutex_unlock(&o->lock);
	if (out_info != NULL)
		*out_info = info;
	return 0;
}

static bool op_append(wctx *w, batch_gen *bg, uint32_t sid, uint32_t flags)
{
	rill_topic *h = w->o->inc[w->o->streams[sid].inc].handle;
	rill_append_info info;
	memset(&info, 0, sizeof(info));
	int rc = append_batch(w->t, w->o, bg, sid, h, flags, &info);
	wlog(w, "append %s-%d stream %u batch %u flags %u: rc %d, offsets [%" PRIu64 ", %" PRIu64 "] durable %d",
	     w->o->inc[w->o->streams[sid].inc].name, w->o->streams[sid].partition, sid,
	     w->o->streams[sid].attempted - 1, flags, rc, info.base_offset, info.last_offset, info.durable);
	if (rc != 0)
		op_failed(w, "rill_append", rc);
	return rc == 0;
}

static bool reopen_handles(wctx *w)
{
	for (int i = 0; i < w->o->inc_count; i++) {
		topic_inc *ti = &w->o->inc[i];
		if (ti->state != T_LIVE)
			continue;
		int rc = rill_topic_open(&ti->handle, w->store, ti->name);
		if (rc != 0) {
			op_failed(w, "rill_topic_open", rc);
			return false;
		}
	}
	return true;
}

static bool op_open_store(wctx *w)
{
	int rc = rill_store_open(&w->store, STORE_PATH, &w->opts);
	wlog(w, "open store: rc %d", rc);
	if (rc != 0) {
		w->store = NULL;
		op_failed(w, "rill_store_open", rc);
		return false;
	}
	return reopen_handles(w);
}

static bool op_close_store(wctx *w)
{
	if (w->store == NULL)
		return true;
	for (int i = 0; i < w->o->inc_count; i++) {
		rill_topic_close(w->o->inc[i].handle);
		w->o->inc[i].handle = NULL;
	}
	int rc = rill_store_close(w->store);
	w->store = NULL;
	wlog(w, "close store: rc %d", rc);
	if (rc != 0) {
		op_failed(w, "rill_store_close", rc);
		return false;
	}
	oracle_all_durable(w->o);
	return true;
}

/* Clean close and open again (the clean-shutdown marker path). */
static bool op_reopen(wctx *w)
{
	return op_close_store(w) && op_open_store(w);
}

static int op_create(wctx *w, const char *name, int32_t partitions, const rill_config *config)
{
	int i = oracle_new_inc(w->o, name, partitions, config);
	if (w->opts.log != NULL)
		fprintf(stderr, "crash: create %s: %d partitions, segment.bytes %" PRId64 ", "
		        "index.interval.bytes %" PRId64 ", compression %d, durability %d, preallocate %d\n",
		        name, partitions, config->segment_bytes, config->index_interval_bytes, config->compression_type,
		        config->durability, config->preallocate);
	int rc = rill_topic_create(w->store, name, partitions, config);
	wlog(w, "create %s: rc %d", name, rc);
	if (rc != 0) {
		op_failed(w, "rill_topic_create", rc);
		return -1;
	}
	w->o->inc[i].state = T_LIVE;
	rc = rill_topic_open(&w->o->inc[i].handle, w->store, name);
	if (rc != 0) {
		op_failed(w, "rill_topic_open", rc);
		return -1;
	}
	return i;
}

static bool op_delete(wctx *w, int i)
{
	topic_inc *ti = &w->o->inc[i];
	rill_topic_close(ti->handle);
	ti->handle = NULL;
	ti->state = T_PENDING_DELETE;
	int rc = rill_topic_delete(w->store, ti->name);
	wlog(w, "delete %s: rc %d", ti->name, rc);
	if (rc != 0) {
		op_failed(w, "rill_topic_delete", rc);
		return false;
	}
	ti->state = T_DELETED;
	return true;
}

static bool op_add_partitions(wctx *w, int i, int32_t to)
{
	topic_inc *ti = &w->o->inc[i];
	ti->partitions_pending = to;
	int rc = rill_topic_add_partitions(ti->handle, to);
	wlog(w, "add partitions %s to %d: rc %d", ti->name, to, rc);
	if (rc != 0) {
		op_failed(w, "rill_topic_add_partitions", rc);
		return false;
	}
	ti->partitions = to;
	ti->partitions_pending = 0;
	return true;
}

static bool op_alter(wctx *w, int i, const char *key, const char *value)
{
	topic_inc *ti = &w->o->inc[i];
	ti->config_pending = ti->config;
	ck_assert_int_eq(rill_config_set(&ti->config_pending, key, value), 0);
	ti->alter_pending = true;
	int rc = rill_topic_alter(ti->handle, key, value);
	wlog(w, "alter %s %s=%s: rc %d", ti->name, key, value, rc);
	if (rc != 0) {
		op_failed(w, "rill_topic_alter", rc);
		return false;
	}
	ti->config = ti->config_pending;
	ti->alter_pending = false;
	return true;
}

static bool op_sync(wctx *w, int i)
{
	int rc = rill_sync(w->o->inc[i].handle, -1);
	wlog(w, "sync %s: rc %d", w->o->inc[i].name, rc);
	if (rc != 0) {
		op_failed(w, "rill_sync", rc);
		return false;
	}
	oracle_synced(w->o, i);
	return true;
}

static void offsets_of(wctx *w, int i, int32_t p, rill_offsets *off)
{
	int rc = rill_partition_offsets(off, w->o->inc[i].handle, p);
	if (rc != 0) {
		memset(off, 0, sizeof(*off));
		tfail(w->t, "rill_partition_offsets: %s", rill_errmsg());
	}
}

static bool op_delete_records(wctx *w, int i, int32_t p)
{
	topic_inc *ti = &w->o->inc[i];
	rill_offsets off;
	offsets_of(w, i, p, &off);
	/* Half the time at the log end, where unsynced data may lie below. */
	uint64_t target = off.log_start + rnd(&w->rng) % (off.log_end - off.log_start + 1);
	if (rnd(&w->rng) % 2 == 0)
		target = off.log_end;
	part_oracle *po = &ti->parts[p];
	if (target > po->start_hi)
		po->start_hi = target;
	int rc = rill_delete_records(ti->handle, p, target);
	wlog(w, "delete records %s-%d before %" PRIu64 ": rc %d", ti->name, p, target, rc);
	if (rc != 0) {
		op_failed(w, "rill_delete_records", rc);
		return false;
	}
	if (target > po->start_lo)
		po->start_lo = target;
	return true;
}

/* Retention may move any partition's start up to its end: bound it first,
 * then whatever start it reports after returning 0 is durable. */
static void retention_before(wctx *w, int i)
{
	topic_inc *ti = &w->o->inc[i];
	for (int32_t p = 0; p < ti->partitions; p++) {
		rill_offsets off;
		offsets_of(w, i, p, &off);
		if (off.log_end > ti->parts[p].start_hi)
			ti->parts[p].start_hi = off.log_end;
	}
}

static void retention_after(wctx *w, int i)
{
	topic_inc *ti = &w->o->inc[i];
	for (int32_t p = 0; p < ti->partitions; p++) {
		rill_offsets off;
		offsets_of(w, i, p, &off);
		if (off.log_start > ti->parts[p].start_lo)
			ti->parts[p].start_lo = off.log_start;
	}
}

static bool op_retain(wctx *w, int i)
{
	retention_before(w, i);
	int rc = rill_topic_retain(w->o->inc[i].handle, NULL);
	wlog(w, "retain %s: rc %d", w->o->inc[i].name, rc);
	if (rc != 0) {
		op_failed(w, "rill_topic_retain", rc);
		return false;
	}
	retention_after(w, i);
	return true;
}

static bool op_maintain(wctx *w)
{
	for (int i = 0; i < w->o->inc_count; i++)
		if (w->o->inc[i].state == T_LIVE)
			retention_before(w, i);
	int rc = rill_store_maintain(w->store, NULL);
	wlog(w, "maintain: rc %d", rc);
	if (rc != 0) {
		op_failed(w, "rill_store_maintain", rc);
		return false;
	}
	for (int i = 0; i < w->o->inc_count; i++)
		if (w->o->inc[i].state == T_LIVE)
			retention_after(w, i);
	return true;
}

/* After the crash point: a few more calls must fail cleanly (no crash,
 * no hang), then the store closes and frees everything. */
static void finish(wctx *w)
{
	if (w->stopped && w->store != NULL) {
		for (int s = 0; s < w->o->stream_count; s++) {
			stream *st = &w->o->streams[s];
			if (w->o->inc[st->inc].handle != NULL && w->o->inc[st->inc].state == T_LIVE) {
				append_batch(w->t, w->o, w->bg, (uint32_t)s, w->o->inc[st->inc].handle, 0, NULL);
				rill_sync(w->o->inc[st->inc].handle, -1);
				break;
			}
		}
	}
	op_close_store(w);
}

static void base_config(rill_config *c)
{
	rill_config_init(c);
	c->durability = RILL_DURABILITY_APPEND;
}

/* (a) Durable appends of 1 B to 64 KiB records across segment rolls. */
static void wl_append(wctx *w)
{
	static const int64_t seg_sizes[] = {65536, 98304, 131072, 262144};
	static const int64_t intervals[] = {0, 512, 4096};
	rill_config c;
	base_config(&c);
	c.segment_bytes = seg_sizes[rnd(&w->rng) % 4];
	c.index_interval_bytes = intervals[rnd(&w->rng) % 3];
	c.preallocate = (int)(rnd(&w->rng) % 2);
	if (rnd(&w->rng) % 3 == 0)
		c.segment_index_bytes = 240; /* 20 entries: the index fills and rolls */
	int32_t parts = 1 + (int32_t)(rnd(&w->rng) % 2);
	int steps = 24 + (int)(rnd(&w->rng) % 8);
	if (!op_open_store(w))
		goto out;
	int t = op_create(w, "a", parts, &c);
	if (t < 0)
		goto out;
	uint32_t streams[2];
	for (int32_t p = 0; p < parts; p++)
		streams[p] = oracle_stream(w->o, t, p, P_WIDE);
	bool reopened = false;
	for (int s = 0; s < steps && !w->stopped; s++) {
		uint64_t r = rnd(&w->rng) % 16;
		if (r == 0 && !reopened) {
			reopened = true;
			op_reopen(w);
		} else if (r == 1) {
			op_sync(w, t);
		} else {
			op_append(w, w->bg, streams[rnd(&w->rng) % (uint64_t)parts], 0);
		}
	}
out:
	finish(w);
}

/* (b) 2-4 threads append keyed batches to two topics, one compressed. */
typedef struct appender {
	wctx *w;
	uint64_t rng;
	int steps;
	uint32_t streams[2];
	batch_gen *bg;
} appender;

static void *appender_main(void *arg)
{
	appender *a = arg;
	for (int s = 0; s < a->steps; s++) {
		uint32_t sid = a->streams[rnd(&a->rng) % 2];
		rill_topic *h = a->w->o->inc[a->w->o->streams[sid].inc].handle;
		int rc = append_batch(a->w->t, a->w->o, a->bg, sid, h, 0, NULL);
		if (rc != 0) {
			if (!process_dead(a->w)) {
				tfail(a->w->t, "concurrent rill_append failed before the crash point: %s: %s",
				      rill_strerror(rc), rill_errmsg());
			}
			/* One more try on the failed (or failing) store, then stop. */
			append_batch(a->w->t, a->w->o, a->bg, sid, h, 0, NULL);
			break;
		}
	}
	return NULL;
}

static void wl_concurrent(wctx *w)
{
	rill_config plain, zstd;
	base_config(&plain);
	plain.segment_bytes = 8192 << (rnd(&w->rng) % 2);
	plain.index_interval_bytes = 1024;
	plain.preallocate = (int)(rnd(&w->rng) % 2);
	zstd = plain;
	zstd.compression_type = RILL_COMPRESSION_ZSTD;
	int threads = 2 + (int)(rnd(&w->rng) % 3);
	int steps = 30 / threads;
	if (!op_open_store(w))
		goto out;
	int tp = op_create(w, "plain", 3, &plain);
	if (tp < 0)
		goto out;
	int tz = op_create(w, "zstd", 3, &zstd);
	if (tz < 0)
		goto out;
	appender a[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	for (int i = 0; i < threads; i++) {
		a[i] = (appender){w, mix64(w->rng + (uint64_t)i) | 1, steps, {0, 0}, batch_gen_new()};
		a[i].streams[0] = oracle_stream(w->o, tp, -1, P_TEXT);
		a[i].streams[1] = oracle_stream(w->o, tz, -1, P_TEXT);
	}
	for (int i = 0; i < threads; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, appender_main, &a[i]), 0);
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		batch_gen_free(a[i].bg);
	}
	if (process_dead(w))
		w->stopped = true;
out:
	finish(w);
}

/* (c) Appends while retention deletes segments and the log start moves. */
static void wl_retention(wctx *w)
{
	rill_config c;
	base_config(&c);
	c.segment_bytes = 4096;
	c.index_interval_bytes = (rnd(&w->rng) % 2) ? 0 : 256;
	c.retention_bytes = 3000 + (int64_t)(rnd(&w->rng) % 4000);
	c.retention_ms = (rnd(&w->rng) % 2) ? 20000 : 60000;
	c.preallocate = (int)(rnd(&w->rng) % 2);
	if (rnd(&w->rng) % 2)
		c.segment_ms = 15000; /* rolls by age on the sim clock too */
	if (rnd(&w->rng) % 3 == 0) {
		/* Rolls that do not sync: acknowledged only by a later sync. */
		c.durability = RILL_DURABILITY_INTERVAL;
		c.flush_messages = 4;
	}
	int steps = 32 + (int)(rnd(&w->rng) % 8);
	if (!op_open_store(w))
		goto out;
	int t = op_create(w, "c", 2, &c);
	if (t < 0)
		goto out;
	uint32_t streams[2] = {oracle_stream(w->o, t, 0, P_SMALL), oracle_stream(w->o, t, 1, P_SMALL)};
	bool reopened = false;
	for (int s = 0; s < steps && !w->stopped; s++) {
		uint64_t r = rnd(&w->rng) % 20;
		if (r <= 10) {
			/* A third written without waiting for the sync: the log
			 * start and the checkpoints then meet unsynced data. */
			sim_advance_ms(w->sim, 700);
			op_append(w, w->bg, streams[rnd(&w->rng) % 2], rnd(&w->rng) % 3 == 0 ? RILL_APPEND_NOSYNC : 0);
		} else if (r <= 12) {
			op_delete_records(w, t, (int32_t)(rnd(&w->rng) % 2));
		} else if (r <= 14) {
			op_retain(w, t);
		} else if (r <= 16) {
			op_maintain(w);
		} else if (r <= 18 || reopened) {
			sim_advance_ms(w->sim, 5000 + (int64_t)(rnd(&w->rng) % 20000));
		} else {
			reopened = true;
			op_reopen(w);
		}
	}
out:
	finish(w);
}

/* (d) Topics created, deleted, grown and altered, with appends between. */
static void random_config(uint64_t *rng, rill_config *c)
{
	base_config(c);
	c->segment_bytes = 4096 << (rnd(rng) % 3);
	c->index_interval_bytes = (rnd(rng) % 2) ? 0 : 1024;
	c->compression_type = (rnd(rng) % 2) ? RILL_COMPRESSION_ZSTD : RILL_COMPRESSION_NONE;
	uint64_t d = rnd(rng) % 5;
	c->durability = d < 3 ? RILL_DURABILITY_APPEND : d == 3 ? RILL_DURABILITY_INTERVAL : RILL_DURABILITY_OS;
	c->flush_messages = 3;
	c->preallocate = (int)(rnd(rng) % 2);
}

static int pick_live(wctx *w)
{
	int live[MAX_INCS], n = 0;
	for (int i = 0; i < w->o->inc_count; i++)
		if (w->o->inc[i].state == T_LIVE)
			live[n++] = i;
	return n == 0 ? -1 : live[rnd(&w->rng) % (uint64_t)n];
}

static void wl_churn(wctx *w)
{
	static const char *const names[] = {"t0", "t1", "t2"};
	static const char *const alters[][2] = {
		{"compression.type", "zstd"}, {"compression.type", "none"}, {"segment.bytes", "4096"},
		{"segment.bytes", "16384"},   {"durability", "append"},     {"durability", "os"},
		{"retention.ms", "3600000"},  {"index.interval.bytes", "0"}};
	int steps = 16 + (int)(rnd(&w->rng) % 6);
	if (!op_open_store(w))
		goto out;
	rill_config c;
	random_config(&w->rng, &c);
	if (op_create(w, names[0], 1 + (int32_t)(rnd(&w->rng) % 3), &c) < 0)
		goto out;
	bool reopened = false;
	for (int s = 0; s < steps && !w->stopped; s++) {
		uint64_t r = rnd(&w->rng) % 20;
		int live = pick_live(w);
		if (r <= 3 || live < 0) {
			const char *name = NULL;
			for (int k = 0, start = (int)(rnd(&w->rng) % 3); k < 3 && name == NULL; k++) {
				int i = oracle_topic(w->o, names[(start + k) % 3]);
				if (i < 0 || w->o->inc[i].state == T_DELETED)
					name = names[(start + k) % 3];
			}
			if (name != NULL) {
				random_config(&w->rng, &c);
				op_create(w, name, 1 + (int32_t)(rnd(&w->rng) % 3), &c);
				continue;
			}
			r = 11; /* every name is taken: append instead */
		}
		topic_inc *ti = &w->o->inc[live];
		if (r <= 6) {
			op_delete(w, live);
		} else if (r <= 8) {
			if (ti->partitions < MAX_PARTS) {
				int32_t to = ti->partitions + 1 + (int32_t)(rnd(&w->rng) % 2);
				op_add_partitions(w, live, to > MAX_PARTS ? MAX_PARTS : to);
			}
		} else if (r <= 10) {
			const char *const *kv = alters[rnd(&w->rng) % 8];
			op_alter(w, live, kv[0], kv[1]);
		} else if (r <= 17) {
			int32_t p = (int32_t)(rnd(&w->rng) % (uint64_t)ti->partitions);
			op_append(w, w->bg, oracle_stream_for(w->o, live, p, P_SMALL), 0);
		} else if (r == 18 || reopened) {
			if (rnd(&w->rng) % 2)
				op_sync(w, live);
			else
				op_maintain(w);
		} else {
			reopened = true;
			op_reopen(w);
		}
	}
out:
	finish(w);
}

typedef void (*workload_fn)(wctx *w);
static const workload_fn workloads[W_COUNT] = {wl_append, wl_concurrent, wl_retention, wl_churn};

/* ============================================================ verification */

typedef struct name_list {
	char names[32][64];
	int count;
	int overflow;
} name_list;

static int collect_name(void *arg, const char *name)
{
	name_list *l = arg;
	if (l->count < 32)
		snprintf(l->names[l->count++], sizeof(l->names[0]), "%s", name);
	else
		l->overflow = 1;
	return 0;
}

static bool listed(const name_list *l, const char *name)
{
	for (int i = 0; i < l->count; i++)
		if (strcmp(l->names[i], name) == 0)
			return true;
	return false;
}

typedef struct seen_rec {
	uint32_t stream, batch, idx;
} seen_rec;

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

typedef struct vctx {
	trial *t;
	oracle *o;
	rill_store *store;
	gen g;
	char spec[200];
	const char *phase;
	bool verbose;
} vctx;

/* Check one partition: bounds of its log start, every record, the acks. */
static void verify_partition(vctx *v, int inc, int32_t p, rill_topic *h)
{
	trial *t = v->t;
	oracle *o = v->o;
	topic_inc *ti = &o->inc[inc];
	part_oracle *po = &ti->parts[p];
	rill_offsets off;
	int rc = rill_partition_offsets(&off, h, p);
	if (rc != 0) {
		tfail(t, "%s: offsets of %s-%d: %s", v->phase, ti->name, p, rill_errmsg());
		return;
	}
	uint64_t ls = off.log_start, le = off.log_end;
	if (ls < po->start_lo)
		tfail(t, "%s: %s-%d log start %" PRIu64 " moved back below %" PRIu64 ", which was durably set",
		      v->phase, ti->name, p, ls, po->start_lo);
	if (ls > po->start_hi)
		tfail(t, "%s: %s-%d log start %" PRIu64 " is past anything asked for (%" PRIu64 ")",
		      v->phase, ti->name, p, ls, po->start_hi);
	if (le < ls) {
		tfail(t, "%s: %s-%d log end %" PRIu64 " below log start %" PRIu64,
		      v->phase, ti->name, p, le, ls);
		return;
	}
	if (po->exact) {
		rill_partition_stats ps;
		if (rill_partition_stats_get(&ps, h, p) == 0)
			t->out->segments += ps.segments;
		t->out->starts_moved += ls > 0;
	}
	if (po->exact && (ls != po->seen_start || le != po->seen_end))
		tfail(t, "%s: %s-%d is [%" PRIu64 ", %" PRIu64 ") after a clean close of [%" PRIu64 ", %" PRIu64 ")",
		      v->phase, ti->name, p, ls, le, po->seen_start, po->seen_end);

	uint64_t n = le - ls;
	seen_rec *seen = calloc(n ? n : 1, sizeof(*seen));
	uint64_t *batches = calloc(n ? n : 1, sizeof(*batches));
	ck_assert_ptr_nonnull(seen);
	ck_assert_ptr_nonnull(batches);
	size_t batch_count_seen = 0;
	uint64_t got = 0;
	rill_reader *r = NULL;
	rc = rill_reader_open(&r, h, p, ls);
	if (rc != 0) {
		tfail(t, "%s: reader on %s-%d at %" PRIu64 ": %s", v->phase, ti->name, p, ls, rill_errmsg());
		goto out;
	}
	uint32_t cur_sid = 0, cur_batch = 0, cur_next = 0, cur_count = 0;
	bool in_batch = false;
	for (; got < n; got++) {
		rill_record rec;
		uint64_t at = ls + got;
		rc = rill_reader_next(r, &rec);
		if (rc != 0) {
			tfail(t, "%s: %s-%d: reading offset %" PRIu64 " of [%" PRIu64 ", %" PRIu64 "): %s: %s",
			      v->phase, ti->name, p, at, ls, le, rill_strerror(rc), rill_errmsg());
			break;
		}
		if (rec.offset != at) {
			tfail(t, "%s: %s-%d: offset %" PRIu64 " read where %" PRIu64 " was expected (a hole)",
			      v->phase, ti->name, p, rec.offset, at);
			break;
		}
		v->t->out->checked++;
		if (rec.header_count < 1 || rec.headers[0].name_len != 3 ||
		    memcmp(rec.headers[0].name, "rid", 3) != 0 || rec.headers[0].value == NULL ||
		    rec.headers[0].value_len != RID_LEN) {
			t->out->phantom++;
			tfail(t, "%s: %s-%d offset %" PRIu64 ": a record the workload never wrote (no rid)",
			      v->phase, ti->name, p, at);
			continue;
		}
		const uint8_t *rid = rec.headers[0].value;
		uint32_t sid = get_u32(rid), batch = get_u32(rid + 4), idx = get_u32(rid + 8);
		const char *why = NULL;
		if (sid >= (uint32_t)o->stream_count || o->streams[sid].inc != inc)
			why = "from another stream or topic incarnation";
		else if (batch >= o->streams[sid].attempted)
			why = "from a batch never appended";
		else if (idx >= batch_count(o, sid, batch))
			why = "past the end of its batch";
		if (why == NULL) {
			int32_t want = o->streams[sid].partition;
			if (want < 0) {
				uint8_t key[40];
				size_t klen = batch_key(o, sid, batch, key);
				want = rill_partition_for_key(RILL_PARTITIONER_XXH3, key, klen, ti->partitions);
			}
			if (want != p)
				why = "in the wrong partition";
		}
		if (why == NULL) {
			gen_record(&v->g, o, sid, batch, idx);
			const char *diff = record_diff(&rec, &v->g.rec);
			if (diff != NULL) {
				t->out->phantom++;
				tfail(t, "%s: %s-%d offset %" PRIu64 " (stream %u batch %u record %u): %s differs from what was written",
				      v->phase, ti->name, p, at, sid, batch, idx, diff);
				continue;
			}
		}
		if (why != NULL) {
			t->out->phantom++;
			tfail(t, "%s: %s-%d offset %" PRIu64 " (stream %u batch %u record %u): record %s",
			      v->phase, ti->name, p, at, sid, batch, idx, why);
			continue;
		}
		/* Whole batches: a batch starts at record 0 (or is cut by the log
		 * start) and its records follow each other to its last. */
		if (in_batch) {
			if (sid != cur_sid || batch != cur_batch || idx != cur_next)
				tfail(t, "%s: %s-%d offset %" PRIu64 ": stream %u batch %u record %u interrupts batch %u of stream %u at record %u",
				      v->phase, ti->name, p, at, sid, batch, idx, cur_batch, cur_sid, cur_next);
		} else {
			if (idx != 0 && at != ls)
				tfail(t, "%s: %s-%d offset %" PRIu64 ": batch %u of stream %u starts at record %u",
				      v->phase, ti->name, p, at, batch, sid, idx);
			batches[batch_count_seen++] = (uint64_t)sid << 32 | batch;
		}
		cur_sid = sid;
		cur_batch = batch;
		cur_next = idx + 1;
		cur_count = batch_count(o, sid, batch);
		in_batch = cur_next < cur_count;
		seen[got] = (seen_rec){sid, batch, idx};
	}
	if (got == n) {
		rill_record rec;
		rc = rill_reader_next(r, &rec);
		if (rc != RILL_EAGAIN)
			tfail(t, "%s: %s-%d: reading at the log end %" PRIu64 " gave %s, not RILL_EAGAIN",
			      v->phase, ti->name, p, le, rill_strerror(rc));
		if (in_batch)
			tfail(t, "%s: %s-%d: the log ends inside batch %u of stream %u (record %u of %u)",
			      v->phase, ti->name, p, cur_batch, cur_sid, cur_next, cur_count);
	}
	rill_reader_close(r);
	qsort(batches, batch_count_seen, sizeof(*batches), compare_u64);
	for (size_t i = 1; i < batch_count_seen; i++)
		if (batches[i] == batches[i - 1])
			tfail(t, "%s: %s-%d: batch %u of stream %u appears twice", v->phase,
			      ti->name, p, (uint32_t)batches[i], (uint32_t)(batches[i] >> 32));
	/* Every batch whose append returned 0 is at its offset if that offset
	 * is still in the log; a durable one must still be in the log. */
	for (size_t i = 0; i < po->n; i++) {
		const batch_rec *b = &po->v[i];
		for (uint64_t k = 0; k < b->count; k++) {
			uint64_t at = b->base + k;
			if (at < ls)
				continue;
			bool present = at < ls + got;
			bool right = present && seen[at - ls].stream == b->stream && seen[at - ls].batch == b->batch &&
			             seen[at - ls].idx == k;
			if (present && !right && at < le) {
				t->out->lost++;
				tfail(t, "%s: %s-%d offset %" PRIu64 " holds stream %u batch %u record %u, "
				        "but the append of stream %u batch %u returned it there",
				      v->phase, ti->name, p, at, seen[at - ls].stream, seen[at - ls].batch, seen[at - ls].idx,
				      b->stream, b->batch);
			} else if (!present && b->durable && got == n) {
				t->out->lost++;
				tfail(t, "%s: %s-%d: acknowledged record at offset %" PRIu64 " (stream %u batch %u record %" PRIu64 ") lost; "
				      "log is [%" PRIu64 ", %" PRIu64 ")",
				      v->phase, ti->name, p, at, b->stream, b->batch, k, ls, le);
			}
		}
	}
	/* Batches the crash took (never durable, or already reported) are
	 * forgotten: their offsets are given to the next appends. */
	size_t kept = 0;
	po->lost_next = false;
	for (size_t i = 0; i < po->n; i++) {
		if (po->v[i].base + po->v[i].count <= ls + got) {
			po->v[kept++] = po->v[i];
		} else if (po->v[i].base == le && got == n) {
			po->lost_next = true;
			po->lost_sid = po->v[i].stream;
			po->lost_batch = po->v[i].batch;
		}
	}
	po->n = kept;
out:
	if (v->verbose) {
		size_t durable = 0;
		for (size_t i = 0; i < po->n; i++)
			durable += po->v[i].durable;
		fprintf(stderr, "crash: %s: %s-%d is [%" PRIu64 ", %" PRIu64 "), "
		        "%" PRIu64 " records read; %zu appends returned 0, "
		        "%zu durable; start bounds [%" PRIu64 ", %" PRIu64 "]\n",
		        v->phase, ti->name, p, ls, le, got, po->n, durable, po->start_lo, po->start_hi);
	}
	po->seen_start = ls;
	po->seen_end = le;
	free(seen);
	free(batches);
}

static void verify_problem(void *arg, const rill_verify_problem *pr)
{
	vctx *v = arg;
	tfail(v->t, "%s: rill_verify: %s-%d segment %020" PRIu64 " position %" PRIu64 " offset %" PRIu64 ": %s",
	      v->phase, pr->topic, pr->partition, pr->segment_base, pr->file_position, pr->offset, pr->what);
}

/* The scrub agrees: every batch of every segment file checks out. */
static void verify_scrub(vctx *v)
{
	uint64_t batches = 0, problems = 0;
	int rc = rill_verify(v->store, NULL, verify_problem, v, &batches, &problems);
	if (rc != 0 && problems == 0)
		tfail(v->t, "%s: rill_verify: %s: %s", v->phase, rill_strerror(rc), rill_errmsg());
}

/* Which topics exist must match the oracle; each that exists is whole. */
static void verify_store(vctx *v)
{
	trial *t = v->t;
	oracle *o = v->o;
	name_list names;
	memset(&names, 0, sizeof(names));
	int rc = rill_topic_list(v->store, collect_name, &names);
	if (rc != 0) {
		tfail(t, "%s: rill_topic_list: %s", v->phase, rill_errmsg());
		return;
	}
	for (int i = 0; i < names.count; i++)
		if (oracle_topic(o, names.names[i]) < 0)
			tfail(t, "%s: topic %s exists but was never created", v->phase, names.names[i]);
	for (int i = 0; i < o->inc_count; i++) {
		topic_inc *ti = &o->inc[i];
		if (oracle_topic(o, ti->name) != i)
			continue; /* an older incarnation of a name */
		bool present = listed(&names, ti->name);
		switch (ti->state) {
		case T_LIVE:
			if (!present)
				tfail(t, "%s: topic %s, created durably, is gone", v->phase, ti->name);
			break;
		case T_PENDING_CREATE:
			ti->state = present ? T_LIVE : T_DELETED;
			*(present ? &t->out->inflight_kept : &t->out->inflight_undone) += 1;
			break;
		case T_PENDING_DELETE:
			ti->state = present ? T_LIVE : T_DELETED;
			*(present ? &t->out->inflight_undone : &t->out->inflight_kept) += 1;
			break;
		default:
			if (present)
				tfail(t, "%s: topic %s, deleted durably, came back", v->phase, ti->name);
			break;
		}
		if (ti->state != T_LIVE || !present)
			continue;
		rc = rill_topic_open(&ti->handle, v->store, ti->name);
		if (rc != 0) {
			tfail(t, "%s: rill_topic_open(%s): %s", v->phase, ti->name, rill_errmsg());
			continue;
		}
		int32_t n = rill_topic_partitions(ti->handle);
		if (ti->partitions_pending != 0)
			*(n == ti->partitions_pending ? &t->out->inflight_kept : &t->out->inflight_undone) += 1;
		if (ti->partitions_pending != 0 && n == ti->partitions_pending)
			ti->partitions = n;
		ti->partitions_pending = 0;
		if (n != ti->partitions) {
			tfail(t, "%s: topic %s has %d partitions, expected %d", v->phase,
			      ti->name, n, ti->partitions);
			continue;
		}
		rill_config c;
		ck_assert_int_eq(rill_topic_config(&c, ti->handle), 0);
		if (ti->alter_pending && !config_eq(&ti->config, &ti->config_pending))
			*(config_eq(&c, &ti->config_pending) ? &t->out->inflight_kept : &t->out->inflight_undone) += 1;
		if (ti->alter_pending && config_eq(&c, &ti->config_pending))
			ti->config = ti->config_pending;
		ti->alter_pending = false;
		if (!config_eq(&c, &ti->config))
			tfail(t, "%s: topic %s came back with another configuration", v->phase, ti->name);
		for (int32_t p = 0; p < n; p++)
			verify_partition(v, i, p, ti->handle);
	}
}

/* The recovered store takes appends: one durable batch per partition, at
 * the log end, read straight back. */
static void append_after(vctx *v, batch_gen *bg)
{
	trial *t = v->t;
	oracle *o = v->o;
	for (int i = 0; i < o->inc_count; i++) {
		topic_inc *ti = &o->inc[i];
		if (ti->handle == NULL)
			continue;
		for (int32_t p = 0; p < ti->partitions; p++) {
			part_oracle *po = &ti->parts[p];
			uint32_t sid = oracle_stream(o, i, p, P_SMALL);
			if (po->lost_next && o->streams[po->lost_sid].partition == p) {
				/* The crash took a written batch at the log end: write one
				 * of exactly its length there, so that whatever followed
				 * it on disk lines up with the offsets if recovery left it
				 * behind the cut instead of removing it. */
				stream *st = &o->streams[sid];
				st->mirror = true;
				st->profile = P_MIRROR;
				st->mirror_sid = po->lost_sid;
				st->mirror_batch = po->lost_batch;
				t->out->mirrors++;
			}
			rill_append_info info;
			int rc = append_batch(t, o, bg, sid, ti->handle, RILL_APPEND_SYNC, &info);
			if (rc != 0) {
				tfail(t, "append to %s-%d after recovery: %s: %s", ti->name, p,
				      rill_strerror(rc), rill_errmsg());
				continue;
			}
			if (info.base_offset != po->seen_end)
				tfail(t, "append to %s-%d after recovery got offset %" PRIu64 ", "
				        "the log end was %" PRIu64,
				      ti->name, p, info.base_offset, po->seen_end);
			rill_reader *r = NULL;
			rc = rill_reader_open(&r, ti->handle, p, info.base_offset);
			for (uint64_t k = info.base_offset; rc == 0 && k <= info.last_offset; k++) {
				rill_record rec;
				rc = rill_reader_next(r, &rec);
				if (rc != 0)
					break;
				gen_record(&v->g, o, sid, 0, (uint32_t)(k - info.base_offset));
				const char *diff = rec.offset != k ? "offset" : record_diff(&rec, &v->g.rec);
				if (diff != NULL)
					tfail(t, "%s-%d offset %" PRIu64 " read back after recovery: %s differs",
					      ti->name, p, k, diff);
			}
			if (rc != 0)
				tfail(t, "reading back %s-%d after recovery: %s: %s", ti->name, p,
				      rill_strerror(rc), rill_errmsg());
			rill_reader_close(r);
			po->seen_end = info.last_offset + 1;
		}
	}
}

static void close_handles(oracle *o)
{
	for (int i = 0; i < o->inc_count; i++) {
		rill_topic_close(o->inc[i].handle);
		o->inc[i].handle = NULL;
	}
}

/* =============================================================== one trial */

/* Debugging: the files left after a crash, with their sizes. */
static void dump_sizes(sim_fs *sim, const char *dir, int depth)
{
	char **names = NULL;
	size_t count = 0;
	if (depth > 3 || sim_list(sim, dir, &names, &count) != 0)
		return;
	for (size_t i = 0; i < count; i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (sim_exists(sim, path) == RILL_IO_DIR) {
			fprintf(stderr, "crash:   %s/\n", path);
			dump_sizes(sim, path, depth + 1);
		} else {
			fprintf(stderr, "crash:   %s %" PRId64 "\n", path, sim_file_size(sim, path));
		}
	}
	sim_list_free(names, count);
}

/* Workload (b) runs on the sim's table with a slow fdatasync: the caller
 * yields after the sync took effect, so other appenders write while a
 * sync is "in flight" and group commit must not count their batches as
 * covered by it. */
static int (*sim_fdatasync)(void *ctx, int fd);

static int slow_fdatasync(void *ctx, int fd)
{
	int rc = sim_fdatasync(ctx, fd);
	for (int i = 0; i < 3; i++)
		sched_yield();
	return rc;
}

/*
 * One trial: the workload up to the crash point, power loss, (a second
 * crash during recovery,) reopen and verify, append, clean close, power
 * loss, clean reopen and verify again.
 */
static void run_trial(const trial_spec *sp, trial_out *out, bool verbose)
{
	memset(out, 0, sizeof(*out));
	if (totals->in_trial && totals->dead[0] == '\0')
		memcpy(totals->dead, totals->current, sizeof(totals->dead));
	spec_string(sp, totals->current, sizeof(totals->current));
	totals->in_trial = 1;
	trial t = {sp, out, PTHREAD_MUTEX_INITIALIZER};
	sim_fs *sim = sim_new(mix64(sp->wseed ^ 0x51D));
	ck_assert_int_eq(sim_mkdirs(sim, "/sim"), 0);
	oracle *o = oracle_new(sp->wseed);
	wctx w;
	memset(&w, 0, sizeof(w));
	w.t = &t;
	w.o = o;
	w.sim = sim;
	w.rng = mix64(sp->wseed ^ 0xC0FFEE) | 1;
	w.bg = batch_gen_new();
	rill_options opts = RILL_OPTIONS_INIT;
	opts.io = sim_io(sim);
	opts.io_writeback = sim_io_writeback;
	if (verbose)
		opts.log = log_stderr;
	rill_io slow;
	if (sp->workload == W_CONCURRENT) {
		opts.max_open_files = 4; /* descriptors are evicted and reopened */
		slow = *sim_io(sim);
		sim_fdatasync = slow.fdatasync;
		slow.fdatasync = slow_fdatasync;
		opts.io = &slow;
	}
	w.opts = opts;
	if (sp->kill) {
		/* A killed process: its calls fail from the kill point on, but
		 * what it wrote stays in the page cache (failed syncs keep it). */
		sim_set_flags(sim, SIM_FLAG_SYNC_FAIL_KEEPS);
		w.kill_at = sp->crash_n;
		if (sp->crash_n != 0)
			ck_assert_int_eq(sim_fail_at(sim, KILL_CALLS, sp->crash_n, -EIO, 1), 0);
	} else if (sp->crash_n != 0) {
		sim_crash_after(sim, sp->crash_n);
	}

	workloads[sp->workload](&w);
	ck_assert_ptr_null(w.store);
	out->mutations = sim_mutations(sim);
	out->kill_calls = sim_calls(sim, KILL_CALLS);
	out->fired = process_dead(&w);
	if (verbose)
		fprintf(stderr, "crash: workload made %" PRIu64 " mutating calls; %s point %s\n", out->mutations,
		        sp->kill ? "kill" : "crash", out->fired ? "fired" : "not reached");

	vctx v;
	memset(&v, 0, sizeof(v));
	v.t = &t;
	v.o = o;
	gen_init(&v.g);
	v.verbose = verbose;
	spec_string(sp, v.spec, sizeof(v.spec));
	int rc = 0;
	rill_store_stats st;
	if (sp->kill) {
		/* The process restarts over the page cache: recovery sees data
		 * that was written but never synced, and must sync what it
		 * trusts before it acknowledges anything new (R9, R10). */
		sim_clear_faults(sim);
		if (verbose)
			fprintf(stderr, "crash: reopening after the process died\n");
		rc = rill_store_open(&v.store, STORE_PATH, &opts);
		if (rc != 0) {
			tfail(&t, "reopen after the process died failed: %s: %s", rill_strerror(rc), rill_errmsg());
			goto done;
		}
		v.phase = "after the process died";
		verify_store(&v);
		append_after(&v, w.bg);
		/* Then the power fails, the store still open: kill it first so
		 * its close cannot write to the image the power loss leaves. */
		close_handles(o);
		ck_assert_int_eq(sim_fail_at(sim, SIM_OP_ALL, 1, -EIO, 1), 0);
		rill_store_close(v.store);
		v.store = NULL;
	}
	sim_crash(sim, sp->mode, sp->cseed);
	if (verbose)
		dump_sizes(sim, "/sim/store", 0);
	if (sp->recovery_n != 0) {
		if (verbose)
			fprintf(stderr, "crash: reopening with a crash at mutating call %" PRIu64 " of recovery\n", sp->recovery_n);
		sim_crash_after(sim, sp->recovery_n);
		rill_store *s = NULL;
		if (rill_store_open(&s, STORE_PATH, &opts) == 0)
			rill_store_close(s); /* recovery finished first; the crash may hit close */
		sim_crash(sim, sp->mode2, sp->cseed2);
	}

	/* Reopen after the crash: must succeed, lose nothing, invent nothing. */
	if (verbose)
		fprintf(stderr, "crash: reopening after the crash\n");
	uint64_t m0 = sim_mutations(sim);
	rc = rill_store_open(&v.store, STORE_PATH, &opts);
	out->recovery_mutations = sim_mutations(sim) - m0;
	if (rc != 0) {
		tfail(&t, "reopen after the crash failed: %s: %s", rill_strerror(rc), rill_errmsg());
		goto done;
	}
	ck_assert_int_eq(rill_store_stats_get(&st, v.store), 0);
	out->cut_bytes = st.recovered_bytes_cut;
	out->tails_cut = st.recovered_bytes_cut > 0;
	v.phase = "after the crash";
	verify_store(&v);
	verify_scrub(&v);
	append_after(&v, w.bg);
	close_handles(o);
	rc = rill_store_close(v.store);
	v.store = NULL;
	if (rc != 0) {
		tfail(&t, "clean close after recovery failed: %s: %s", rill_strerror(rc), rill_errmsg());
		goto done;
	}
	oracle_all_durable(o);

	/* Power loss after a clean close loses nothing; the open is clean. */
	sim_crash(sim, SIM_CRASH_DROP_ALL, sp->cseed ^ 1);
	for (int i = 0; i < o->inc_count; i++)
		for (int p = 0; p < MAX_PARTS; p++) {
			part_oracle *po = &o->inc[i].parts[p];
			po->exact = true;
			po->start_lo = po->start_hi = po->seen_start;
		}
	rc = rill_store_open(&v.store, STORE_PATH, &opts);
	if (rc != 0) {
		tfail(&t, "reopen after a clean close failed: %s: %s", rill_strerror(rc), rill_errmsg());
		goto done;
	}
	ck_assert_int_eq(rill_store_stats_get(&st, v.store), 0);
	if (!st.clean_open || st.recovered_bytes_scanned != 0)
		tfail(&t, "open after a clean close: clean_open %d, %" PRIu64 " bytes scanned",
		      st.clean_open, st.recovered_bytes_scanned);
	v.phase = "after a clean close";
	verify_store(&v);
	verify_scrub(&v);
	close_handles(o);
	rc = rill_store_close(v.store);
	v.store = NULL;
	if (rc != 0)
		tfail(&t, "second clean close failed: %s: %s", rill_strerror(rc), rill_errmsg());
done:
	if (v.store != NULL) {
		close_handles(o);
		rill_store_close(v.store);
	}
	gen_free(&v.g);
	batch_gen_free(w.bg);
	oracle_free(o);
	sim_free(sim);
	pthread_mutex_destroy(&t.lock);
	totals->in_trial = 0;
	if (verbose)
		fprintf(stderr, "crash: trial %s: %s\n", v.spec, out->failed ? out->msg : "passed");
}

/* ============================================================ accounting */

typedef struct tally {
	uint64_t trials, doubles, kills, failed, lost, phantom, checked, runs, points, not_fired;
	uint64_t tails_cut, cut_bytes, segments_max, starts_moved, inflight_kept, inflight_undone, mirrors;
	char first[1800];
} tally;

static void tally_add(tally *ty, const trial_spec *sp, const trial_out *out)
{
	if (sp->kill)
		ty->kills++;
	else if (sp->recovery_n != 0)
		ty->doubles++;
	else
		ty->trials++;
	if (sp->crash_n != 0 && !out->fired)
		ty->not_fired++;
	ty->lost += out->lost;
	ty->phantom += out->phantom;
	ty->checked += out->checked;
	ty->tails_cut += out->tails_cut;
	ty->cut_bytes += out->cut_bytes;
	if (out->segments > ty->segments_max)
		ty->segments_max = out->segments;
	ty->starts_moved += out->starts_moved > 0;
	ty->inflight_kept += out->inflight_kept;
	ty->inflight_undone += out->inflight_undone;
	ty->mirrors += out->mirrors;
	totals->by_mode[sp->mode]++;
	if (out->failed) {
		if (ty->failed < 5)
			fprintf(stderr, "crash: FAILED: %s\n", out->msg);
		if (ty->failed == 0)
			snprintf(ty->first, sizeof(ty->first), "%s", out->msg);
		ty->failed++;
	}
}

static void tally_commit(const tally *ty, int wl)
{
	totals->trials[wl] += ty->trials;
	totals->double_trials[wl] += ty->doubles;
	totals->kill_trials[wl] += ty->kills;
	totals->failed += ty->failed;
	totals->lost += ty->lost;
	totals->phantom += ty->phantom;
	totals->checked += ty->checked;
}

static void print_coverage(const tally *ty)
{
	fprintf(stderr,
	        "          coverage: %" PRIu64 " recoveries cut a torn tail (%" PRIu64 " bytes), "
	        "up to %" PRIu64 " segments, %" PRIu64 " trials with a moved log start, "
	        "in-flight topic operations %" PRIu64 " persisted / %" PRIu64 " undone, "
	        "%" PRIu64 " same-length rewrites of a lost batch, %" PRIu64 " crash points not reached\n",
	        ty->tails_cut, ty->cut_bytes, ty->segments_max, ty->starts_moved, ty->inflight_kept,
	        ty->inflight_undone, ty->mirrors, ty->not_fired);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Default counts, scaled by RILL_CRASH_TRIALS (the single-crash total). */
#define DEFAULT_SINGLE_PER_WORKLOAD 6000
#define DEFAULT_DOUBLE_PER_WORKLOAD 1200
#define DEFAULT_KILL_PER_WORKLOAD 1000

static uint64_t scaled(uint64_t per_workload)
{
	const char *env = getenv("RILL_CRASH_TRIALS");
	if (env == NULL || env[0] == '\0')
		return per_workload;
	double total = strtod(env, NULL);
	double v = total * (double)per_workload / (4.0 * DEFAULT_SINGLE_PER_WORKLOAD);
	return v < 1 ? 1 : (uint64_t)v;
}

static bool scaled_down(void)
{
	const char *env = getenv("RILL_CRASH_TRIALS");
	return env != NULL && env[0] != '\0';
}

/* The damage modes each crash point gets: the four required ones and one
 * of the others in turn. */
static int mode_for(uint64_t n, int k)
{
	static const int base[] = {SIM_CRASH_DROP_ALL, SIM_CRASH_RANDOM, SIM_CRASH_TORN, SIM_CRASH_SIZE_ONLY};
	static const int extra[] = {SIM_CRASH_GARBAGE, SIM_CRASH_MIXED, SIM_CRASH_KEEP_ALL};
	return k < 4 ? base[k] : extra[n % 3];
}
#define MODES_PER_POINT 5

/* The workload run to its end: how many mutating calls it makes (and how
 * many calls a kill counts, in *out_kill_calls if not NULL). */
static uint64_t probe(int wl, uint64_t wseed, tally *ty, uint64_t *out_kill_calls)
{
	trial_spec sp = {wl, wseed, 0, SIM_CRASH_DROP_ALL, mix64(wseed ^ 7), 0, 0, 0, 0};
	trial_out out;
	run_trial(&sp, &out, false);
	tally_add(ty, &sp, &out);
	ty->runs++;
	if (out_kill_calls != NULL)
		*out_kill_calls = out.kill_calls;
	return out.mutations;
}

/* Every crash point of enough workload instances for `target` trials. */
static void exhaustive(int wl, const char *test_name)
{
	uint64_t target = scaled(DEFAULT_SINGLE_PER_WORKLOAD);
	uint64_t seed = tu_seed(test_name);
	tally ty;
	memset(&ty, 0, sizeof(ty));
	double t0 = now_s();
	for (uint64_t instance = 0; ty.trials < target; instance++) {
		uint64_t wseed = mix64(seed + instance);
		uint64_t total = probe(wl, wseed, &ty, NULL);
		for (uint64_t n = 1; n <= total + 1; n++) {
			ty.points++;
			for (int k = 0; k < MODES_PER_POINT; k++) {
				trial_spec sp = {wl, wseed, n, mode_for(n, k), hash4(wseed, n, (uint64_t)k, 0xC5), 0, 0, 0, 0};
				trial_out out;
				run_trial(&sp, &out, false);
				tally_add(&ty, &sp, &out);
			}
		}
	}
	double secs = now_s() - t0;
	totals->seconds += secs;
	totals->ran |= 1u << wl;
	tally_commit(&ty, wl);
	fprintf(stderr,
	        "crash (%c) %s: %" PRIu64 " crash-and-reopen trials, %" PRIu64 " workload runs, "
	        "%" PRIu64 " crash points x %d damage modes, %" PRIu64 " records checked, %" PRIu64 " lost, "
	        "%" PRIu64 " phantom, %.1f s\n",
	        'a' + wl, workload_names[wl], ty.trials, ty.runs, ty.points, MODES_PER_POINT, ty.checked, ty.lost,
	        ty.phantom, secs);
	print_coverage(&ty);
	ck_assert_msg(ty.failed == 0, "%" PRIu64 " of %" PRIu64 " trials failed; first: %s", ty.failed,
	              ty.trials, ty.first);
}

/* A second crash at every mutating call of recovery, for a sample of first
 * crash points. */
static void double_crash(int wl, const char *test_name)
{
	uint64_t target = scaled(DEFAULT_DOUBLE_PER_WORKLOAD);
	uint64_t seed = tu_seed(test_name);
	uint64_t rng = mix64(seed) | 1;
	tally ty;
	memset(&ty, 0, sizeof(ty));
	double t0 = now_s();
	for (uint64_t instance = 0; ty.doubles < target; instance++) {
		uint64_t wseed = mix64(seed + instance + 1000003);
		uint64_t total = probe(wl, wseed, &ty, NULL);
		uint64_t stride = 5 + rnd(&rng) % 7;
		for (uint64_t n = 1 + rnd(&rng) % stride; n <= total && ty.doubles < target; n += stride) {
			ty.points++;
			int mode = mode_for(n, (int)(n % MODES_PER_POINT));
			trial_spec sp = {wl, wseed, n, mode, hash4(wseed, n, 77, 0xD0), 0, 0, 0, 0};
			trial_out out;
			run_trial(&sp, &out, false);
			tally_add(&ty, &sp, &out);
			uint64_t recovery = out.recovery_mutations;
			for (uint64_t m = 1; m <= recovery; m++) {
				sp.recovery_n = m;
				sp.mode2 = mode_for(m, (int)((n + m) % MODES_PER_POINT));
				sp.cseed2 = hash4(wseed, n, m, 0xD1);
				run_trial(&sp, &out, false);
				tally_add(&ty, &sp, &out);
			}
		}
	}
	double secs = now_s() - t0;
	totals->seconds += secs;
	totals->ran |= 1u << (W_COUNT + wl);
	tally_commit(&ty, wl);
	fprintf(stderr,
	        "crash (%c) %s, "
	        "second crash in recovery: %" PRIu64 " double-crash trials after %" PRIu64 " first crashes, "
	        "%" PRIu64 " records checked, %" PRIu64 " lost, %" PRIu64 " phantom, %.1f s\n",
	        'a' + wl, workload_names[wl], ty.doubles, ty.points, ty.checked, ty.lost, ty.phantom, secs);
	ck_assert_msg(ty.failed == 0, "%" PRIu64 " of %" PRIu64 " trials failed; first: %s", ty.failed,
	              ty.trials + ty.doubles, ty.first);
}

/* A process kill at every call it counts, one damage mode each in turn:
 * recovery over the page cache, appends, then a power loss. */
static void kill_then_power_loss(int wl, const char *test_name)
{
	static const int modes[] = {SIM_CRASH_DROP_ALL, SIM_CRASH_RANDOM, SIM_CRASH_TORN, SIM_CRASH_SIZE_ONLY,
	                            SIM_CRASH_GARBAGE, SIM_CRASH_MIXED};
	uint64_t target = scaled(DEFAULT_KILL_PER_WORKLOAD);
	uint64_t seed = tu_seed(test_name);
	tally ty;
	memset(&ty, 0, sizeof(ty));
	double t0 = now_s();
	for (uint64_t instance = 0; ty.kills < target; instance++) {
		uint64_t wseed = mix64(seed + instance + 2000003);
		uint64_t calls = 0;
		probe(wl, wseed, &ty, &calls);
		for (uint64_t k = 1; k <= calls + 1; k++) {
			ty.points++;
			trial_spec sp = {wl, wseed, k, modes[k % 6], hash4(wseed, k, 5, 0xE1), 0, 0, 0, 1};
			trial_out out;
			run_trial(&sp, &out, false);
			tally_add(&ty, &sp, &out);
		}
	}
	double secs = now_s() - t0;
	totals->seconds += secs;
	totals->ran |= 1u << (2 * W_COUNT + wl);
	tally_commit(&ty, wl);
	fprintf(stderr,
	        "crash (%c) %s, process killed, "
	        "then power lost after recovery: %" PRIu64 " trials (every kill point), "
	        "%" PRIu64 " records checked, %" PRIu64 " lost, %" PRIu64 " phantom, %.1f s\n",
	        'a' + wl, workload_names[wl], ty.kills, ty.checked, ty.lost, ty.phantom, secs);
	ck_assert_msg(ty.failed == 0, "%" PRIu64 " of %" PRIu64 " trials failed; first: %s", ty.failed,
	              ty.kills + ty.trials, ty.first);
}

/* ================================================================== tests */

START_TEST(test_crash_durable_appends)
{
	exhaustive(W_APPEND, "crash durable appends");
}
END_TEST

START_TEST(test_crash_concurrent_appends)
{
	exhaustive(W_CONCURRENT, "crash concurrent appends");
}
END_TEST

START_TEST(test_crash_retention)
{
	exhaustive(W_RETENTION, "crash retention");
}
END_TEST

START_TEST(test_crash_topic_churn)
{
	exhaustive(W_CHURN, "crash topic churn");
}
END_TEST

START_TEST(test_kill_then_power_loss)
{
	static const char *const names[W_COUNT] = {"kill, then power loss (a)", "kill, then power loss (b)",
	                                           "kill, then power loss (c)", "kill, then power loss (d)"};
	kill_then_power_loss(_i, names[_i]);
}
END_TEST

START_TEST(test_double_crash)
{
	static const char *const names[W_COUNT] = {"crash in recovery (a)", "crash in recovery (b)",
	                                           "crash in recovery (c)", "crash in recovery (d)"};
	double_crash(_i, names[_i]);
}
END_TEST

/* Every workload without a crash, for many seeds (the crash tests take a
 * few seeds each, every crash point of them): nothing fails, nothing is
 * lost through a clean close and a power loss after it. Sequences of
 * operations that break the store without any crash show up here; the
 * two preallocation regressions below were such sequences. */
START_TEST(test_no_crash_control)
{
	uint64_t seed = tu_seed("crash control");
	uint64_t runs = scaled(500);
	double t0 = now_s();
	for (int wl = 0; wl < W_COUNT; wl++) {
		uint64_t checked = 0;
		for (uint64_t i = 0; i < runs; i++) {
			trial_spec sp = {wl, mix64(seed + i), 0, (int)(i % SIM_CRASH_MODES), i, 0, 0, 0, 0};
			trial_out out;
			run_trial(&sp, &out, false);
			ck_assert_msg(!out.failed, "%s", out.msg);
			ck_assert_msg(out.mutations > 20, "workload %c made only %" PRIu64 " mutating calls", 'a' + wl,
			              out.mutations);
			checked += out.checked;
		}
		/* (d) may delete every topic of one run, not of all of them. */
		ck_assert_msg(checked > 0, "workload %c left nothing to check", 'a' + wl);
	}
	fprintf(stderr, "crash: control: %" PRIu64 " runs of each workload without a crash, %.1f s\n", runs,
	        now_s() - t0);
}
END_TEST

/* The oracle catches what it must, so that a green run means something:
 * an acknowledged batch cut off the log is reported lost, and a record
 * appended behind the oracle's back is reported as a phantom. */
START_TEST(test_oracle_detects_damage)
{
	sim_fs *sim = sim_new(1);
	ck_assert_int_eq(sim_mkdirs(sim, "/sim"), 0);
	trial_spec sp = {W_APPEND, 12345, 0, SIM_CRASH_DROP_ALL, 1, 0, 0, 0, 0};
	trial_out out;
	memset(&out, 0, sizeof(out));
	trial t = {&sp, &out, PTHREAD_MUTEX_INITIALIZER};
	oracle *o = oracle_new(sp.wseed);
	wctx w;
	memset(&w, 0, sizeof(w));
	w.t = &t;
	w.o = o;
	w.sim = sim;
	w.rng = 99;
	w.bg = batch_gen_new();
	w.opts = (rill_options)RILL_OPTIONS_INIT;
	w.opts.io = sim_io(sim);
	w.opts.io_writeback = sim_io_writeback;
	rill_config c;
	base_config(&c);
	ck_assert(op_open_store(&w));
	int i = op_create(&w, "a", 2, &c);
	ck_assert_int_ge(i, 0);
	uint32_t lossy = oracle_stream(o, i, 0, P_SMALL);
	uint32_t ghost = oracle_stream(o, i, 1, P_SMALL);
	for (int k = 0; k < 5; k++) {
		ck_assert(op_append(&w, w.bg, lossy, 0));
		ck_assert(op_append(&w, w.bg, ghost, 0));
	}
	/* Partition 1: a well-formed batch of the stream, appended without
	 * telling the oracle (its batch number was never attempted). */
	uint32_t count = batch_count(o, ghost, 9);
	for (uint32_t k = 0; k < count; k++) {
		gen_record(&w.bg->g[k], o, ghost, 9, k);
		w.bg->recs[k] = w.bg->g[k].rec;
	}
	ck_assert_int_eq(rill_append(NULL, o->inc[i].handle, 1, w.bg->recs, count, 0), 0);
	ck_assert(op_close_store(&w));
	/* Partition 0: cut the file inside its last (acknowledged) batch and
	 * make the next open recover it from scratch. */
	const char *log = "/sim/store/a/a-0/00000000000000000000.log";
	int64_t size = sim_file_size(sim, log);
	ck_assert_int_gt(size, 10);
	ck_assert_int_eq(sim_truncate_file(sim, log, (uint64_t)size - 10), 0);
	ck_assert_int_eq(sim_remove(sim, "/sim/store/.clean-shutdown"), 0);
	ck_assert_int_eq(sim_remove(sim, "/sim/store/a/a-0/partition.checkpoint"), 0);
	vctx v;
	memset(&v, 0, sizeof(v));
	v.t = &t;
	v.o = o;
	v.phase = "oracle self-test";
	gen_init(&v.g);
	ck_assert_int_eq(rill_store_open(&v.store, STORE_PATH, &w.opts), 0);
	verify_store(&v);
	ck_assert_msg(out.lost > 0, "the oracle missed a lost acknowledged batch");
	ck_assert_msg(out.phantom > 0, "the oracle missed a record nobody appended");
	close_handles(o);
	rill_store_close(v.store);
	gen_free(&v.g);
	batch_gen_free(w.bg);
	oracle_free(o);
	sim_free(sim);
}
END_TEST

/* A fresh sim file system (behaviour flags SIM_FLAG_*) with a store open
 * on it; *o keeps the options for reopening. */
static sim_fs *sim_with_store(uint64_t seed, uint32_t flags, rill_options *o, rill_store **s)
{
	sim_fs *sim = sim_new(seed);
	sim_set_flags(sim, flags);
	ck_assert_int_eq(sim_mkdirs(sim, "/sim"), 0);
	*o = (rill_options)RILL_OPTIONS_INIT;
	o->io = sim_io(sim);
	o->io_writeback = sim_io_writeback;
	ck_assert_int_eq(rill_store_open(s, STORE_PATH, o), 0);
	return sim;
}

/* Topic "t" of `partitions` partitions under durability=os, each given
 * `records` one-record batches of 100 bytes; its handle is closed. */
static void append_to_each(rill_store *s, int32_t partitions, int records)
{
	rill_config c;
	rill_config_init(&c);
	ck_assert_int_eq(rill_config_set(&c, "durability", "os"), 0);
	ck_assert_int_eq(rill_topic_create(s, "t", partitions, &c), 0);
	rill_topic *t = NULL;
	ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
	char v[100];
	memset(v, 'v', sizeof(v));
	rill_record r = {NULL, 0, v, sizeof(v), NULL, 0, T0_MS, 0};
	for (int32_t p = 0; p < partitions; p++)
		for (int i = 0; i < records; i++)
			ck_assert_int_eq(rill_append(NULL, t, p, &r, 1, 0), 0);
	rill_topic_close(t);
}

/* Open the store, check that each of topic t's partitions ends at
 * `log_end` and the whole store verifies, and close it. */
static void expect_log_ends(const rill_options *o, int32_t partitions, uint64_t log_end)
{
	rill_store *s = NULL;
	rill_topic *t = NULL;
	ck_assert_int_eq(rill_store_open(&s, STORE_PATH, o), 0);
	ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
	for (int32_t p = 0; p < partitions; p++) {
		rill_offsets off;
		ck_assert_int_eq(rill_partition_offsets(&off, t, p), 0);
		ck_assert_uint_eq(off.log_end, log_end);
	}
	ck_assert_int_eq(rill_verify(s, NULL, NULL, NULL, NULL, NULL), 0);
	rill_topic_close(t);
	ck_assert_int_eq(rill_store_close(s), 0);
}

/* A clean open changes nothing per partition (the checkpoint it read is
 * the one on stable storage, index files with no entries (empty, or never
 * written) need no cut), nor does
 * a close with nothing appended: what they write does not grow with the
 * partitions. And a power loss right after such an open and close loses
 * nothing. */
START_TEST(test_clean_open_writes_nothing_per_partition)
{
	uint64_t open_writes[2], close_writes[2];
	for (int k = 0; k < 2; k++) {
		int32_t partitions = k == 0 ? 1 : 16;
		rill_options o;
		rill_store *s = NULL;
		sim_fs *sim = sim_with_store(13, 0, &o, &s);
		append_to_each(s, partitions, 3);
		rill_topic *t = NULL;
		ck_assert_int_eq(rill_store_close(s), 0);

		uint64_t m0 = sim_mutations(sim);
		ck_assert_int_eq(rill_store_open(&s, STORE_PATH, &o), 0);
		ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
		uint64_t m1 = sim_mutations(sim);
		rill_topic_close(t);
		ck_assert_int_eq(rill_store_close(s), 0);
		uint64_t m2 = sim_mutations(sim);
		open_writes[k] = m1 - m0;
		close_writes[k] = m2 - m1;

		sim_crash(sim, SIM_CRASH_DROP_ALL, 5);
		expect_log_ends(&o, partitions, 3);
		sim_free(sim);
	}
	ck_assert_msg(open_writes[1] == open_writes[0], "a clean open of 16 partitions made %" PRIu64
	              " changes, of 1 partition %" PRIu64, open_writes[1], open_writes[0]);
	ck_assert_msg(close_writes[1] == close_writes[0], "an idle close of 16 partitions made %" PRIu64
	              " changes, of 1 partition %" PRIu64, close_writes[1], close_writes[0]);
}
END_TEST

/* Warnings and errors logged, for tests that expect none; the trims of
 * preallocated room after a power loss (logged as information) apart. */
typedef struct warning_count {
	int warnings;
	int zero_tails;
} warning_count;

static void count_warnings(void *ctx, int level, const char *message)
{
	warning_count *c = ctx;
	if (level >= RILL_LOG_WARN)
		c->warnings++;
	else if (strstr(message, "preallocated room") != NULL)
		c->zero_tails++;
}

/* Creating a topic costs each new partition one sync: the directory fsync
 * that makes its first, empty segment file durable. No checkpoint and no
 * index files are written until there is something in them (their absence
 * says the same: docs/FORMAT.md), neither at the first open nor at the
 * close. Such partitions reopen without a warning, after a clean close
 * (writing nothing) and after a power loss, and then keep what is
 * appended to them through the next power loss, whose recovery warns of
 * nothing (the preallocated room it trims is information). */
START_TEST(test_new_partitions_sync_once)
{
	uint64_t create_syncs[2], reopen_writes[2];
	for (int k = 0; k < 2; k++) {
		int32_t partitions = k == 0 ? 1 : 16;
		rill_options o;
		rill_store *s = NULL;
		sim_fs *sim = sim_with_store(19, 0, &o, &s);
		warning_count logged = {0, 0};
		o.log = count_warnings;
		o.log_ctx = &logged;
		ck_assert_int_eq(rill_store_close(s), 0);
		ck_assert_int_eq(rill_store_open(&s, STORE_PATH, &o), 0);

		uint64_t syncs0 = sim_calls(sim, SIM_OP_SYNC);
		ck_assert_int_eq(rill_topic_create(s, "t", partitions, NULL), 0);
		rill_topic *t = NULL;
		ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
		rill_topic_close(t);
		ck_assert_int_eq(rill_store_close(s), 0);
		create_syncs[k] = sim_calls(sim, SIM_OP_SYNC) - syncs0;
		for (int32_t p = 0; p < partitions; p++) {
			char path[128];
			snprintf(path, sizeof(path), STORE_PATH "/t/t-%d/00000000000000000000.log", p);
			ck_assert_int_eq(sim_exists_durable(sim, path), 1);
			snprintf(path, sizeof(path), STORE_PATH "/t/t-%d/partition.checkpoint", p);
			ck_assert_int_eq(sim_exists(sim, path), 0);
			snprintf(path, sizeof(path), STORE_PATH "/t/t-%d/00000000000000000000.index", p);
			ck_assert_int_eq(sim_exists(sim, path), 0);
		}

		/* A clean reopen and close write nothing for any partition. */
		uint64_t m0 = sim_mutations(sim);
		ck_assert_int_eq(rill_store_open(&s, STORE_PATH, &o), 0);
		ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
		rill_topic_close(t);
		ck_assert_int_eq(rill_store_close(s), 0);
		reopen_writes[k] = sim_mutations(sim) - m0;

		/* Power loss while open: recovered without a warning, empty. */
		ck_assert_int_eq(rill_store_open(&s, STORE_PATH, &o), 0);
		sim_crash_after(sim, 1); /* the process dies at its next change */
		ck_assert_int_ne(rill_store_close(s), 0);
		sim_crash(sim, SIM_CRASH_DROP_ALL, 5);
		ck_assert_int_eq(rill_store_open(&s, STORE_PATH, &o), 0);
		ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
		ck_assert_int_eq(logged.warnings, 0);
		ck_assert_int_eq(logged.zero_tails, 0);
		char v[100];
		memset(v, 'v', sizeof(v));
		rill_record r = {NULL, 0, v, sizeof(v), NULL, 0, T0_MS, 0};
		for (int32_t p = 0; p < partitions; p++) {
			rill_offsets off;
			ck_assert_int_eq(rill_partition_offsets(&off, t, p), 0);
			ck_assert_uint_eq(off.log_end, 0);
			for (int i = 0; i < 3; i++)
				ck_assert_int_eq(rill_append(NULL, t, p, &r, 1, RILL_APPEND_SYNC), 0);
		}
		rill_topic_close(t);

		/* What was acknowledged survives the next power loss. */
		sim_crash_after(sim, 1);
		ck_assert_int_ne(rill_store_close(s), 0);
		sim_crash(sim, SIM_CRASH_DROP_ALL, 6);
		expect_log_ends(&o, partitions, 3);
		/* No warning: no checkpoint was written before the crash, and
		 * none was needed; the preallocated room recovery trims (one
		 * segment a partition) is no damage. */
		ck_assert_int_eq(logged.warnings, 0);
		ck_assert_int_eq(logged.zero_tails, partitions);
		sim_free(sim);
	}
	ck_assert_msg(create_syncs[1] - create_syncs[0] == 15,
	              "creating, opening and closing 16 partitions made %" PRIu64 " syncs, 1 partition %" PRIu64
	              ": not one more a partition",
	              create_syncs[1], create_syncs[0]);
	ck_assert_msg(reopen_writes[1] == reopen_writes[0], "a clean reopen of 16 new partitions made %" PRIu64
	              " changes, of 1 partition %" PRIu64, reopen_writes[1], reopen_writes[0]);
}
END_TEST

/* A topic of many partitions closes them from several threads (topic.c):
 * the close still syncs every one of them before the clean marker, so a
 * power loss right after it loses nothing and the next open is clean. A
 * sync that fails in one of the threads fails the close with that
 * thread's message, leaves the marker unwritten, and costs at most that
 * partition's unsynced records. */
START_TEST(test_parallel_close_syncs_every_partition)
{
	enum { PARTITIONS = 64, RECORDS = 3 };
	for (int fail = 0; fail < 2; fail++) {
		rill_options o;
		rill_store *s = NULL;
		sim_fs *sim = sim_with_store(17, 0, &o, &s);
		append_to_each(s, PARTITIONS, RECORDS);
		rill_topic *t = NULL;
		if (fail)
			ck_assert_int_eq(sim_fail_at(sim, SIM_OP_SYNC, PARTITIONS, -EIO, 0), 0);
		int rc = rill_store_close(s);
		if (fail) {
			ck_assert_int_ne(rc, 0);
			ck_assert_msg(strstr(rill_errmsg(), "/sim/") != NULL, "close failed: %s", rill_errmsg());
		} else {
			ck_assert_int_eq(rc, 0);
		}
		sim_clear_faults(sim);

		sim_crash(sim, SIM_CRASH_DROP_ALL, 5);
		ck_assert_int_eq(rill_store_open(&s, STORE_PATH, &o), 0);
		rill_store_stats st;
		ck_assert_int_eq(rill_store_stats_get(&st, s), 0);
		ck_assert_int_eq(st.clean_open, !fail);
		ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
		int whole = 0;
		for (int32_t p = 0; p < PARTITIONS; p++) {
			rill_offsets off;
			ck_assert_int_eq(rill_partition_offsets(&off, t, p), 0);
			ck_assert_msg(off.log_end == RECORDS || (fail && off.log_end == 0),
			              "partition %d: log end %" PRIu64, (int)p, off.log_end);
			whole += off.log_end == RECORDS;
		}
		ck_assert_int_ge(whole, fail ? PARTITIONS - 1 : PARTITIONS);
		ck_assert_int_eq(rill_verify(s, NULL, NULL, NULL, NULL, NULL), 0);
		rill_topic_close(t);
		ck_assert_int_eq(rill_store_close(s), 0);
		sim_free(sim);
	}
}
END_TEST

/* Regression (found by the soak, workload d): a segment written under
 * durability=os, then altered to append with preallocate on, had its
 * acknowledged batches overwritten by the zero-fill, which started at
 * prealloc_end (0) instead of the end of the file. No crash needed. */
START_TEST(test_preallocate_after_alter_keeps_data)
{
	static const char *const from[] = {"os", "interval"};
	for (int k = 0; k < 2; k++) {
		rill_options o;
		rill_store *s = NULL;
		sim_fs *sim = sim_with_store(7, 0, &o, &s);
		rill_config c;
		rill_config_init(&c);
		ck_assert_int_eq(rill_config_set(&c, "durability", from[k]), 0);
		c.segment_bytes = 16384;
		c.preallocate = 1;
		ck_assert_int_eq(rill_topic_create(s, "t", 1, &c), 0);
		rill_topic *t = NULL;
		ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
		char v[100];
		memset(v, 'x', sizeof(v));
		rill_record r = {NULL, 0, v, sizeof(v), NULL, 0, T0_MS, 0};
		ck_assert_int_eq(rill_append(NULL, t, 0, &r, 1, RILL_APPEND_SYNC), 0);
		ck_assert_int_eq(rill_topic_alter(t, "durability", "append"), 0);
		memset(v, 'y', sizeof(v));
		ck_assert_int_eq(rill_append(NULL, t, 0, &r, 1, 0), 0);
		rill_topic_close(t);
		ck_assert_int_eq(rill_store_close(s), 0);
		ck_assert_int_eq(rill_store_open(&s, STORE_PATH, &o), 0);
		ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
		rill_reader *rd = NULL;
		ck_assert_int_eq(rill_reader_open(&rd, t, 0, 0), 0);
		for (int i = 0; i < 2; i++) {
			rill_record got;
			int rc = rill_reader_next(rd, &got);
			ck_assert_msg(rc == 0, "durability %s then append: record %d: %s", from[k], i, rill_errmsg());
			ck_assert_uint_eq(got.value_len, sizeof(v));
			ck_assert_int_eq(((const char *)got.value)[0], i == 0 ? 'x' : 'y');
		}
		rill_reader_close(rd);
		rill_topic_close(t);
		ck_assert_int_eq(rill_store_close(s), 0);
		sim_free(sim);
	}
}
END_TEST

/* Regression (found by the soak, workload d): a segment preallocated under
 * durability=append, then rolled after an alter to os or interval, kept
 * its zeros past the last batch (those rolls skipped the trim), and
 * readers of the sealed segment met them as corruption. No crash needed. */
START_TEST(test_roll_after_alter_trims_preallocation)
{
	static const char *const to[] = {"os", "interval"};
	for (int k = 0; k < 2; k++) {
		rill_options o;
		rill_store *s = NULL;
		sim_fs *sim = sim_with_store(8, 0, &o, &s);
		rill_config c;
		rill_config_init(&c);
		c.segment_bytes = 4096;
		c.preallocate = 1;
		ck_assert_int_eq(rill_topic_create(s, "t", 1, &c), 0);
		rill_topic *t = NULL;
		ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
		char v[500];
		memset(v, 'v', sizeof(v));
		rill_record r = {NULL, 0, v, sizeof(v), NULL, 0, T0_MS, 0};
		ck_assert_int_eq(rill_append(NULL, t, 0, &r, 1, 0), 0); /* preallocates */
		ck_assert_int_eq(rill_topic_alter(t, "durability", to[k]), 0);
		for (int i = 0; i < 12; i++) /* past 4096 bytes: rolls under os/interval */
			ck_assert_int_eq(rill_append(NULL, t, 0, &r, 1, 0), 0);
		rill_partition_stats ps;
		ck_assert_int_eq(rill_partition_stats_get(&ps, t, 0), 0);
		ck_assert_uint_ge(ps.segments, 2);
		rill_topic_close(t);
		ck_assert_int_eq(rill_store_close(s), 0);
		ck_assert_int_eq(rill_store_open(&s, STORE_PATH, &o), 0);
		ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
		rill_reader *rd = NULL;
		ck_assert_int_eq(rill_reader_open(&rd, t, 0, 0), 0);
		for (int i = 0; i < 13; i++) {
			rill_record got;
			int rc = rill_reader_next(rd, &got);
			ck_assert_msg(rc == 0, "append, then %s: record %d: %s", to[k], i, rill_errmsg());
			ck_assert_uint_eq(got.offset, (uint64_t)i);
		}
		rill_reader_close(rd);
		uint64_t problems = 0;
		ck_assert_int_eq(rill_verify(s, NULL, NULL, NULL, NULL, &problems), 0);
		rill_topic_close(t);
		ck_assert_int_eq(rill_store_close(s), 0);
		sim_free(sim);
	}
}
END_TEST

/* Retention under durability=os and interval writes back nothing: what it
 * deletes is never read again, and the segments it keeps stay the OS's to
 * write (before, each pass synced the whole log first, which at 100 MiB/s
 * of appends halved the append rate). Safe because the new log start is a
 * segment base whose file is durable: a power loss that keeps none of the
 * unsynced data still leaves log start <= log end, offsets continuing
 * from the start, and one that keeps it all leaves every record. */
START_TEST(test_retention_writes_back_nothing)
{
	static const char *const modes[] = {"os", "interval"};
	for (int k = 0; k < 4; k++) {
		bool keep_all = k % 2 == 1;
		/* The failed syncs of the killed close below must not discard
		 * what keep-all is to keep. */
		rill_options o;
		rill_store *s = NULL;
		sim_fs *sim = sim_with_store(11, SIM_FLAG_SYNC_FAIL_KEEPS, &o, &s);
		rill_config c;
		rill_config_init(&c);
		ck_assert_int_eq(rill_config_set(&c, "durability", modes[k / 2]), 0);
		c.segment_bytes = 4096;
		c.flush_messages = 1000000;
		c.flush_ms = 3600000;
		ck_assert_int_eq(rill_topic_create(s, "t", 1, &c), 0);
		rill_topic *t = NULL;
		ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
		char v[300];
		rill_record r = {NULL, 0, v, sizeof(v), NULL, 0, T0_MS, 0};
		for (int i = 0; i < 60; i++) {
			memset(v, 'a' + i % 26, sizeof(v));
			ck_assert_int_eq(rill_append(NULL, t, 0, &r, 1, 0), 0);
		}
		rill_partition_stats before;
		ck_assert_int_eq(rill_partition_stats_get(&before, t, 0), 0);
		ck_assert_uint_gt(before.segments, 3);
		ck_assert_uint_eq(before.durable, 0);
		sim_stats pending;
		sim_stats_get(sim, &pending);
		ck_assert_uint_ge(pending.pending_data_bytes, before.bytes_on_disk);

		ck_assert_int_eq(rill_topic_alter(t, "retention.bytes", "8192"), 0);
		uint64_t deleted = 0;
		ck_assert_int_eq(rill_topic_retain(t, &deleted), 0);
		rill_partition_stats after;
		ck_assert_int_eq(rill_partition_stats_get(&after, t, 0), 0);
		ck_assert_uint_gt(deleted, 0);
		ck_assert_uint_gt(after.log_start, 0);
		ck_assert_uint_eq(after.log_end, before.log_end);
		ck_assert_uint_eq(after.fsyncs, before.fsyncs); /* no segment synced */
		/* Nothing of the kept segments was written back. */
		sim_stats_get(sim, &pending);
		ck_assert_uint_ge(pending.pending_data_bytes, after.bytes_on_disk);

		/* Power loss, the store still open: fail every call first so its
		 * close writes nothing to the image. */
		rill_topic_close(t);
		ck_assert_int_eq(sim_fail_at(sim, SIM_OP_ALL, 1, -EIO, 1), 0);
		rill_store_close(s);
		sim_crash(sim, keep_all ? SIM_CRASH_KEEP_ALL : SIM_CRASH_DROP_ALL, 5);

		ck_assert_int_eq(rill_store_open(&s, STORE_PATH, &o), 0);
		ck_assert_int_eq(rill_topic_open(&t, s, "t"), 0);
		rill_offsets off;
		ck_assert_int_eq(rill_partition_offsets(&off, t, 0), 0);
		ck_assert_uint_eq(off.log_start, after.log_start); /* never moves back */
		uint64_t want_end = keep_all ? after.log_end : after.log_start;
		ck_assert_msg(off.log_end == want_end, "%s, %s: log end %" PRIu64 ", expected %" PRIu64 " (log start %" PRIu64 ")",
		              modes[k / 2], keep_all ? "keep all" : "drop all", off.log_end, want_end, off.log_start);
		rill_reader *rd = NULL;
		ck_assert_int_eq(rill_reader_open(&rd, t, 0, RILL_START_EARLIEST), 0);
		uint64_t next = off.log_start;
		rill_record got;
		int rc;
		while ((rc = rill_reader_next(rd, &got)) == 0) {
			ck_assert_uint_eq(got.offset, next);
			ck_assert_int_eq(((const char *)got.value)[0], 'a' + (int)(next % 26));
			next++;
		}
		ck_assert_msg(rc == RILL_EAGAIN, "%s: %s", rill_strerror(rc), rill_errmsg());
		ck_assert_uint_eq(next, off.log_end);
		rill_reader_close(rd);
		/* Appends continue the offsets from the end recovery found. */
		rill_append_info info;
		ck_assert_int_eq(rill_append(&info, t, 0, &r, 1, RILL_APPEND_SYNC), 0);
		ck_assert_uint_eq(info.base_offset, off.log_end);
		uint64_t problems = 0;
		ck_assert_int_eq(rill_verify(s, NULL, NULL, NULL, NULL, &problems), 0);
		ck_assert_uint_eq(problems, 0);
		rill_topic_close(t);
		ck_assert_int_eq(rill_store_close(s), 0);
		sim_free(sim);
	}
}
END_TEST

/* RILL_CRASH_REPLAY=<spec>: one trial, verbose. */
START_TEST(test_replay)
{
	trial_spec sp;
	const char *text = getenv("RILL_CRASH_REPLAY");
	ck_assert_msg(spec_parse(text, &sp), "RILL_CRASH_REPLAY=%s: expected w:wseed:n:mode:cseed[:m:mode2:cseed2]", text);
	trial_out out;
	run_trial(&sp, &out, true);
	ck_assert_msg(!out.failed, "%s", out.msg);
}
END_TEST

/* RILL_SOAK: random workload, seed, crash point, damage; a second crash in
 * recovery one time in four. */
START_TEST(test_soak)
{
	const char *env = getenv("RILL_SOAK");
	uint64_t want = strtoull(env, NULL, 10);
	if (want <= 1)
		want = 1000000;
	if (scaled_down())
		want = strtoull(getenv("RILL_CRASH_TRIALS"), NULL, 10);
	uint64_t seed = tu_seed("crash soak");
	uint64_t rng = mix64(seed) | 1;
	tally ty[W_COUNT];
	memset(ty, 0, sizeof(ty));
	uint64_t done = 0, failed = 0;
	double t0 = now_s();
	while (done < want) {
		int wl = (int)(rnd(&rng) % W_COUNT);
		uint64_t wseed = rnd(&rng);
		uint64_t kill_calls = 0;
		uint64_t total = probe(wl, wseed, &ty[wl], &kill_calls);
		for (int j = 0; j < 16 && done < want; j++) {
			trial_spec sp = {wl, wseed, 1 + rnd(&rng) % (total + 1), (int)(rnd(&rng) % SIM_CRASH_MODES), rnd(&rng), 0, 0, 0, 0};
			uint64_t kind = rnd(&rng) % 8;
			if (kind < 2) {
				sp.recovery_n = 1 + rnd(&rng) % 40;
				sp.mode2 = (int)(rnd(&rng) % SIM_CRASH_MODES);
				sp.cseed2 = rnd(&rng);
			} else if (kind == 2) {
				sp.kill = 1;
				sp.crash_n = 1 + rnd(&rng) % (kill_calls + 1);
			}
			trial_out out;
			run_trial(&sp, &out, false);
			tally_add(&ty[wl], &sp, &out);
			failed += out.failed;
			done++;
			if (done % 10000 == 0)
				fprintf(stderr, "crash soak: %" PRIu64 " trials, %" PRIu64 " failed, "
				        "%.0f s\n", done, failed,
				        now_s() - t0);
		}
	}
	totals->seconds += now_s() - t0;
	char first[1800] = "";
	for (int wl = 0; wl < W_COUNT; wl++) {
		tally_commit(&ty[wl], wl);
		if (first[0] == '\0' && ty[wl].failed)
			snprintf(first, sizeof(first), "%s", ty[wl].first);
	}
	ck_assert_msg(failed == 0, "%" PRIu64 " of %" PRIu64 " soak trials failed; first: %s", failed, done, first);
}
END_TEST

/* Last: the figures of the whole suite on one line. */
START_TEST(test_summary)
{
	uint64_t single = 0, doubles = 0, kills = 0;
	for (int wl = 0; wl < W_COUNT; wl++) {
		single += totals->trials[wl];
		doubles += totals->double_trials[wl];
		kills += totals->kill_trials[wl];
	}
	fprintf(stderr,
	        "crash: %" PRIu64 " crash-and-reopen trials (workloads a:%" PRIu64 ", b:%" PRIu64 ", "
	        "c:%" PRIu64 ", d:%" PRIu64 "), "
	        "%" PRIu64 " double-crash trials, %" PRIu64 " kill-then-power-loss trials, "
	        "%" PRIu64 " records checked, "
	        "%" PRIu64 " acknowledged records lost, %" PRIu64 " phantom records, "
	        "%" PRIu64 " failed trials, %.1f s\n",
	        single, totals->trials[0], totals->trials[1], totals->trials[2], totals->trials[3], doubles, kills,
	        totals->checked, totals->lost, totals->phantom, totals->failed, totals->seconds);
	fprintf(stderr, "crash: damage modes:");
	for (int m = 0; m < SIM_CRASH_MODES; m++)
		fprintf(stderr, " %s %" PRIu64, sim_crash_mode_name(m), totals->by_mode[m]);
	fprintf(stderr, "\n");
	if (totals->in_trial && totals->dead[0] == '\0')
		memcpy(totals->dead, totals->current, sizeof(totals->dead));
	ck_assert_msg(totals->dead[0] == '\0',
	              "a trial never finished (the library crashed, aborted or hung in it): RILL_CRASH_REPLAY=%s",
	              totals->dead);
	ck_assert_uint_eq(totals->lost, 0);
	ck_assert_uint_eq(totals->phantom, 0);
	if (totals->ran == (1u << (3 * W_COUNT)) - 1 && !scaled_down())
		ck_assert_msg(single >= 10000, "only %" PRIu64 " crash-and-reopen trials ran", single);
}
END_TEST

Suite *crash_suite(void)
{
	void *shared = mmap(NULL, sizeof(crash_totals), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	totals = shared == MAP_FAILED ? &local_totals : shared;
	memset(totals, 0, sizeof(*totals));

	Suite *s = suite_create("crash");
	TCase *tc = tcase_create("crash");
	const char *soak = getenv("RILL_SOAK");
	if (getenv("RILL_CRASH_REPLAY") != NULL) {
		tcase_set_timeout(tc, 0);
		tcase_add_test(tc, test_replay);
	} else if (soak != NULL && soak[0] != '\0') {
		tcase_set_timeout(tc, 0);
		tcase_add_test(tc, test_soak);
		tcase_add_test(tc, test_summary);
	} else {
		tcase_set_timeout(tc, 900);
		tcase_add_test(tc, test_oracle_detects_damage);
		tcase_add_test(tc, test_no_crash_control);
		tcase_add_test(tc, test_preallocate_after_alter_keeps_data);
		tcase_add_test(tc, test_roll_after_alter_trims_preallocation);
		tcase_add_test(tc, test_retention_writes_back_nothing);
		tcase_add_test(tc, test_clean_open_writes_nothing_per_partition);
		tcase_add_test(tc, test_new_partitions_sync_once);
		tcase_add_test(tc, test_parallel_close_syncs_every_partition);
		tcase_add_test(tc, test_crash_durable_appends);
		tcase_add_test(tc, test_crash_concurrent_appends);
		tcase_add_test(tc, test_crash_retention);
		tcase_add_test(tc, test_crash_topic_churn);
		tcase_add_loop_test(tc, test_double_crash, 0, W_COUNT);
		tcase_add_loop_test(tc, test_kill_then_power_loss, 0, W_COUNT);
		tcase_add_test(tc, test_summary);
	}
	suite_add_tcase(s, tc);
	return s;
}
