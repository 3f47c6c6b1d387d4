/*
 * bench_fio.c — the disk itself, measured by fio (when installed): what a
 * write + fdatasync costs on the data directory's file system, and its
 * sequential write bandwidth. A reference for the durable and append
 * scenarios, not a peer.
 *
 * Jobs (ioengine=sync, one job each, --duration-ms of runtime):
 *   fio-grow      4 KiB writes appended past the end of the file
 *                 (file_append=1), fdatasync after each
 *   fio-prealloc  4 KiB writes over a file fio wrote fully first
 *                 (overwrite=1: preallocated and pre-zeroed), fdatasync each
 *   fio-seq       1 MiB sequential writes, one fsync at the end
 * Reported: writes/s, write() and fdatasync latency percentiles, MB/s.
 * fio's JSON output is read with a few string searches (no JSON library).
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Pointer just past `"key" :` searched from `from`, or NULL. */
static const char *after_key(const char *from, const char *key)
{
	if (from == NULL)
		return NULL;
	char pat[128];
	snprintf(pat, sizeof pat, "\"%s\"", key);
	for (const char *p = strstr(from, pat); p != NULL; p = strstr(p + 1, pat)) {
		const char *q = p + strlen(pat);
		while (*q == ' ' || *q == '\t' || *q == '\n')
			q++;
		if (*q == ':') /* a key, not a value such as "rw" : "write" */
			return q + 1;
	}
	return NULL;
}

static double number_at(const char *p)
{
	return p != NULL ? strtod(p, NULL) : -1;
}

static char *run_fio(const char *args)
{
	char cmd[8400];
	snprintf(cmd, sizeof cmd, "fio --output-format=json %s 2>/dev/null", args);
	FILE *f = popen(cmd, "r");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf != NULL && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 4096) {
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
		}
	}
	int status = pclose(f);
	if (buf == NULL)
		return NULL;
	buf[len] = '\0';
	if (status != 0 || strstr(buf, "\"jobs\"") == NULL) {
		free(buf);
		return NULL;
	}
	return buf;
}

int main(int argc, char **argv)
{
	bench_args a = {0};
	a.duration_ms = 2000;
	a.repeats = 1;
	a.seed = 42;
	bench_parse_args(&a, argc, argv);
	bench_print_header(&a, "the disk measured by fio: write + fdatasync latency, bandwidth");
	if (system("command -v fio >/dev/null 2>&1") != 0) {
		printf("fio is not installed: skipped (apt-get install fio)\n");
		return 0;
	}
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/fio", a.dir);
	int runtime = (int)(a.duration_ms / 1000.0 + 0.5);
	if (runtime < 1)
		runtime = 1;
	const char *names[] = {"fio-grow", "fio-prealloc"};
	const char *extra[] = {"--file_append=1", "--overwrite=1"};
	const char *size = a.smoke ? "1m" : "64m";
	for (int j = 0; j < 2; j++) {
		double iops[BENCH_REPEATS_MAX], w50[BENCH_REPEATS_MAX], s50[BENCH_REPEATS_MAX];
		double s99[BENCH_REPEATS_MAX], s999[BENCH_REPEATS_MAX];
		int n = 0;
		for (int rep = 0; rep < a.repeats; rep++) {
			bench_progress(&a, "%s repeat %d/%d", names[j], rep + 1, a.repeats);
			bench_rmrf(dir);
			bench_mkdirs(dir);
			char args[8192];
			snprintf(args, sizeof args,
			         "--name=%s --directory='%s' --rw=write --bs=4k --size=%s "
			         "--ioengine=sync --fdatasync=1 --runtime=%d %s",
			         names[j], dir, size, runtime, extra[j]);
			char *out = run_fio(args);
			if (out == NULL) {
				printf("FAILED: fio %s\n", args);
				break;
			}
			const char *w = after_key(after_key(out, "jobs"), "write");
			const char *clat = after_key(after_key(w, "clat_ns"), "percentile");
			const char *sync = after_key(after_key(after_key(w, "sync"), "lat_ns"),
			                             "percentile");
			iops[n] = number_at(after_key(w, "iops"));
			w50[n] = number_at(after_key(clat, "50.000000")) / 1e3;
			s50[n] = number_at(after_key(sync, "50.000000")) / 1e3;
			s99[n] = number_at(after_key(sync, "99.000000")) / 1e3;
			s999[n] = number_at(after_key(sync, "99.900000")) / 1e3;
			free(out);
			if (iops[n] <= 0 || s50[n] < 0) {
				printf("FAILED: could not read fio's JSON output for %s\n", names[j]);
				break;
			}
			n++;
		}
		if (n > 0) {
			bench_cfg c = {"fio", names[j], 4096, 1, 1, 1, "none", 1, 0};
			bench_result(&a, &c, "writes_per_s", "1/s", BENCH_HIGHER, iops, n);
			bench_result(&a, &c, "write_p50", "us", BENCH_LOWER, w50, n);
			bench_result(&a, &c, "fdatasync_p50", "us", BENCH_LOWER, s50, n);
			bench_result(&a, &c, "fdatasync_p99", "us", BENCH_LOWER, s99, n);
			bench_result(&a, &c, "fdatasync_p99.9", "us", BENCH_LOWER, s999, n);
		}
	}
	double bw[BENCH_REPEATS_MAX];
	int n = 0;
	for (int rep = 0; rep < a.repeats; rep++) {
		bench_progress(&a, "fio-seq repeat %d/%d", rep + 1, a.repeats);
		bench_rmrf(dir);
		bench_mkdirs(dir);
		char args[8192];
		snprintf(args, sizeof args,
		         "--name=seq --directory='%s' --rw=write --bs=1m --size=%s "
		         "--ioengine=sync --end_fsync=1",
		         dir, a.smoke ? "4m" : "512m");
		char *out = run_fio(args);
		if (out == NULL) {
			printf("FAILED: fio %s\n", args);
			break;
		}
		const char *w = after_key(after_key(out, "jobs"), "write");
		bw[n] = number_at(after_key(w, "bw")) * 1024.0 / 1e6; /* KiB/s -> MB/s */
		free(out);
		if (bw[n] <= 0) {
			printf("FAILED: could not read fio's JSON output for seq\n");
			break;
		}
		n++;
	}
	if (n > 0) {
		bench_cfg c = {"fio", "fio-seq", 1 << 20, 1, 1, 1, "none", 0, 0};
		bench_result(&a, &c, "mb_per_s", "MB/s", BENCH_NEUTRAL, bw, n);
	}
	bench_rmrf(dir);
	bench_progress_done(&a);
	bench_print_table("fio");
	return 0;
}
