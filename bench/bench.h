/*
 * bench.h — what every bench program shares (harness.c) and the engine
 * interface that puts rill and its peers behind one set of calls
 * (engine_*.c).
 *
 * Sections
 *   clock          monotonic nanoseconds
 *   histogram      HDR-style log-linear latency buckets, no allocation
 *   counters       heap allocations and fsyncs of the whole process
 *                  (malloc/fsync interposed in the bench binary), RSS, fds
 *   arguments      one parser for every program; lists such as "1,16,256"
 *   results        median and min-max over repeats, table, CSV, ratios,
 *                  targets ("MISS: ..." lines)
 *   machine        CPU, cores, memory, kernel, file system, library versions
 *   data           deterministic, compressible record payloads from the seed
 *   engines        rill, raw file (growing, preallocated), SQLite, RocksDB,
 *                  LMDB: open, append, scan, get, close
 *
 * Measurement rules shared by all programs: every run starts from an empty
 * data directory; a warm-up phase is run and discarded; the measured phase
 * is bounded by --duration-ms and --count, whichever ends first; each
 * measurement is repeated --repeats times and reported as the median with
 * the minimum and maximum. Every engine of one configuration runs on the same
 * data in the same process, one after another, so ratios are pair by pair.
 */
#ifndef RILL_BENCH_H
#define RILL_BENCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rill.h"

/* ------------------------------------------------------------------ clock */

uint64_t bench_now_ns(void);
void bench_sleep_ms(double ms);

/* -------------------------------------------------------------- histogram */

/* Values below 2^HIST_SUB_BITS are exact; above, each power of two is cut
 * into 2^HIST_SUB_BITS buckets, so a reported value is within 1/64 of the
 * true one. 1920 counters, 15 KiB: one per thread, merged after the run. */
#define HIST_SUB_BITS 5
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64u - HIST_SUB_BITS + 1u) * HIST_SUB_COUNT)

typedef struct bench_hist {
	uint64_t count;               /* values recorded */
	uint64_t min;                 /* smallest value */
	uint64_t max;                 /* largest value (exact) */
	uint64_t sum;                 /* for the mean */
	uint64_t bucket[HIST_BUCKETS]; /* counts per log-linear bucket */
} bench_hist;

static inline unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB_COUNT)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS */
	unsigned sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB_COUNT - 1u);
	return ((e - HIST_SUB_BITS + 1u) << HIST_SUB_BITS) + sub;
}

static inline void hist_add(bench_hist *h, uint64_t v)
{
	h->bucket[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	if (v < h->min)
		h->min = v;
}

void hist_reset(bench_hist *h);
void hist_merge(bench_hist *dst, const bench_hist *src);
/* The value at percentile p (0..100): midpoint of its bucket, clamped to
 * [min, max]. 0 for an empty histogram. */
uint64_t hist_percentile(const bench_hist *h, double p);
/* Representative value of bucket i (its midpoint). */
uint64_t hist_bucket_value(unsigned i);

/* --------------------------------------------------------------- counters */

/* Every malloc/calloc/realloc/aligned allocation of the process, counted by
 * wrappers in harness.c that forward to glibc's __libc_* functions. */
uint64_t bench_allocs(void);
/* fsync + fdatasync calls of the process (wrappers around the syscalls).
 * LMDB's O_DSYNC meta-page writes are not calls and are not counted. */
uint64_t bench_fsyncs(void);
/* Resident set now and its peak since the last bench_rss_reset_peak(), MiB.
 * The reset trims the heap (malloc_trim) and writes 5 to
 * /proc/self/clear_refs; if the kernel refuses, the
 * peak is the process's lifetime peak (getrusage) and says so. */
double bench_rss_mb(void);
double bench_rss_peak_mb(void);
void bench_rss_reset_peak(void);
/* Number of open file descriptors (/proc/self/fd). */
int bench_open_fds(void);

/* -------------------------------------------------------------- arguments */

#define BENCH_LIST_MAX 16

typedef struct bench_list {
	int count;                 /* entries used */
	long value[BENCH_LIST_MAX]; /* parsed numbers */
} bench_list;

typedef struct bench_args {
	const char *program;         /* argv[0] basename */
	const char *dir;             /* data directory (created, emptied per run) */
	const char *out;             /* results directory (CSV, CDF), may be NULL */
	const char *engines;         /* comma list, "all" = every compiled engine */
	bench_list record_size;      /* bytes per record value */
	bench_list batch;            /* records per append call */
	bench_list partitions;       /* partitions per topic */
	bench_list producers;        /* appending threads */
	bench_list compression;      /* 0 none, 1 zstd */
	bench_list sizes_mb;         /* recovery: store sizes */
	int durable;                 /* 0 os, 1 append (per program default) */
	uint64_t count;              /* max measured records per run (0: none) */
	double duration_ms;          /* measured phase per run */
	double warmup_ms;            /* discarded phase before it */
	int repeats;                 /* runs per measurement */
	uint64_t seed;               /* data and random offsets */
	int64_t segment_bytes;       /* rill segment.bytes, 0: program default */
	uint64_t ops;                /* random reads / lookups per repeat */
	uint64_t prealloc_mb;        /* raw preallocated size, divided over the partitions */
	double rate;                 /* tail: appends per second, 0: as fast */
	int sqlite_off;              /* non-durable SQLite: 1 OFF, 0 NORMAL */
	double unclean_mb;           /* recovery: MB appended before the kill */
	int max_open_files;          /* rill: segment descriptor cache, 0 default */
	int64_t index_interval;      /* rill index.interval.bytes + 1; 0: default */
	int64_t batch_cache_mb;      /* rill batch cache: 0 program default, -1 none */
	int smoke;                   /* tiny run, no targets */
	int quiet;                   /* no progress line */
} bench_args;

/* Parse the common options (see bench/README.md); exits with usage on
 * error. `defaults` holds the program's defaults and is overwritten by what
 * argv says. Extra program options: none, by design. */
void bench_parse_args(bench_args *a, int argc, char **argv);
/* Print the machine, library versions, parameters and seed (and write
 * machine.txt to the results directory). */
void bench_print_header(const bench_args *a, const char *scenario_text);
/* 1 if engine `name` is selected and compiled in. */
int bench_engine_selected(const bench_args *a, const char *name);

/* Progress line on stderr ("\r" on a terminal, one line per step else). */
void bench_progress(const bench_args *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void bench_progress_done(const bench_args *a);

/* ----------------------------------------------------------------- results */

/* What identifies one measured configuration. */
typedef struct bench_cfg {
	const char *scenario;   /* "append", "durable", "scan_warm", ... */
	const char *engine;     /* "rill", "raw", "rawpre", "sqlite", ... */
	long record_size;
	long batch;
	long partitions;
	long producers;
	const char *compression; /* "none" or "zstd" */
	int durable;
	long data_mb;           /* size of the data set or store, 0 n/a */
} bench_cfg;

#define BENCH_REPEATS_MAX 32

/* Direction of a metric, for ratios and targets. */
enum { BENCH_HIGHER = 1, BENCH_LOWER = -1, BENCH_NEUTRAL = 0 };

/* Record one metric of one configuration over its repeats: prints nothing,
 * appends a CSV row, and keeps it for the table and the ratios. */
void bench_result(const bench_args *a, const bench_cfg *c, const char *metric,
                  const char *unit, int direction, const double *values,
                  int n);
/* Median of a metric recorded earlier, or NAN if absent. compression NULL
 * matches any. */
double bench_lookup(const char *scenario, const char *engine, long record_size,
                    long batch, long partitions, long producers,
                    const char *compression, int durable, const char *metric);
/* The largest median of a metric over every configuration of a scenario
 * and engine (NAN if none); `where` gets that configuration, *out_count
 * the number of configurations. */
double bench_worst(const char *scenario, const char *engine, const char *metric,
                   char *where, size_t where_size, int *out_count);
/* Print every result of `scenario` as a table: one block per configuration,
 * one row per engine, one column per metric, "median (min-max)". */
void bench_print_table(const char *scenario);
/* For every rill row of `scenario`, the ratio to each peer measured with
 * the same configuration (compression ignored: peers do not compress), for
 * the metrics with a direction. Printed and written to ratios.csv. */
void bench_print_ratios(const bench_args *a, const char *scenario);
/* A target: prints "MET:" or "MISS:" with the text, and writes it to
 * targets.csv. ok < 0: cannot be judged (a figure is missing). Skipped
 * (printed as "SKIP") in smoke runs. */
void bench_target(const bench_args *a, const char *text, double value,
                  double limit, int higher_is_better, const char *unit);

/* A target on rill/peer: SKIP when the peer was not measured, MISS when
 * rill was not (rill failing is a miss). */
void bench_target_ratio(const bench_args *a, const char *text, double rill,
                        double peer, double limit, int higher_is_better);

/* Write one latency distribution (CDF points) to cdf.csv. */
void bench_write_cdf(const bench_args *a, const bench_cfg *c,
                     const char *metric, const bench_hist *h);

/* Median, minimum and maximum of n values. */
void bench_stats(const double *v, int n, double *med, double *min, double *max);

/* ------------------------------------------------------------------- data */

/* A pool of compressible pseudo-text (about 3:1 with zstd), the same for a
 * seed on every machine. Record i's value is BENCH_VALUE(pool, i, size). */
#define BENCH_POOL_BYTES (4u << 20)
#define BENCH_POOL_STARTS 4096u

typedef struct bench_pool {
	uint8_t *bytes;                      /* BENCH_POOL_BYTES + 64 KiB */
	uint32_t start[BENCH_POOL_STARTS];  /* record i starts at start[i % N] */
} bench_pool;

void bench_pool_init(bench_pool *pool, uint64_t seed, size_t record_size_max);
/* bench_pool_init for a run's arguments: its seed, its largest record size. */
void bench_pool_init_for(bench_pool *pool, const bench_args *a);
void bench_pool_free(bench_pool *pool);
static inline const uint8_t *bench_value(const bench_pool *pool, uint64_t i)
{
	return pool->bytes + pool->start[i % BENCH_POOL_STARTS];
}
/* xorshift64* */
uint64_t bench_rand(uint64_t *state);

/* Remove a directory tree (ignores errors); create a directory path. */
void bench_rmrf(const char *path);
int bench_mkdirs(const char *path);
/* Sum of file sizes under a directory. */
uint64_t bench_dir_bytes(const char *path);
/* fsync every file under dir, posix_fadvise(DONTNEED) it, then try
 * /proc/sys/vm/drop_caches. Returns the fraction of the files' pages still
 * resident afterwards (mincore), or -1 if unknown. */
double bench_drop_cache(const char *dir);

/* ---------------------------------------------------------------- engines */

typedef struct bench_rec {
	const void *value;   /* payload */
	size_t len;          /* payload bytes */
	int64_t ts;          /* timestamp, ms */
} bench_rec;

typedef struct engine_params {
	const char *dir;          /* this engine's own directory */
	int reopen;               /* 1: open existing data, do not create */
	int partitions;           /* partitions (files, tables, key prefixes, DBIs) */
	int durable;              /* 1: every append call is on disk before return */
	int compression;          /* rill only: 0 none, 1 zstd */
	int producers;            /* threads that will append */
	size_t record_size;       /* for sizing only */
	size_t batch_max;         /* largest append call */
	uint64_t records_hint;    /* expected records (index sizing), 0 unknown */
	uint64_t prealloc_bytes;  /* rawpre: per-partition file size */
	int64_t segment_bytes;    /* rill: segment.bytes, 0 default */
	int preallocate;          /* rill: preallocate (1 default) */
	int64_t segment_index_bytes; /* rill: 0 default */
	int64_t retention_bytes;  /* rill: -1 none */
	int max_open_files;       /* rill: 0 default */
	int64_t index_interval;   /* rill: index.interval.bytes + 1; 0: default */
	int64_t background_ms;    /* rill: rill_store_start_background, 0 none */
	int64_t batch_cache_bytes;/* rill: rill_options.batch_cache_bytes (0 default, -1 none) */
	int sqlite_off;           /* non-durable sqlite: OFF instead of NORMAL */
} engine_params;

typedef struct engine_ops {
	const char *name;        /* "rill", "raw", ... */
	const char *summary;     /* how it is configured, one line */
	int (*open)(void **out, const engine_params *p);
	int (*close)(void *engine);                 /* clean: syncs */
	/* per-thread handle; for_read: reads only (a long read transaction) */
	int (*handle_open)(void **out, void *engine, int for_read);
	void (*handle_close)(void *handle);
	/* one call = one batch = one transaction/commit */
	int (*append)(void *handle, int partition, const bench_rec *recs,
	              size_t n);
	/* read every record of a partition in order, verifying what the engine
	 * verifies, touching every value; returns records and value bytes */
	int (*scan)(void *handle, int partition, uint64_t *out_records,
	            uint64_t *out_bytes);
	/* read one record by offset; *out_len its length */
	int (*get)(void *handle, int partition, uint64_t offset, size_t *out_len);
	/* first offset with ts >= t, NULL if not supported */
	int (*ts_lookup)(void *handle, int partition, int64_t ts,
	                 uint64_t *out_offset);
	/* engine-reported syncs since open, NULL if none */
	uint64_t (*syncs)(void *engine);
	/* segment files the engine holds now (its rolls create them), NULL if
	 * the engine has no segments */
	uint64_t (*segments)(void *engine);
	/* where a scanned value lives: 1 if the last scan's values pointed into
	 * a file mapping (no copy), 0 copied, -1 unknown; NULL if not tracked */
	int (*zero_copy)(void *handle);
} engine_ops;

/* Compiled-in engines, in table order. */
extern const engine_ops engine_rill;
extern const engine_ops engine_raw;
extern const engine_ops engine_rawpre;
#ifdef BENCH_HAVE_SQLITE
extern const engine_ops engine_sqlite;
#endif
#ifdef BENCH_HAVE_ROCKSDB
extern const engine_ops engine_rocksdb;
#endif
#ifdef BENCH_HAVE_LMDB
extern const engine_ops engine_lmdb;
#endif

/* All engines compiled in, NULL-terminated. */
extern const engine_ops *const bench_engines[];

/* Make the compiler compute x (a byte of a value that was read). */
#define BENCH_TOUCH(x) __asm__ volatile("" : : "r"(x))

/* Error text of the last failing engine call on this thread. */
const char *engine_errmsg(void);
void engine_set_errmsg(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* The rill store and topic behind an engine_rill instance. */
rill_topic *bench_rill_topic(void *engine);
rill_store *bench_rill_store(void *engine);

/* ----------------------------------------------------------------- runner */

/* Producers appending for a warm-up then a measured phase (runner.c). */
typedef struct run_spec {
	const engine_ops *ops;
	void *engine;
	const bench_pool *pool;
	int producers;          /* threads */
	int partitions;         /* producer t's k-th call goes to (t + k*T) % P */
	size_t record_size;     /* value bytes */
	size_t batch;           /* records per call */
	double warmup_ms;       /* discarded */
	double duration_ms;     /* measured (0: until count) */
	uint64_t count;         /* measured records, all threads (0: until time) */
	int latency;            /* time every call into the histogram */
	int64_t ts_base;        /* record timestamps: ts_base + seq / ts_per_ms */
	uint64_t ts_per_ms;
	/* called by the main thread about every 1 ms during the measured
	 * phase (retention sampling, RSS); may be NULL */
	void (*tick)(void *arg);
	void *tick_arg;
} run_spec;

typedef struct run_result {
	double seconds;         /* measured phase */
	uint64_t records;       /* measured */
	uint64_t calls;
	uint64_t allocs;        /* process-wide during the measured phase */
	uint64_t fsync_calls;   /* process-wide fsync+fdatasync calls */
	uint64_t engine_syncs;  /* engine-reported, when it reports */
	int engine_syncs_known;
	uint64_t segment_rolls; /* segments created in the measured phase */
	double rss_peak_mb;     /* since just before open (caller resets) */
	bench_hist latency;     /* per call, ns (if spec.latency) */
	int failed;
	char error[512];
} run_result;

/* A segment roll allocates the new segment's metadata: its struct, its
 * offset and time index arrays (reserved once, so appends never grow
 * them) and now and then the doubling of the partition's segment list.
 * Those allocations scale with segments (one per segment.bytes of log),
 * not with records; the "0 per record" target discounts this many per
 * roll and counts everything else. */
#define BENCH_ALLOCS_PER_ROLL 4

/* Allocations per record a run made beyond its segment rolls' allowance. */
double bench_allocs_per_record_beyond_rolls(const run_result *r);

/* Run the producers; 0 or -1 (result.error says why). */
int bench_run_appends(const run_spec *spec, run_result *result);
/* The engine parameters and producer spec of a timed append run
 * (bench_append, bench_durable): --duration-ms after --warmup-ms (or
 * --count records), preallocated to --prealloc-mb, no retention, timestamps
 * 16 records a millisecond from now. The caller sets what differs
 * (durability, compression, latency, hints). */
void bench_timed_run_setup(const bench_args *a, const bench_pool *pool, long rs,
                           long partitions, long producers, long batch,
                           engine_params *p, run_spec *s);
/* Open a fresh engine in <dir>/<engine name> (removed first), run the
 * producers, close it (a clean close syncs) and remove it. Resets the peak
 * RSS before opening. params->dir and spec->ops/engine are filled in. */
int bench_fresh_run(const bench_args *a, const engine_ops *ops,
                    engine_params *params, run_spec *spec, run_result *result);

/* Die with a message (bench programs do not recover from setup failures). */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Is addr inside a file mapping whose path ends with suffix (/proc/self/maps)? */
int bench_addr_in_file_map(const void *addr, const char *suffix);

#endif /* RILL_BENCH_H */
