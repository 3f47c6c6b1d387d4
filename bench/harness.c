/*
 * harness.c — the measuring machinery shared by every bench program:
 * clocks, latency histograms, process-wide allocation and fsync counters,
 * argument parsing, the machine description, results (table, CSV, ratios,
 * targets) and the deterministic data pool.
 *
 * Sections
 *   counters   malloc/calloc/realloc/free/aligned and fsync/fdatasync
 *              wrappers. They are defined in the executable, so they
 *              interpose for librill.a and for the shared peer libraries
 *              alike; they forward to glibc's __libc_* entry points (no
 *              dlsym, which itself allocates). One relaxed atomic add each.
 *   histogram  log-linear buckets (see bench.h)
 *   args       getopt_long over the options listed in bench/README.md
 *   machine    /proc/cpuinfo, /proc/meminfo, uname, statfs + /proc/mounts
 *   results    rows kept in a static array (no allocation while measuring)
 *   files      rm -rf, mkdir -p, du, drop caches
 *
 * Output files in the results directory (--out): results.csv (one row per
 * metric), ratios.csv, targets.csv, cdf.csv, machine.txt. Each is appended
 * to, with a header line when new, so a whole `make bench` run shares them.
 */
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <dirent.h>
#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>
#include <zstd.h>

#include "rill.h"
#ifdef BENCH_HAVE_SQLITE
#include <sqlite3.h>
#endif
#ifdef BENCH_HAVE_LMDB
#include <lmdb.h>
#endif
#ifndef BENCH_ROCKSDB_VERSION
#define BENCH_ROCKSDB_VERSION "not built"
#endif

/* ================================================================ clock */

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_sleep_ms(double ms)
{
	if (ms <= 0)
		return;
	struct timespec ts;
	ts.tv_sec = (time_t)(ms / 1000.0);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000.0) * 1e6);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* ============================================================= counters */

/* Each counter on its own cache line so producers do not share one. */
static struct {
	_Alignas(64) atomic_uint_fast64_t allocs;
	_Alignas(64) atomic_uint_fast64_t fsyncs;
} counters;

/* Sanitizers bring their own allocator: leave malloc alone under them
 * (allocations are then not counted and read as 0). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BENCH_COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
	__has_feature(memory_sanitizer)
#define BENCH_COUNT_ALLOCS 0
#endif
#endif
#ifndef BENCH_COUNT_ALLOCS
#define BENCH_COUNT_ALLOCS 1
#endif

#if BENCH_COUNT_ALLOCS
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t alignment, size_t size);

static inline void count_alloc(void)
{
	atomic_fetch_add_explicit(&counters.allocs, 1, memory_order_relaxed);
}

void *malloc(size_t size)
{
	count_alloc();
	return __libc_malloc(size);
}

void *calloc(size_t count, size_t size)
{
	count_alloc();
	return __libc_calloc(count, size);
}

void *realloc(void *ptr, size_t size)
{
	count_alloc();
	return __libc_realloc(ptr, size);
}

void free(void *ptr)
{
	__libc_free(ptr);
}

void *memalign(size_t alignment, size_t size)
{
	count_alloc();
	return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
	count_alloc();
	return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
	if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
		return EINVAL;
	count_alloc();
	void *p = __libc_memalign(alignment, size);
	if (p == NULL && size != 0)
		return ENOMEM;
	*out = p;
	return 0;
}

#endif /* BENCH_COUNT_ALLOCS */

int fsync(int fd)
{
	atomic_fetch_add_explicit(&counters.fsyncs, 1, memory_order_relaxed);
	return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd)
{
	atomic_fetch_add_explicit(&counters.fsyncs, 1, memory_order_relaxed);
	return (int)syscall(SYS_fdatasync, fd);
}

uint64_t bench_allocs(void)
{
	return atomic_load_explicit(&counters.allocs, memory_order_relaxed);
}

uint64_t bench_fsyncs(void)
{
	return atomic_load_explicit(&counters.fsyncs, memory_order_relaxed);
}

static double status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	char line[256];
	size_t n = strlen(field);
	double v = -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtod(line + n + 1, NULL);
			break;
		}
	}
	fclose(f);
	return v;
}

double bench_rss_mb(void)
{
	return status_kb("VmRSS") / 1024.0;
}

static int rss_reset_works = -1;

double bench_rss_peak_mb(void)
{
	if (rss_reset_works == 1)
		return status_kb("VmHWM") / 1024.0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0;
}

void bench_rss_reset_peak(void)
{
	/* give freed heap back first, so an earlier engine's garbage does not
	 * count as this one's peak */
	malloc_trim(0);
	int fd = open("/proc/self/clear_refs", O_WRONLY);
	int ok = 0;
	if (fd >= 0) {
		ok = write(fd, "5", 1) == 1;
		close(fd);
	}
	if (rss_reset_works < 0 && !ok)
		fprintf(stderr, "note: cannot reset the peak RSS (/proc/self/clear_refs); "
		                "peak RSS is the process lifetime peak\n");
	rss_reset_works = ok;
}

int bench_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory stream itself */
}

/* ============================================================ histogram */

void hist_reset(bench_hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

void hist_merge(bench_hist *dst, const bench_hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
	if (src->min < dst->min)
		dst->min = src->min;
}

uint64_t hist_bucket_value(unsigned i)
{
	if (i < HIST_SUB_COUNT)
		return i;
	unsigned e = (i >> HIST_SUB_BITS) + HIST_SUB_BITS - 1u;
	uint64_t sub = i & (HIST_SUB_COUNT - 1u);
	uint64_t width = 1ull << (e - HIST_SUB_BITS);
	uint64_t low = (HIST_SUB_COUNT + sub) << (e - HIST_SUB_BITS);
	return low + width / 2;
}

uint64_t hist_percentile(const bench_hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t v = hist_bucket_value(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

/* ================================================================= misc */

void bench_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "\nbench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static _Thread_local char engine_error[512];

const char *engine_errmsg(void)
{
	return engine_error;
}

void engine_set_errmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(engine_error, sizeof engine_error, fmt, ap);
	va_end(ap);
}

uint64_t bench_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* ================================================================= args */

static void usage(const char *program)
{
	fprintf(stderr,
	        "usage: %s [options]\n"
	        "  --dir DIR            data directory (emptied per run)\n"
	        "  --out DIR            results directory (CSV appended)\n"
	        "  --engines LIST       all | rill,raw,rawpre,sqlite,rocksdb,lmdb\n"
	        "  --record-size LIST   value bytes, e.g. 100,1K,16K\n"
	        "  --batch LIST         records per append call\n"
	        "  --partitions LIST    partitions\n"
	        "  --producers LIST     appending threads\n"
	        "  --compression LIST   none,zstd\n"
	        "  --durability MODE    os | append\n"
	        "  --count N            max measured records (or ops) per run\n"
	        "  --duration-ms MS     measured time per run\n"
	        "  --warmup-ms MS       discarded warm-up per run\n"
	        "  --repeats N          runs per measurement (median, min-max)\n"
	        "  --seed N             data and random-offset seed\n"
	        "  --segment-bytes N    rill segment.bytes\n"
	        "  --ops N              random reads / lookups per repeat\n"
	        "  --prealloc-mb N      raw preallocated size, divided over the partitions\n"
	        "  --rate N             tail: appends per second (0: as fast)\n"
	        "  --sizes-mb LIST      recovery: store sizes\n"
	        "  --sqlite-sync MODE   non-durable SQLite: off | normal\n"
	        "  --unclean-mb MB      recovery: data appended before kill -9\n"
	        "  --max-open-files N   rill: cached segment descriptors (0: default)\n"
	        "  --index-interval N   rill: index.interval.bytes (0: every batch)\n"
	        "  --batch-cache-mb N   rill: batch cache (-1: none; read: sized to the data)\n"
	        "  --smoke              tiny run, targets not judged\n"
	        "  --quiet              no progress line\n"
	        "Numbers take K, M, G suffixes (powers of 1024).\n",
	        program);
	exit(2);
}

static int parse_number(const char *s, long *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno != 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 'K': v *= 1024; end++; break;
	case 'M': v *= 1024 * 1024; end++; break;
	case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	default: break;
	}
	if (*end != '\0')
		return -1;
	*out = (long)v;
	return 0;
}

static void parse_list(bench_list *l, const char *s, const char *what)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%s", s);
	l->count = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		long v;
		if (strcmp(what, "compression") == 0) {
			if (strcmp(t, "none") == 0)
				v = 0;
			else if (strcmp(t, "zstd") == 0)
				v = 1;
			else
				bench_die("--compression: none or zstd, not '%s'", t);
		} else if (parse_number(t, &v) != 0 || v < 0) {
			bench_die("--%s: bad number '%s'", what, t);
		}
		if (l->count == BENCH_LIST_MAX)
			bench_die("--%s: at most %d values", what, BENCH_LIST_MAX);
		l->value[l->count++] = v;
	}
	if (l->count == 0)
		bench_die("--%s: empty list", what);
}

void bench_parse_args(bench_args *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"out", required_argument, NULL, 'o'},
		{"engines", required_argument, NULL, 'e'},
		{"record-size", required_argument, NULL, 'r'},
		{"batch", required_argument, NULL, 'b'},
		{"partitions", required_argument, NULL, 'p'},
		{"producers", required_argument, NULL, 't'},
		{"compression", required_argument, NULL, 'c'},
		{"durability", required_argument, NULL, 'D'},
		{"count", required_argument, NULL, 'n'},
		{"duration-ms", required_argument, NULL, 'T'},
		{"warmup-ms", required_argument, NULL, 'W'},
		{"repeats", required_argument, NULL, 'R'},
		{"seed", required_argument, NULL, 's'},
		{"segment-bytes", required_argument, NULL, 'S'},
		{"ops", required_argument, NULL, 'O'},
		{"prealloc-mb", required_argument, NULL, 'P'},
		{"rate", required_argument, NULL, 'a'},
		{"sizes-mb", required_argument, NULL, 'z'},
		{"sqlite-sync", required_argument, NULL, 'Q'},
		{"unclean-mb", required_argument, NULL, 'U'},
		{"max-open-files", required_argument, NULL, 'F'},
		{"index-interval", required_argument, NULL, 'I'},
		{"batch-cache-mb", required_argument, NULL, 'C'},
		{"smoke", no_argument, NULL, 'k'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *slash = strrchr(argv[0], '/');
	a->program = slash != NULL ? slash + 1 : argv[0];
	int c;
	long v;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': a->dir = optarg; break;
		case 'o': a->out = optarg; break;
		case 'e': a->engines = optarg; break;
		case 'r': parse_list(&a->record_size, optarg, "record-size"); break;
		case 'b': parse_list(&a->batch, optarg, "batch"); break;
		case 'p': parse_list(&a->partitions, optarg, "partitions"); break;
		case 't': parse_list(&a->producers, optarg, "producers"); break;
		case 'c': parse_list(&a->compression, optarg, "compression"); break;
		case 'z': parse_list(&a->sizes_mb, optarg, "sizes-mb"); break;
		case 'D':
			if (strcmp(optarg, "os") == 0)
				a->durable = 0;
			else if (strcmp(optarg, "append") == 0)
				a->durable = 1;
			else
				bench_die("--durability: os or append");
			break;
		case 'Q':
			if (strcmp(optarg, "off") == 0)
				a->sqlite_off = 1;
			else if (strcmp(optarg, "normal") == 0)
				a->sqlite_off = 0;
			else
				bench_die("--sqlite-sync: off or normal");
			break;
		case 'n':
		case 'S':
		case 'O':
		case 'P':
		case 'R':
			if (parse_number(optarg, &v) != 0 || v < 0)
				bench_die("bad number '%s'", optarg);
			if (c == 'n')
				a->count = (uint64_t)v;
			else if (c == 'S')
				a->segment_bytes = v;
			else if (c == 'O')
				a->ops = (uint64_t)v;
			else if (c == 'P')
				a->prealloc_mb = (uint64_t)v;
			else
				a->repeats = (int)v;
			break;
		case 's': a->seed = strtoull(optarg, NULL, 0); break;
		case 'T': a->duration_ms = strtod(optarg, NULL); break;
		case 'W': a->warmup_ms = strtod(optarg, NULL); break;
		case 'a': a->rate = strtod(optarg, NULL); break;
		case 'U': a->unclean_mb = strtod(optarg, NULL); break;
		case 'F': a->max_open_files = atoi(optarg); break;
		case 'I':
			if (parse_number(optarg, &v) != 0 || v < 0)
				bench_die("bad number '%s'", optarg);
			a->index_interval = v + 1; /* 0 stays "default" */
			break;
		case 'C':
			if (strcmp(optarg, "-1") == 0)
				a->batch_cache_mb = -1;
			else if (parse_number(optarg, &v) != 0 || v <= 0)
				bench_die("--batch-cache-mb: a size in MB, or -1 for none");
			else
				a->batch_cache_mb = v;
			break;
		case 'k': a->smoke = 1; break;
		case 'q': a->quiet = 1; break;
		default: usage(a->program);
		}
	}
	if (optind != argc)
		usage(a->program);
	if (a->repeats < 1)
		a->repeats = 1;
	if (a->repeats > BENCH_REPEATS_MAX)
		a->repeats = BENCH_REPEATS_MAX;
	if (a->dir == NULL)
		a->dir = "build/bench-data";
	if (a->engines == NULL)
		a->engines = "all";
	if (a->out != NULL && bench_mkdirs(a->out) != 0)
		bench_die("cannot create %s: %s", a->out, strerror(errno));
	if (bench_mkdirs(a->dir) != 0)
		bench_die("cannot create %s: %s", a->dir, strerror(errno));
	bench_rss_reset_peak();
}

int bench_engine_selected(const bench_args *a, const char *name)
{
	int compiled = 0;
	for (int i = 0; bench_engines[i] != NULL; i++)
		if (strcmp(bench_engines[i]->name, name) == 0)
			compiled = 1;
	if (!compiled)
		return 0;
	if (strcmp(a->engines, "all") == 0)
		return 1;
	size_t n = strlen(name);
	for (const char *p = a->engines; *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len == n && strncmp(p, name, n) == 0)
			return 1;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

/* ============================================================== machine */

static void cpu_model(char *buf, size_t size)
{
	snprintf(buf, size, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f == NULL)
		return;
	char line[512];
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "model name", 10) == 0) {
			char *colon = strchr(line, ':');
			if (colon != NULL) {
				colon += 2;
				colon[strcspn(colon, "\n")] = '\0';
				snprintf(buf, size, "%s", colon);
			}
			break;
		}
	}
	fclose(f);
}

static const char *fs_name(long type)
{
	switch ((unsigned long)type) {
	case 0xEF53: return "ext2/3/4";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x01021994: return "tmpfs";
	case 0x794c7630: return "overlayfs";
	case 0x2FC12FC1: return "zfs";
	case 0x65735546: return "fuse";
	case 0x6969: return "nfs";
	default: return "other";
	}
}

/* Mount (source, type, options) holding dir: longest matching mount point. */
static void mount_of(const char *dir, char *src, size_t src_size, char *type,
                     size_t type_size)
{
	char real[4096];
	snprintf(src, src_size, "?");
	snprintf(type, type_size, "?");
	if (realpath(dir, real) == NULL)
		return;
	FILE *f = fopen("/proc/self/mounts", "r");
	if (f == NULL)
		return;
	char line[1024];
	size_t best = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		char s[256], m[512], t[64];
		if (sscanf(line, "%255s %511s %63s", s, m, t) != 3)
			continue;
		size_t n = strlen(m);
		int match = strcmp(m, "/") == 0 ||
		            (strncmp(real, m, n) == 0 &&
		             (real[n] == '/' || real[n] == '\0'));
		if (match && (n >= best || best == 0)) {
			best = n;
			snprintf(src, src_size, "%s", s);
			snprintf(type, type_size, "%s", t);
		}
	}
	fclose(f);
}

static void block_info(const char *src, char *buf, size_t size)
{
	snprintf(buf, size, "?");
	const char *name = strrchr(src, '/');
	if (name == NULL || strncmp(src, "/dev/", 5) != 0)
		return;
	name++;
	char path[512];
	char rot[16] = "?", sched[128] = "?";
	snprintf(path, sizeof path, "/sys/class/block/%s/queue/rotational", name);
	FILE *f = fopen(path, "r");
	if (f == NULL) { /* a partition: the queue belongs to the parent */
		snprintf(path, sizeof path, "/sys/class/block/%s/../queue/rotational", name);
		f = fopen(path, "r");
	}
	if (f != NULL) {
		if (fgets(rot, sizeof rot, f) != NULL)
			rot[strcspn(rot, "\n")] = '\0';
		fclose(f);
		char *q = strstr(path, "rotational");
		snprintf(q, sizeof path - (size_t)(q - path), "scheduler");
		f = fopen(path, "r");
		if (f != NULL) {
			if (fgets(sched, sizeof sched, f) != NULL)
				sched[strcspn(sched, "\n")] = '\0';
			fclose(f);
		}
	}
	snprintf(buf, size, "rotational=%s scheduler=%s", rot, sched);
}

static void describe_machine(FILE *out, const char *dir)
{
	char cpu[256], src[256], type[64], blk[256];
	cpu_model(cpu, sizeof cpu);
	struct utsname u;
	uname(&u);
	struct statfs sf;
	const char *fs = "?";
	double fs_free = 0, fs_size = 0;
	if (statfs(dir, &sf) == 0) {
		fs = fs_name((long)sf.f_type);
		fs_free = (double)sf.f_bavail * (double)sf.f_bsize / 1e9;
		fs_size = (double)sf.f_blocks * (double)sf.f_bsize / 1e9;
	}
	mount_of(dir, src, sizeof src, type, sizeof type);
	block_info(src, blk, sizeof blk);
	double mem = 0;
	FILE *f = fopen("/proc/meminfo", "r");
	if (f != NULL) {
		char line[256];
		while (fgets(line, sizeof line, f) != NULL)
			if (strncmp(line, "MemTotal:", 9) == 0)
				mem = strtod(line + 9, NULL) / 1024.0 / 1024.0;
		fclose(f);
	}
	fprintf(out, "machine:   %s, %ld cores online, %.1f GiB memory\n", cpu,
	        sysconf(_SC_NPROCESSORS_ONLN), mem);
	fprintf(out, "kernel:    %s %s %s\n", u.sysname, u.release, u.machine);
	fprintf(out, "data dir:  %s on %s (%s, statfs %s), %.0f GB free of %.0f GB, %s\n",
	        dir, src, type, fs, fs_free, fs_size, blk);
	int xxh = (int)XXH_versionNumber();
	fprintf(out, "libraries: rill %s (header %s), zstd %s, xxhash %d.%d.%d",
	        rill_version_string(), RILL_VERSION_STRING, ZSTD_versionString(),
	        xxh / 10000, xxh / 100 % 100, xxh % 100);
#ifdef BENCH_HAVE_SQLITE
	fprintf(out, ", sqlite %s", sqlite3_libversion());
#else
	fprintf(out, ", sqlite not built");
#endif
	fprintf(out, ", rocksdb %s", BENCH_ROCKSDB_VERSION);
#ifdef BENCH_HAVE_LMDB
	fprintf(out, ", %s", mdb_version(NULL, NULL, NULL));
#else
	fprintf(out, ", lmdb not built");
#endif
	fprintf(out, "\ncompiler:  %s\n", __VERSION__);
}

void bench_print_header(const bench_args *a, const char *scenario_text)
{
	printf("== %s: %s\n", a->program, scenario_text);
	describe_machine(stdout, a->dir);
	printf("engines:  ");
	for (int i = 0; bench_engines[i] != NULL; i++)
		if (bench_engine_selected(a, bench_engines[i]->name))
			printf(" %s", bench_engines[i]->name);
	printf("\n");
	for (int i = 0; bench_engines[i] != NULL; i++)
		if (bench_engine_selected(a, bench_engines[i]->name))
			printf("  %-8s %s\n", bench_engines[i]->name,
			       bench_engines[i]->summary);
	printf("params:    seed=%llu repeats=%d duration=%.0fms warmup=%.0fms "
	       "count=%llu ops=%llu durability=%s%s\n",
	       (unsigned long long)a->seed, a->repeats, a->duration_ms,
	       a->warmup_ms, (unsigned long long)a->count,
	       (unsigned long long)a->ops, a->durable ? "append" : "os",
	       a->smoke ? " SMOKE (tiny counts, targets not judged)" : "");
	printf("           out=%s dir=%s\n", a->out != NULL ? a->out : "(none)", a->dir);
	if (a->segment_bytes > 0 || a->index_interval > 0 || a->max_open_files > 0) {
		char interval[48] = "4096 (default)";
		if (a->index_interval > 0)
			snprintf(interval, sizeof interval, "%lld%s", (long long)(a->index_interval - 1),
			         a->index_interval == 1 ? " (every batch)" : "");
		printf("           rill: segment.bytes=%lld index.interval.bytes=%s max_open_files=%d\n",
		       (long long)a->segment_bytes, interval, a->max_open_files);
	}
	fflush(stdout);
	if (a->out != NULL) {
		char path[4096];
		snprintf(path, sizeof path, "%s/machine.txt", a->out);
		FILE *f = fopen(path, "w");
		if (f != NULL) {
			describe_machine(f, a->dir);
			fclose(f);
		}
	}
}

/* ============================================================= progress */

void bench_progress(const bench_args *a, const char *fmt, ...)
{
	if (a->quiet)
		return;
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (isatty(2))
		fprintf(stderr, "\r\033[K[%s] %s", a->program, buf);
	else
		fprintf(stderr, "[%s] %s\n", a->program, buf);
}

void bench_progress_done(const bench_args *a)
{
	if (!a->quiet && isatty(2))
		fprintf(stderr, "\r\033[K");
}

/* ============================================================== results */

#define RESULTS_MAX 8192

typedef struct result_row {
	bench_cfg cfg;
	const char *metric;
	const char *unit;
	int direction;
	double med, min, max;
	int n;
} result_row;

static result_row results[RESULTS_MAX];
static int result_count;

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

void bench_stats(const double *v, int n, double *med, double *min, double *max)
{
	double s[BENCH_REPEATS_MAX];
	if (n <= 0) {
		*med = *min = *max = NAN;
		return;
	}
	if (n > BENCH_REPEATS_MAX)
		n = BENCH_REPEATS_MAX;
	memcpy(s, v, (size_t)n * sizeof *s);
	qsort(s, (size_t)n, sizeof *s, cmp_double);
	*min = s[0];
	*max = s[n - 1];
	*med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static FILE *open_csv(const bench_args *a, const char *name, const char *header)
{
	if (a->out == NULL)
		return NULL;
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", a->out, name);
	FILE *f = fopen(path, "a");
	if (f == NULL)
		bench_die("cannot open %s: %s", path, strerror(errno));
	if (ftell(f) == 0)
		fprintf(f, "%s\n", header);
	return f;
}

static const char *durability_name(int durable)
{
	return durable ? "append" : "os";
}

void bench_result(const bench_args *a, const bench_cfg *c, const char *metric,
                  const char *unit, int direction, const double *values, int n)
{
	if (result_count == RESULTS_MAX)
		bench_die("too many results");
	result_row *r = &results[result_count++];
	r->cfg = *c;
	r->metric = metric;
	r->unit = unit;
	r->direction = direction;
	r->n = n;
	bench_stats(values, n, &r->med, &r->min, &r->max);
	FILE *f = open_csv(a, "results.csv",
	                   "program,scenario,engine,record_size,batch,partitions,"
	                   "producers,compression,durability,data_mb,metric,unit,"
	                   "median,min,max,repeats");
	if (f != NULL) {
		fprintf(f, "%s,%s,%s,%ld,%ld,%ld,%ld,%s,%s,%ld,%s,%s,%.6g,%.6g,%.6g,%d\n",
		        a->program, c->scenario, c->engine, c->record_size, c->batch,
		        c->partitions, c->producers, c->compression,
		        durability_name(c->durable), c->data_mb, metric, unit, r->med,
		        r->min, r->max, n);
		fclose(f);
	}
}

static int same_config(const bench_cfg *x, const bench_cfg *y, int compression)
{
	return strcmp(x->scenario, y->scenario) == 0 &&
	       x->record_size == y->record_size && x->batch == y->batch &&
	       x->partitions == y->partitions && x->producers == y->producers &&
	       x->durable == y->durable && x->data_mb == y->data_mb &&
	       (!compression || strcmp(x->compression, y->compression) == 0);
}

double bench_lookup(const char *scenario, const char *engine, long record_size,
                    long batch, long partitions, long producers,
                    const char *compression, int durable, const char *metric)
{
	for (int i = 0; i < result_count; i++) {
		const result_row *r = &results[i];
		if (strcmp(r->cfg.scenario, scenario) == 0 &&
		    strcmp(r->cfg.engine, engine) == 0 &&
		    r->cfg.record_size == record_size && r->cfg.batch == batch &&
		    r->cfg.partitions == partitions &&
		    r->cfg.producers == producers && r->cfg.durable == durable &&
		    (compression == NULL ||
		     strcmp(r->cfg.compression, compression) == 0) &&
		    strcmp(r->metric, metric) == 0)
			return r->med;
	}
	return NAN;
}

static void config_text(char *buf, size_t size, const bench_cfg *c);

double bench_worst(const char *scenario, const char *engine, const char *metric,
                   char *where, size_t where_size, int *out_count)
{
	double worst = NAN;
	int count = 0;
	for (int i = 0; i < result_count; i++) {
		const result_row *r = &results[i];
		if (strcmp(r->cfg.scenario, scenario) != 0 ||
		    strcmp(r->cfg.engine, engine) != 0 || strcmp(r->metric, metric) != 0)
			continue;
		count++;
		if (isnan(worst) || r->med > worst) {
			worst = r->med;
			config_text(where, where_size, &r->cfg);
		}
	}
	*out_count = count;
	return worst;
}

/* 4 significant digits with an SI suffix: 12.35M, 987.6, 0.1234 */
static void fmt_num(char *buf, size_t size, double v)
{
	const char *suffix = "";
	double a = fabs(v);
	if (isnan(v)) {
		snprintf(buf, size, "-");
		return;
	}
	if (a >= 1e9) {
		v /= 1e9;
		suffix = "G";
	} else if (a >= 1e6) {
		v /= 1e6;
		suffix = "M";
	} else if (a >= 1e4) {
		v /= 1e3;
		suffix = "k";
	}
	snprintf(buf, size, "%.4g%s", v, suffix);
}

static void config_text(char *buf, size_t size, const bench_cfg *c)
{
	int n = snprintf(buf, size, "record=%ldB batch=%ld partitions=%ld producers=%ld "
	                            "compression=%s durability=%s",
	                 c->record_size, c->batch, c->partitions, c->producers,
	                 c->compression, durability_name(c->durable));
	if (c->data_mb > 0 && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " data=%ldMB", c->data_mb);
}

void bench_print_table(const char *scenario)
{
	const char *metrics[32];
	int metric_count = 0;
	for (int i = 0; i < result_count; i++) {
		if (strcmp(results[i].cfg.scenario, scenario) != 0)
			continue;
		int known = 0;
		for (int m = 0; m < metric_count; m++)
			known |= strcmp(metrics[m], results[i].metric) == 0;
		if (!known && metric_count < 32)
			metrics[metric_count++] = results[i].metric;
	}
	if (metric_count == 0)
		return;
	printf("\n-- %s: median (min-max) over repeats\n", scenario);
	static char done[RESULTS_MAX];
	memset(done, 0, sizeof done);
	for (int i = 0; i < result_count; i++) {
		const result_row *r = &results[i];
		if (done[i] || strcmp(r->cfg.scenario, scenario) != 0)
			continue;
		char text[256];
		config_text(text, sizeof text, &r->cfg);
		printf("%s\n  %-12s", text, "engine");
		/* metrics present in this config (one block may lack some) */
		int present[32] = {0};
		for (int j = i; j < result_count; j++)
			if (same_config(&results[j].cfg, &r->cfg, 1))
				for (int m = 0; m < metric_count; m++)
					present[m] |= strcmp(metrics[m], results[j].metric) == 0;
		for (int m = 0; m < metric_count; m++) {
			if (!present[m])
				continue;
			char head[64];
			const char *unit = "";
			for (int j = i; j < result_count; j++)
				if (strcmp(results[j].metric, metrics[m]) == 0)
					unit = results[j].unit;
			snprintf(head, sizeof head, "%s[%s]", metrics[m], unit);
			printf(" %-30s", head);
		}
		printf("\n");
		/* one row per engine, in order of appearance */
		for (int j = i; j < result_count; j++) {
			if (done[j] || !same_config(&results[j].cfg, &r->cfg, 1))
				continue;
			const char *engine = results[j].cfg.engine;
			printf("  %-12s", engine);
			for (int m = 0; m < metric_count; m++) {
				if (!present[m])
					continue;
				char cell[80] = "-";
				for (int k = j; k < result_count; k++) {
					const result_row *x = &results[k];
					if (!done[k] && same_config(&x->cfg, &r->cfg, 1) &&
					    strcmp(x->cfg.engine, engine) == 0 &&
					    strcmp(x->metric, metrics[m]) == 0) {
						char med[24], lo[24], hi[24];
						fmt_num(med, sizeof med, x->med);
						fmt_num(lo, sizeof lo, x->min);
						fmt_num(hi, sizeof hi, x->max);
						if (x->n > 1 && strcmp(lo, hi) != 0)
							snprintf(cell, sizeof cell, "%s (%s-%s)", med, lo, hi);
						else
							snprintf(cell, sizeof cell, "%s", med);
						done[k] = 1;
						break;
					}
				}
				printf(" %-30s", cell);
			}
			printf("\n");
		}
	}
	fflush(stdout);
}

void bench_print_ratios(const bench_args *a, const char *scenario)
{
	int printed = 0;
	FILE *f = open_csv(a, "ratios.csv",
	                   "program,scenario,record_size,batch,partitions,producers,"
	                   "compression,durability,data_mb,metric,peer,rill,peer_value,"
	                   "ratio,better");
	for (int i = 0; i < result_count; i++) {
		const result_row *r = &results[i];
		if (strcmp(r->cfg.scenario, scenario) != 0 ||
		    strcmp(r->cfg.engine, "rill") != 0 || r->direction == BENCH_NEUTRAL)
			continue;
		char line[1024];
		int len = 0;
		for (int j = 0; j < result_count; j++) {
			const result_row *p = &results[j];
			if (strcmp(p->cfg.engine, "rill") == 0 ||
			    !same_config(&p->cfg, &r->cfg, 0) ||
			    strcmp(p->metric, r->metric) != 0 ||
			    strcmp(p->cfg.compression, "none") != 0)
				continue;
			double ratio = r->med / p->med;
			if (!isfinite(ratio))
				continue;
			int better = r->direction == BENCH_HIGHER ? ratio >= 1 : ratio <= 1;
			len += snprintf(line + len, sizeof line - (size_t)len,
			                "  %s %.2fx", p->cfg.engine, ratio);
			if (len >= (int)sizeof line)
				len = (int)sizeof line - 1;
			if (f != NULL)
				fprintf(f, "%s,%s,%ld,%ld,%ld,%ld,%s,%s,%ld,%s,%s,%.6g,%.6g,%.4g,%s\n",
				        a->program, scenario, r->cfg.record_size,
				        r->cfg.batch, r->cfg.partitions, r->cfg.producers,
				        r->cfg.compression, durability_name(r->cfg.durable),
				        r->cfg.data_mb, r->metric, p->cfg.engine, r->med, p->med, ratio,
				        better ? "rill" : p->cfg.engine);
		}
		if (len == 0)
			continue;
		if (!printed)
			printf("\n-- %s: ratios rill/peer, same configuration, same run "
			       "(throughput: higher is better for rill; latency and "
			       "time: lower is better)\n", scenario);
		printed = 1;
		char text[256];
		config_text(text, sizeof text, &r->cfg);
		printf("%s %s%s:%s\n", text, r->metric,
		       r->direction == BENCH_HIGHER ? " (higher better)" : " (lower better)",
		       line);
	}
	if (f != NULL)
		fclose(f);
	fflush(stdout);
}

void bench_target(const bench_args *a, const char *text, double value,
                  double limit, int higher_is_better, const char *unit)
{
	const char *verdict;
	if (a->smoke)
		verdict = "SKIP";
	else if (isnan(value) || isnan(limit))
		verdict = "MISS";
	else if (higher_is_better)
		verdict = value >= limit ? "MET" : "MISS";
	else
		verdict = value <= limit ? "MET" : "MISS";
	char v[24], l[24];
	fmt_num(v, sizeof v, value);
	fmt_num(l, sizeof l, limit);
	printf("%s: %s: %s%s, target %s %s%s%s\n", verdict, a->program, v, unit,
	       higher_is_better ? ">=" : "<=", l, unit,
	       isnan(value) ? " (figure missing: engine not built or failed)" : "");
	printf("      %s\n", text);
	FILE *f = open_csv(a, "targets.csv", "program,verdict,value,limit,unit,text");
	if (f != NULL) {
		fprintf(f, "%s,%s,%.6g,%.6g,%s,\"%s\"\n", a->program, verdict, value,
		        limit, unit, text);
		fclose(f);
	}
	fflush(stdout);
}

void bench_target_ratio(const bench_args *a, const char *text, double rill,
                        double peer, double limit, int higher_is_better)
{
	if (isnan(peer) && !isnan(rill)) {
		printf("SKIP: %s: the peer was not measured (not selected, not built, or "
		       "failed)\n      %s\n", a->program, text);
		return;
	}
	bench_target(a, text, rill / peer, limit, higher_is_better, "x");
}

void bench_write_cdf(const bench_args *a, const bench_cfg *c,
                     const char *metric, const bench_hist *h)
{
	FILE *f = open_csv(a, "cdf.csv",
	                   "program,scenario,engine,record_size,batch,partitions,"
	                   "producers,compression,durability,data_mb,metric,value_us,"
	                   "fraction");
	if (f == NULL || h->count == 0) {
		if (f != NULL)
			fclose(f);
		return;
	}
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		if (h->bucket[i] == 0)
			continue;
		seen += h->bucket[i];
		uint64_t v = hist_bucket_value(i);
		if (v > h->max)
			v = h->max;
		fprintf(f, "%s,%s,%s,%ld,%ld,%ld,%ld,%s,%s,%ld,%s,%.6g,%.6g\n", a->program,
		        c->scenario, c->engine, c->record_size, c->batch,
		        c->partitions, c->producers, c->compression,
		        durability_name(c->durable), c->data_mb, metric, (double)v / 1000.0,
		        (double)seen / (double)h->count);
	}
	fclose(f);
}

/* ================================================================= data */

static const char *const words[] = {
	"event", "order", "user", "id", "created", "amount", "status", "ok",
	"pending", "shipped", "region", "eu-west", "us-east", "item", "price",
	"currency", "EUR", "USD", "session", "click", "view", "cart", "page",
	"timestamp", "version", "true", "false", "null", "name", "value",
};

void bench_pool_init(bench_pool *pool, uint64_t seed, size_t record_size_max)
{
	size_t size = BENCH_POOL_BYTES + record_size_max + 64;
	pool->bytes = malloc(size);
	if (pool->bytes == NULL)
		bench_die("out of memory");
	uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
	size_t n = 0;
	while (n < size) {
		uint64_t r = bench_rand(&s);
		char piece[64];
		int len;
		if (r % 4 == 0)
			len = snprintf(piece, sizeof piece, "%llu,",
			               (unsigned long long)(r >> 20) % 1000000);
		else
			len = snprintf(piece, sizeof piece, "\"%s\":",
			               words[(r >> 8) % (sizeof words / sizeof words[0])]);
		for (int i = 0; i < len && n < size; i++)
			pool->bytes[n++] = (uint8_t)piece[i];
	}
	for (unsigned i = 0; i < BENCH_POOL_STARTS; i++)
		pool->start[i] = (uint32_t)(bench_rand(&s) % BENCH_POOL_BYTES);
}

void bench_pool_init_for(bench_pool *pool, const bench_args *a)
{
	long max = 0;
	for (int i = 0; i < a->record_size.count; i++)
		if (a->record_size.value[i] > max)
			max = a->record_size.value[i];
	bench_pool_init(pool, a->seed, (size_t)max);
}

void bench_pool_free(bench_pool *pool)
{
	free(pool->bytes);
	pool->bytes = NULL;
}

/* ================================================================ files */

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void bench_rmrf(const char *path)
{
	nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS);
}

int bench_mkdirs(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0755) != 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static uint64_t du_total;

static int du_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F)
		du_total += (uint64_t)st->st_size;
	return 0;
}

uint64_t bench_dir_bytes(const char *path)
{
	du_total = 0;
	nftw(path, du_one, 64, FTW_PHYS);
	return du_total;
}

static uint64_t drop_pages, drop_resident;
static int drop_phase;

static int drop_one(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
	(void)ftw;
	if (flag != FTW_F || st->st_size == 0)
		return 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	if (drop_phase == 0) {
		fsync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	} else {
		long page = sysconf(_SC_PAGESIZE);
		size_t len = (size_t)st->st_size;
		void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			size_t pages = (len + (size_t)page - 1) / (size_t)page;
			unsigned char vec[4096];
			for (size_t off = 0; off < pages; off += sizeof vec) {
				size_t n = pages - off < sizeof vec ? pages - off : sizeof vec;
				if (mincore((char *)m + off * (size_t)page,
				            n * (size_t)page, vec) != 0)
					break;
				for (size_t i = 0; i < n; i++)
					drop_resident += vec[i] & 1;
			}
			drop_pages += pages;
			munmap(m, len);
		}
	}
	close(fd);
	return 0;
}

double bench_drop_cache(const char *dir)
{
	drop_phase = 0;
	nftw(dir, drop_one, 64, FTW_PHYS);
	sync();
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1) {
			/* not permitted here (container): fadvise is what we have */
		}
		close(fd);
	}
	drop_phase = 1;
	drop_pages = drop_resident = 0;
	nftw(dir, drop_one, 64, FTW_PHYS);
	if (drop_pages == 0)
		return -1;
	return (double)drop_resident / (double)drop_pages;
}

int bench_addr_in_file_map(const void *addr, const char *suffix)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL)
		return -1;
	char line[1024];
	uintptr_t a = (uintptr_t)addr;
	int found = 0;
	size_t sl = strlen(suffix);
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		if (a < lo || a >= hi)
			continue;
		line[strcspn(line, "\n")] = '\0';
		char *path = strchr(line, '/');
		size_t pl = path != NULL ? strlen(path) : 0;
		found = path != NULL && pl >= sl && strcmp(path + pl - sl, suffix) == 0;
		break;
	}
	fclose(f);
	return found;
}
