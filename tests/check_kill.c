/*
 * check_kill.c — real processes on real files, killed with SIGKILL.
 *
 * Proves: a writer process killed at any moment loses nothing it
 * acknowledged, repeated unclean recovery (including recovery that was
 * itself killed) keeps the log whole, and a process reading the store
 * read-only meanwhile sees only whole, valid records.
 *
 * How. A child process (fork) opens a store in a temporary directory on the
 * real file system and appends with durability=append from three threads
 * (two share partition 0, so group commit is in play; one has partition 1):
 * batches of 1-4 records with values from 0 bytes to 70 KB, segment.bytes
 * 4096 so segments roll every few appends, zstd on some stores and
 * preallocation on others. Right after rill_append returns 0 the thread
 * reports (partition, base offset, writer, first sequence number, count)
 * through a pipe (one write under PIPE_BUF: atomic). The parent SIGKILLs the
 * child at a random moment — a random delay of 0-30 ms after fork (which
 * often lands inside rill_store_open and its recovery) or right after a
 * random number of acknowledgements — drains the pipe, then reopens the
 * store and checks it:
 *   - the open succeeds; half the time as a writer (which recovers and
 *     closes cleanly), half the time read-only (which changes nothing, so
 *     the next child recovers a store killed twice or more in a row);
 *   - every acknowledged record is at its offset, byte for byte;
 *   - offsets are dense from 0, and every record, acknowledged or not, is
 *     one that was written: its key names (partition, writer, sequence);
 *     value, header and timestamp derive from those; each writer's
 *     sequence numbers appear in order with no gap and no repeat;
 *   - rill_verify finds no problem.
 * The next child continues appending to the same store (fresh writer ids).
 *
 * The read-only case forks a reader process that opens the store read-only
 * before any writer and follows every partition while writer children are
 * started and killed one after another. It checks each record as above and
 * logs (partition, offset, content) to a file; at the end the parent checks
 * the store and that everything the reader saw is in it, at the same offset.
 *
 * Printed: "kill: N kills, M acknowledged records checked, 0 lost".
 * RILL_TEST_SEED replays the random choices (the timing stays real).
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rill.h"
#include "test_util.h"

Suite *kill_suite(void);


#define KILL_PARTITIONS 2
#define KILL_THREADS 3             /* writer threads per child */
#define KILL_WRITERS_MAX 4096      /* writer ids over a whole test */
#define KILL_STORES 4              /* fresh stores in the writer test */
#define KILL_PER_STORE 52          /* kills per store: 4 x 52 = 208 */
#define KILL_READER_KILLS 30       /* writer kills while the reader follows */
#define KILL_DELAY_MS_MAX 30       /* kill 0..30 ms after fork */
#define KILL_CHILD_MS_MAX 3000     /* a child still alive by then is killed */
#define KILL_VALUE_MAX 70000
#define KILL_TOPIC "kill"
#define KILL_TS_BASE 1700000000000LL

/* What a writer thread reports after each acknowledged append. */
typedef struct kill_ack {
	int32_t partition;
	uint32_t writer;
	uint32_t seq;                  /* sequence number of the first record */
	uint32_t count;                /* records in the batch */
	uint64_t base_offset;
} kill_ack;

_Static_assert(sizeof(kill_ack) <= PIPE_BUF, "acks must be atomic pipe writes");

/* The parent's knowledge of one store. */
typedef struct kill_state {
	char path[600];                /* store directory */
	uint64_t seed;                 /* content seed */
	int compress;                  /* zstd topic */
	int preallocate;
	/* expect[p][o] = content + 1 if offset o was acknowledged, else 0;
	 * content = writer << 32 | seq. seen[p][o] the same for what the last
	 * check read. */
	uint64_t *expect[KILL_PARTITIONS];
	uint64_t *seen[KILL_PARTITIONS];
	uint64_t cap[KILL_PARTITIONS]; /* entries allocated in expect and seen */
	uint64_t acked_end[KILL_PARTITIONS]; /* 1 + highest acknowledged offset */
	uint64_t log_end[KILL_PARTITIONS];   /* as of the last check */
	uint32_t acked_seqs[KILL_WRITERS_MAX]; /* per writer: acknowledged records */
	uint32_t writers;              /* writer ids handed out */
	uint64_t acked;                /* acknowledged records */
	uint64_t kills;
	uint64_t checks;
	uint64_t records_read;         /* by the checks */
	uint64_t killed_in_open;       /* kills before the first ack */
	uint64_t recoveries;           /* writer reopens after an unclean end */
	uint64_t bytes_cut;            /* torn tails those reopens cut */
} kill_state;

/* ---------------------------------------------------------------- content */

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Value length of content c; -1 for a tombstone. Mostly small, some a few
 * KB (past segment.bytes with their batch), a few up to 70 KB. */
static long value_len(uint64_t seed, uint64_t c)
{
	uint64_t h = mix(seed ^ mix(c));
	unsigned r = (unsigned)(h & 255);
	h >>= 8;
	if (r < 5)
		return -1;
	if (r < 9)
		return 20000 + (long)(h % 50000);
	if (r < 40)
		return 1000 + (long)(h % 5000);
	return (long)(h % 600);
}

/* Value bytes: 32 random bytes, then a compressible run derived from them. */
static void value_fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t c)
{
	uint8_t head[32];
	tu_fill(head, sizeof(head), seed, c);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(head[i % 32] + (i / 32) % 7);
}

typedef struct kill_rec {
	char key[48];
	char hvalue[24];
	rill_header header;
	rill_record rec;
} kill_rec;

/* Build record `seq` of writer `w` on partition p; value points at buf. */
static void make_rec(kill_rec *k, uint64_t seed, int32_t p, uint32_t w, uint32_t seq,
                     uint8_t *buf)
{
	uint64_t c = (uint64_t)w << 32 | seq;
	memset(k, 0, sizeof(*k));
	snprintf(k->key, sizeof(k->key), "p%d/w%u/s%u", (int)p, w, seq);
	k->rec.key = k->key;
	k->rec.key_len = strlen(k->key);
	long len = value_len(seed, c);
	if (len >= 0) {
		value_fill(buf, (size_t)len, seed, c);
		k->rec.value = buf;
		k->rec.value_len = (size_t)len;
	}
	if (seq % 3 == 0) {
		snprintf(k->hvalue, sizeof(k->hvalue), "%" PRIx64, mix(seed + c));
		k->header.name = "c";
		k->header.name_len = 1;
		k->header.value = k->hvalue;
		k->header.value_len = strlen(k->hvalue);
		k->rec.headers = &k->header;
		k->rec.header_count = 1;
	}
	k->rec.timestamp_ms = KILL_TS_BASE + (int64_t)w * 1048576 + seq;
}

/*
 * Is `got`, read from partition p, a record some writer wrote? NULL if so,
 * with *out_content = writer << 32 | seq; else what is wrong. buf holds
 * KILL_VALUE_MAX bytes of scratch.
 */
static const char *record_problem(uint64_t seed, int32_t p, const rill_record *got,
                                  uint8_t *buf, uint64_t *out_content)
{
	char key[48];
	if (got->key == NULL || got->key_len == 0 || got->key_len >= sizeof(key))
		return "key missing or too long";
	memcpy(key, got->key, got->key_len);
	key[got->key_len] = '\0';
	int kp = -1, consumed = 0;
	unsigned w = 0, seq = 0;
	if (sscanf(key, "p%d/w%u/s%u%n", &kp, &w, &seq, &consumed) != 3 ||
	    (size_t)consumed != got->key_len)
		return "key is not one the writers use";
	if (kp != p)
		return "record of another partition";
	if (w >= KILL_WRITERS_MAX)
		return "writer id out of range";
	kill_rec want;
	make_rec(&want, seed, p, w, seq, buf);
	if ((got->value == NULL) != (want.rec.value == NULL))
		return "tombstone mismatch";
	if (got->value_len != want.rec.value_len)
		return "value length differs";
	if (got->value_len > 0 && memcmp(got->value, want.rec.value, got->value_len) != 0)
		return "value bytes differ";
	if (got->timestamp_ms != want.rec.timestamp_ms)
		return "timestamp differs";
	if (got->header_count != want.rec.header_count)
		return "header count differs";
	if (want.rec.header_count == 1) {
		const rill_header *h = &got->headers[0];
		if (h->name_len != 1 || memcmp(h->name, "c", 1) != 0 || h->value == NULL ||
		    h->value_len != want.header.value_len ||
		    memcmp(h->value, want.header.value, h->value_len) != 0)
			return "header differs";
	}
	*out_content = (uint64_t)w << 32 | seq;
	return NULL;
}

/* ------------------------------------------------------------ the writer */

typedef struct writer_arg {
	rill_topic *topic;
	int32_t partition;
	uint32_t writer;
	int ack_fd;
	uint64_t seed;
	int appends;
} writer_arg;

static void child_fail(const char *what, int rc)
{
	fprintf(stderr, "kill: writer child: %s: %s: %s\n", what, rill_strerror(rc), rill_errmsg());
	_exit(3);
}

static void *writer_thread(void *arg)
{
	writer_arg *a = arg;
	uint8_t *bufs = malloc((size_t)4 * KILL_VALUE_MAX);
	if (bufs == NULL)
		child_fail("malloc", RILL_ENOMEM);
	uint32_t seq = 0;
	for (int i = 0; i < a->appends; i++) {
		kill_rec k[4];
		rill_record recs[4];
		uint32_t n = 1 + (uint32_t)(mix(a->seed ^ ((uint64_t)a->writer << 32 | seq)) % 4);
		for (uint32_t j = 0; j < n; j++) {
			make_rec(&k[j], a->seed, a->partition, a->writer, seq + j,
			         bufs + (size_t)j * KILL_VALUE_MAX);
			recs[j] = k[j].rec;
			if (recs[j].header_count > 0)
				recs[j].headers = &k[j].header;
		}
		rill_append_info info;
		int rc = rill_append(&info, a->topic, a->partition, recs, n, 0);
		if (rc != 0)
			child_fail("append", rc);
		if (info.last_offset != info.base_offset + n - 1 || !info.durable ||
		    info.partition != a->partition)
			child_fail("append info", 0);
		kill_ack ack = {a->partition, a->writer, seq, n, info.base_offset};
		if (write(a->ack_fd, &ack, sizeof(ack)) != (ssize_t)sizeof(ack))
			child_fail("ack pipe", 0);
		seq += n;
	}
	free(bufs);
	return NULL;
}

/* The child: open, append from KILL_THREADS threads, then wait for the
 * signal. Never returns. */
static void writer_child(const kill_state *ks, int ack_fd, uint32_t writer_base, int appends)
{
	rill_store *s = NULL;
	int rc = rill_store_open(&s, ks->path, NULL);
	if (rc != 0)
		child_fail("open", rc);
	rill_topic *t = NULL;
	rc = rill_topic_open(&t, s, KILL_TOPIC);
	if (rc != 0)
		child_fail("topic open", rc);
	pthread_t th[KILL_THREADS];
	writer_arg args[KILL_THREADS];
	for (int i = 0; i < KILL_THREADS; i++) {
		args[i] = (writer_arg){t, i == 1 ? 1 : 0, writer_base + (uint32_t)i, ack_fd,
		                       ks->seed, appends};
		if (pthread_create(&th[i], NULL, writer_thread, &args[i]) != 0)
			child_fail("pthread_create", 0);
	}
	for (int i = 0; i < KILL_THREADS; i++)
		pthread_join(th[i], NULL);
	for (;;)
		pause();
}

/* ------------------------------------------------------------ the parent */

static void grow(kill_state *ks, int32_t p, uint64_t need)
{
	if (need <= ks->cap[p])
		return;
	uint64_t cap = ks->cap[p] ? ks->cap[p] : 1024;
	while (cap < need)
		cap *= 2;
	ks->expect[p] = realloc(ks->expect[p], cap * sizeof(uint64_t));
	ks->seen[p] = realloc(ks->seen[p], cap * sizeof(uint64_t));
	ck_assert(ks->expect[p] != NULL && ks->seen[p] != NULL);
	memset(ks->expect[p] + ks->cap[p], 0, (cap - ks->cap[p]) * sizeof(uint64_t));
	memset(ks->seen[p] + ks->cap[p], 0, (cap - ks->cap[p]) * sizeof(uint64_t));
	ks->cap[p] = cap;
}

static void take_ack(kill_state *ks, const kill_ack *a)
{
	ck_assert_msg(a->partition >= 0 && a->partition < KILL_PARTITIONS && a->count >= 1 &&
	                  a->count <= 4 && a->writer < ks->writers,
	              "garbled acknowledgement");
	ck_assert_msg(a->seq == ks->acked_seqs[a->writer],
	              "writer %u acknowledged seq %u, expected %u", a->writer, a->seq,
	              ks->acked_seqs[a->writer]);
	grow(ks, a->partition, a->base_offset + a->count);
	for (uint32_t i = 0; i < a->count; i++) {
		uint64_t o = a->base_offset + i;
		ck_assert_msg(ks->expect[a->partition][o] == 0,
		              "partition %d offset %" PRIu64 " acknowledged twice", a->partition, o);
		ks->expect[a->partition][o] = ((uint64_t)a->writer << 32 | (a->seq + i)) + 1;
	}
	if (a->base_offset + a->count > ks->acked_end[a->partition])
		ks->acked_end[a->partition] = a->base_offset + a->count;
	ks->acked_seqs[a->writer] += a->count;
	ks->acked += a->count;
}

/* Read what is there; returns 0 at end of file, 1 if more may come. */
static int read_acks(kill_state *ks, int fd, uint8_t *buf, size_t *have, uint64_t *count)
{
	ssize_t n = read(fd, buf + *have, 4096 - *have);
	if (n < 0 && errno == EINTR)
		return 1;
	ck_assert_msg(n >= 0, "read ack pipe: %s", strerror(errno));
	if (n == 0) {
		ck_assert_msg(*have == 0, "partial acknowledgement in the pipe");
		return 0;
	}
	*have += (size_t)n;
	size_t used = 0;
	while (*have - used >= sizeof(kill_ack)) {
		kill_ack a;
		memcpy(&a, buf + used, sizeof(a));
		take_ack(ks, &a);
		used += sizeof(a);
		(*count)++;
	}
	memmove(buf, buf + used, *have - used);
	*have -= used;
	return 1;
}

/* One writer child: start it, kill it at a random moment, collect every
 * acknowledgement it made. */
static void run_and_kill(kill_state *ks, uint64_t *rng)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert(ks->writers + KILL_THREADS <= KILL_WRITERS_MAX);
	uint32_t base = ks->writers;
	ks->writers += KILL_THREADS;
	int appends = 5 + (int)(tu_rand(rng) % 40);
	bool by_delay = tu_rand(rng) % 2 == 0;
	uint64_t delay_ms = tu_rand(rng) % (KILL_DELAY_MS_MAX + 1);
	uint64_t ack_target = 1 + tu_rand(rng) % (uint64_t)(appends * KILL_THREADS);
	fflush(stderr);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		writer_child(ks, fds[1], base, appends);
	}
	close(fds[1]);
	uint8_t buf[4096];
	size_t have = 0;
	uint64_t acks = 0;
	uint64_t start = now_ms();
	bool pipe_open = true;
	for (;;) {
		uint64_t elapsed = now_ms() - start;
		uint64_t limit = by_delay ? delay_ms : KILL_CHILD_MS_MAX;
		if (elapsed >= limit || (!by_delay && acks >= ack_target))
			break;
		struct pollfd pfd = {fds[0], POLLIN, 0};
		int r = poll(&pfd, 1, (int)(limit - elapsed));
		if (r > 0 && !read_acks(ks, fds[0], buf, &have, &acks)) {
			pipe_open = false;
			break;
		}
	}
	kill(pid, SIGKILL);
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	while (pipe_open && read_acks(ks, fds[0], buf, &have, &acks))
		;
	close(fds[0]);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	              "writer child ended by itself (status 0x%x): see its message above", status);
	ks->kills++;
	if (acks == 0)
		ks->killed_in_open++;
}

static void fail_problem(void *arg, const rill_verify_problem *p)
{
	(void)arg;
	fprintf(stderr, "kill: verify: %s/%d segment %" PRIu64 " position %" PRIu64 ": %s\n", p->topic,
	        (int)p->partition, p->segment_base, p->file_position, p->what);
}

/* Reopen the store and check everything (see the file comment). */
static void check_store(kill_state *ks, bool readonly)
{
	rill_options o = RILL_OPTIONS_INIT;
	o.flags = readonly ? RILL_OPEN_READONLY : 0;
	rill_store *s = NULL;
	OK(rill_store_open(&s, ks->path, &o));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, KILL_TOPIC));
	uint32_t *next_seq = calloc(KILL_WRITERS_MAX, sizeof(uint32_t));
	uint8_t *buf = malloc(KILL_VALUE_MAX);
	ck_assert(next_seq != NULL && buf != NULL);
	for (int32_t p = 0; p < KILL_PARTITIONS; p++) {
		rill_offsets off;
		OK(rill_partition_offsets(&off, t, p));
		ck_assert_uint_eq(off.log_start, 0);
		ck_assert_msg(off.log_end >= ks->acked_end[p],
		              "LOST: partition %d ends at %" PRIu64 ", offsets below %" PRIu64 " were acknowledged",
		              (int)p, off.log_end, ks->acked_end[p]);
		ck_assert_msg(off.log_end >= ks->log_end[p],
		              "partition %d shrank from %" PRIu64 " to %" PRIu64 " (records read before are gone)",
		              (int)p, ks->log_end[p], off.log_end);
		grow(ks, p, off.log_end + 1);
		rill_reader *r = NULL;
		OK(rill_reader_open(&r, t, p, 0));
		uint64_t at = 0;
		rill_record rec;
		int rc;
		while ((rc = rill_reader_next(r, &rec)) == 0) {
			uint64_t content = 0;
			ck_assert_msg(rec.offset == at, "partition %d: offset %" PRIu64 " where %" PRIu64 " was due",
			              (int)p, rec.offset, at);
			const char *why = record_problem(ks->seed, p, &rec, buf, &content);
			ck_assert_msg(why == NULL, "partition %d offset %" PRIu64 ": %s", (int)p, at, why);
			uint32_t w = (uint32_t)(content >> 32), seq = (uint32_t)content;
			ck_assert_msg(w < ks->writers, "partition %d offset %" PRIu64 ": writer %u never ran",
			              (int)p, at, w);
			ck_assert_msg(seq == next_seq[w],
			              "partition %d offset %" PRIu64 ": writer %u seq %u, expected %u (gap or repeat)",
			              (int)p, at, w, seq, next_seq[w]);
			next_seq[w]++;
			grow(ks, p, at + 1);
			if (ks->expect[p][at] != 0)
				ck_assert_msg(ks->expect[p][at] == content + 1,
				              "partition %d offset %" PRIu64 ": acknowledged writer %u seq %u, found writer %u seq %u",
				              (int)p, at, (unsigned)((ks->expect[p][at] - 1) >> 32),
				              (unsigned)(ks->expect[p][at] - 1), w, seq);
			if (ks->seen[p][at] != 0)
				ck_assert_msg(ks->seen[p][at] == content + 1,
				              "partition %d offset %" PRIu64 " changed since the last check", (int)p, at);
			ks->seen[p][at] = content + 1;
			at++;
		}
		ck_assert_msg(rc == RILL_EAGAIN, "partition %d offset %" PRIu64 ": %s: %s", (int)p, at,
		              rill_strerror(rc), rill_errmsg());
		ck_assert_msg(at >= ks->acked_end[p],
		              "LOST: partition %d reads end at %" PRIu64 ", acknowledged up to %" PRIu64,
		              (int)p, at, ks->acked_end[p]);
		ck_assert_msg(at == off.log_end, "partition %d: read %" PRIu64 " records, log end %" PRIu64,
		              (int)p, at, off.log_end);
		ks->records_read += at;
		ks->log_end[p] = at;
		rill_reader_close(r);
	}
	for (uint32_t w = 0; w < ks->writers; w++)
		ck_assert_msg(next_seq[w] >= ks->acked_seqs[w], "LOST: writer %u acknowledged %u records, %u found",
		              w, ks->acked_seqs[w], next_seq[w]);
	uint64_t batches = 0, problems = 0;
	OK(rill_verify(s, NULL, fail_problem, NULL, &batches, &problems));
	ck_assert_uint_eq(problems, 0);
	rill_store_stats st;
	OK(rill_store_stats_get(&st, s));
	if (!readonly && !st.clean_open) {
		ks->recoveries++;
		ks->bytes_cut += st.recovered_bytes_cut;
	}
	free(next_seq);
	free(buf);
	rill_topic_close(t);
	OK(rill_store_close(s));
	ks->checks++;
}

/* A new store holding the topic with its partitions' first segments. */
static void kill_state_init(kill_state *ks, const char *parent, int n, uint64_t seed)
{
	memset(ks, 0, sizeof(*ks));
	snprintf(ks->path, sizeof(ks->path), "%s/store-%d", parent, n);
	ks->seed = mix(seed + (uint64_t)n);
	ks->compress = n % 2;
	ks->preallocate = n / 2 % 2 == 0;
	rill_config c;
	rill_config_init(&c);
	OK(rill_config_set(&c, "segment.bytes", "4096"));
	OK(rill_config_set(&c, "index.interval.bytes", n % 2 ? "0" : "1024"));
	OK(rill_config_set(&c, "durability", "append"));
	OK(rill_config_set(&c, "compression.type", ks->compress ? "zstd" : "none"));
	OK(rill_config_set(&c, "preallocate", ks->preallocate ? "true" : "false"));
	rill_store *s = NULL;
	OK(rill_store_open(&s, ks->path, NULL));
	OK(rill_topic_create(s, KILL_TOPIC, KILL_PARTITIONS, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, KILL_TOPIC));
	rill_topic_close(t);
	OK(rill_store_close(s));
}

static void kill_state_free(kill_state *ks)
{
	for (int p = 0; p < KILL_PARTITIONS; p++) {
		free(ks->expect[p]);
		free(ks->seen[p]);
	}
}

static uint64_t count_acked(const kill_state *ks)
{
	uint64_t n = 0;
	for (int p = 0; p < KILL_PARTITIONS; p++) {
		for (uint64_t o = 0; o < ks->acked_end[p]; o++)
			n += ks->expect[p][o] != 0;
	}
	return n;
}

static char dir[512];

static void setup(void)
{
	tu_tempdir(dir, sizeof(dir), "kill");
}

static void teardown(void)
{
	tu_rmrf(dir);
}

/* ------------------------------------------------------------- the tests */

START_TEST(test_kill_writer)
{
	uint64_t rng = tu_seed("kill_writer");
	uint64_t kills = 0, acked = 0, checks = 0, reads = 0, in_open = 0, segments = 0;
	uint64_t recoveries = 0, cut = 0;
	uint64_t t0 = now_ms();
	for (int n = 0; n < KILL_STORES; n++) {
		kill_state *ks = calloc(1, sizeof(*ks));
		ck_assert(ks != NULL);
		kill_state_init(ks, dir, n, tu_rand(&rng));
		for (int i = 0; i < KILL_PER_STORE; i++) {
			run_and_kill(ks, &rng);
			check_store(ks, tu_rand(&rng) % 2 == 0);
		}
		check_store(ks, false); /* recovery by a writer, whatever came last */
		ck_assert_uint_eq(count_acked(ks), ks->acked);
		rill_store *s = NULL;
		OK(rill_store_open(&s, ks->path, NULL));
		rill_store_stats st;
		OK(rill_store_stats_get(&st, s));
		segments += st.segments;
		OK(rill_store_close(s));
		kills += ks->kills;
		acked += ks->acked;
		checks += ks->checks;
		reads += ks->records_read;
		in_open += ks->killed_in_open;
		recoveries += ks->recoveries;
		cut += ks->bytes_cut;
		kill_state_free(ks);
		free(ks);
	}
	ck_assert_uint_ge(kills, 200);
	printf("kill: %" PRIu64 " kills (%" PRIu64 " before the first acknowledgement), %" PRIu64
	       " acknowledged records checked, 0 lost; %" PRIu64 " reopens read %" PRIu64
	       " records in %" PRIu64 " segments; %" PRIu64 " writer recoveries cut %" PRIu64
	       " bytes; %.1f s\n",
	       kills, in_open, acked, checks, reads, segments, recoveries, cut,
	       (double)(now_ms() - t0) / 1000.0);
	fflush(stdout);
}
END_TEST

/* The read-only follower: exits 0 when every record it read was whole and
 * valid, after logging (partition, offset, content) to log_path. */
static void reader_child(const kill_state *ks, int stop_fd, const char *log_path)
{
	rill_options o = RILL_OPTIONS_INIT;
	o.flags = RILL_OPEN_READONLY;
	rill_store *s = NULL;
	int rc = rill_store_open(&s, ks->path, &o);
	if (rc != 0)
		child_fail("read-only open", rc);
	rill_topic *t = NULL;
	rc = rill_topic_open(&t, s, KILL_TOPIC);
	if (rc != 0)
		child_fail("read-only topic open", rc);
	rill_reader *r[KILL_PARTITIONS];
	uint64_t next[KILL_PARTITIONS] = {0};
	for (int32_t p = 0; p < KILL_PARTITIONS; p++) {
		rc = rill_reader_open(&r[p], t, p, 0);
		if (rc != 0)
			child_fail("reader open", rc);
	}
	uint32_t *next_seq = calloc(KILL_WRITERS_MAX, sizeof(uint32_t));
	uint8_t *buf = malloc(KILL_VALUE_MAX);
	FILE *log_file = fopen(log_path, "wb");
	if (next_seq == NULL || buf == NULL || log_file == NULL)
		child_fail("reader setup", 0);
	for (;;) {
		struct pollfd pfd = {stop_fd, POLLIN, 0};
		bool stop = poll(&pfd, 1, 0) > 0;
		bool progress = false;
		for (int32_t p = 0; p < KILL_PARTITIONS; p++) {
			rill_record rec;
			while ((rc = rill_reader_next(r[p], &rec)) == 0) {
				uint64_t content = 0;
				const char *why = record_problem(ks->seed, p, &rec, buf, &content);
				uint32_t w = (uint32_t)(content >> 32), seq = (uint32_t)content;
				if (why == NULL && rec.offset != next[p])
					why = "offset not dense";
				if (why == NULL && seq != next_seq[w])
					why = "writer sequence has a gap or repeat";
				if (why != NULL) {
					fprintf(stderr, "kill: read-only reader: partition %d offset %" PRIu64 ": %s\n",
					        (int)p, rec.offset, why);
					_exit(4);
				}
				next_seq[w]++;
				next[p]++;
				uint64_t entry[3] = {(uint64_t)p, rec.offset, content};
				if (fwrite(entry, sizeof(entry), 1, log_file) != 1)
					child_fail("reader log", 0);
				progress = true;
			}
			if (rc != RILL_EAGAIN) {
				fprintf(stderr, "kill: read-only reader: partition %d offset %" PRIu64 ": %s: %s\n",
				        (int)p, next[p], rill_strerror(rc), rill_errmsg());
				_exit(5);
			}
		}
		if (stop && !progress)
			break;
		if (!progress) {
			struct timespec ts = {0, 500 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (fclose(log_file) != 0)
		child_fail("reader log close", 0);
	for (int32_t p = 0; p < KILL_PARTITIONS; p++)
		rill_reader_close(r[p]);
	rill_topic_close(t);
	rc = rill_store_close(s);
	_exit(rc == 0 ? 0 : 6);
}

START_TEST(test_kill_writer_under_readonly_reader)
{
	uint64_t rng = tu_seed("kill_readonly_reader");
	kill_state *ks = calloc(1, sizeof(*ks));
	ck_assert(ks != NULL);
	kill_state_init(ks, dir, 9, tu_rand(&rng));
	char log_path[700];
	snprintf(log_path, sizeof(log_path), "%s/reader.log", dir);
	int stop[2];
	ck_assert_int_eq(pipe(stop), 0);
	fflush(stderr);
	pid_t reader = fork();
	ck_assert_int_ge(reader, 0);
	if (reader == 0) {
		close(stop[1]);
		reader_child(ks, stop[0], log_path);
	}
	close(stop[0]);
	for (int i = 0; i < KILL_READER_KILLS; i++)
		run_and_kill(ks, &rng);
	close(stop[1]);
	int status = 0;
	ck_assert_int_eq(waitpid(reader, &status, 0), reader);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "read-only reader failed (status 0x%x): see its message above", status);
	check_store(ks, false);

	/* Everything the reader saw is in the recovered store, in place. */
	FILE *log_file = fopen(log_path, "rb");
	ck_assert(log_file != NULL);
	uint64_t entry[3], seen = 0;
	while (fread(entry, sizeof(entry), 1, log_file) == 1) {
		int32_t p = (int32_t)entry[0];
		ck_assert(p >= 0 && p < KILL_PARTITIONS);
		ck_assert_msg(entry[1] < ks->log_end[p],
		              "the reader saw partition %d offset %" PRIu64 ", which recovery removed", (int)p,
		              entry[1]);
		ck_assert_msg(ks->seen[p][entry[1]] == entry[2] + 1,
		              "the reader saw another record at partition %d offset %" PRIu64, (int)p, entry[1]);
		seen++;
	}
	fclose(log_file);
	ck_assert_uint_gt(seen, 0);
	printf("kill: read-only reader followed %" PRIu64 " writer kills, read %" PRIu64
	       " records, all whole and valid and still in place after recovery; %" PRIu64
	       " acknowledged records checked, 0 lost\n",
	       ks->kills, seen, ks->acked);
	fflush(stdout);
	kill_state_free(ks);
	free(ks);
}
END_TEST

Suite *kill_suite(void)
{
	Suite *s = suite_create("kill");
	TCase *tc = tcase_create("kill");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_kill_writer);
	tcase_add_test(tc, test_kill_writer_under_readonly_reader);
	suite_add_tcase(s, tc);
	return s;
}
