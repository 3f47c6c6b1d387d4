/*
 * rill.c — the `rill` command-line tool: look inside a store without
 * writing C. Also the largest example of the public API: everything below
 * uses only include/rill.h (plus <xxhash.h> and <zstd.h> to read a single
 * segment file directly, see "dump").
 *
 *   rill topics create|list|describe|alter|delete|add-partitions ...
 *   rill produce  STORE TOPIC      records from stdin
 *   rill consume  STORE TOPIC      records to stdout (format, JSON, follow)
 *   rill offsets  STORE TOPIC      earliest / latest / for a timestamp
 *   rill dump     STORE TOPIC | FILE.log    batches and records on disk
 *   rill verify   STORE [TOPIC]    check every batch
 *   rill stats    STORE [TOPIC...] store and partition figures
 *
 * docs/cli.md documents every subcommand, the output formats and the exit
 * status: 0 success, 1 error (the store, the data or the input is wrong),
 * 2 usage (the command line is wrong; nothing was touched).
 *
 * Reading commands open the store with RILL_OPEN_READONLY: they take no
 * lock and change nothing, so they run beside a live writer. Writing
 * commands other than `topics create` use RILL_OPEN_NOCREATE so that a
 * mistyped store path is an error, not a new empty store.
 *
 * Sections
 *   1. Messages and exit status
 *   2. Parsing numbers and timestamps
 *   3. Output helpers: escaping, base64, JSON
 *   4. Store and topic helpers
 *   5. topics
 *   6. produce
 *   7. consume
 *   8. offsets
 *   9. dump (segment files read directly)
 *  10. verify, stats
 *  11. main
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>
#include <zstd.h>

#include "rill.h"

/* ====================================================================
 * 1. Messages and exit status
 * ==================================================================== */

#define EXIT_OK 0
#define EXIT_ERROR 1 /* the operation failed: store, data or input is bad */
#define EXIT_USAGE 2 /* the command line is wrong; nothing was touched */

/* "rill produce", "rill topics create": prefix of every message. */
static char command_name[64] = "rill";

static void set_command(const char *a, const char *b)
{
	if (b != NULL)
		snprintf(command_name, sizeof(command_name), "rill %s %s", a, b);
	else
		snprintf(command_name, sizeof(command_name), "rill %s", a);
}

static void vmessage(const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", command_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
}

/* An error: print it, return EXIT_ERROR. */
__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	return EXIT_ERROR;
}

/* A usage error: print it and a hint, return EXIT_USAGE. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", command_name);
	return EXIT_USAGE;
}

/*
 * A library error: "<what>: <detail>" where the detail is rill_errmsg()
 * (which names the file, key or offset) or, if empty, rill_strerror(code).
 * Call it right after the failing call: the message is per thread and
 * replaced by the next failure.
 */
__attribute__((format(printf, 2, 3))) static int fail_rill(int code, const char *fmt,
                                                         ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	const char *detail = rill_errmsg();
	fflush(stdout);
	if (detail != NULL && detail[0] != '\0' && strstr(detail, rill_strerror(code)))
		fprintf(stderr, "%s: %s: %s\n", command_name, what, detail);
	else if (detail != NULL && detail[0] != '\0')
		fprintf(stderr, "%s: %s: %s (%s)\n", command_name, what, detail,
		        rill_strerror(code));
	else
		fprintf(stderr, "%s: %s: %s\n", command_name, what, rill_strerror(code));
	return EXIT_ERROR;
}

/* Unknown options and missing option arguments, reported our way. */
static int getopt_error(int c, int optopt_value, char *const argv[])
{
	if (c == ':') {
		if (optopt_value != 0)
			return usage_error("option '-%c' needs an argument", optopt_value);
		return usage_error("option '%s' needs an argument", argv[optind - 1]);
	}
	if (optopt_value != 0)
		return usage_error("unknown option '-%c'", optopt_value);
	return usage_error("unknown option '%s'", argv[optind - 1]);
}

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signo)
{
	(void)signo;
	stop_requested = 1;
}

/* SIGINT/SIGTERM set stop_requested; no SA_RESTART, so blocking reads
 * and poll() return EINTR and the loops notice. */
static void install_stop_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Flush stdout and report a failed write (disk full, closed pipe). */
static int finish_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE)
			return EXIT_OK;
		return fail("writing to standard output: %s", strerror(errno));
	}
	return EXIT_OK;
}

/* ====================================================================
 * 2. Parsing numbers and timestamps
 * ==================================================================== */

/* Whole string as a signed decimal within [min, max]. */
static bool parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	if (s == NULL || *s == '\0')
		return false;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return false;
	if (v < min || v > max)
		return false;
	*out = (int64_t)v;
	return true;
}

/* Whole string as an unsigned decimal (no sign allowed). */
static bool parse_u64(const char *s, uint64_t *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = (uint64_t)v;
	return true;
}

static bool parse_partition(const char *s, int32_t *out)
{
	int64_t v;
	if (!parse_i64(s, 0, RILL_PARTITIONS_MAX - 1, &v))
		return false;
	*out = (int32_t)v;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Exactly n digits at *p, advancing it. */
static bool take_digits(const char **p, int n, int64_t *out)
{
	int64_t v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/*
 * A timestamp in milliseconds since the epoch, from either
 *   - epoch milliseconds: an optional '-' and digits only ("1764064800000"),
 *   - ISO 8601: YYYY-MM-DD[(T| )hh:mm[:ss[.fraction]]][Z|(+|-)hh[:]mm]
 *     A missing zone means UTC; fractions beyond milliseconds are cut.
 */
static bool parse_timestamp(const char *s, int64_t *out)
{
	if (s == NULL || *s == '\0')
		return false;
	const char *digits = s[0] == '-' ? s + 1 : s;
	if (*digits != '\0' && strspn(digits, "0123456789") == strlen(digits))
		return parse_i64(s, INT64_MIN + 1, INT64_MAX, out);

	const char *p = s;
	int64_t year, month, day, hour = 0, minute = 0, second = 0, ms = 0;
	if (!take_digits(&p, 4, &year) || *p++ != '-' || !take_digits(&p, 2, &month) ||
	    *p++ != '-' || !take_digits(&p, 2, &day))
		return false;
	if (month < 1 || month > 12)
		return false;
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t dim = mdays[month - 1] + (month == 2 && is_leap(year) ? 1 : 0);
	if (day < 1 || day > dim)
		return false;
	int64_t zone_minutes = 0;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!take_digits(&p, 2, &hour) || *p++ != ':' || !take_digits(&p, 2, &minute))
			return false;
		if (*p == ':') {
			p++;
			if (!take_digits(&p, 2, &second))
				return false;
			if (*p == '.' || *p == ',') {
				p++;
				int n = 0;
				int64_t scale = 100;
				while (*p >= '0' && *p <= '9') {
					if (n < 3)
						ms += (*p - '0') * scale;
					scale /= 10;
					n++;
					p++;
				}
				if (n == 0)
					return false;
			}
		}
		if (hour > 23 || minute > 59 || second > 59)
			return false;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1;
			int64_t zh, zm;
			p++;
			if (!take_digits(&p, 2, &zh))
				return false;
			if (*p == ':')
				p++;
			if (!take_digits(&p, 2, &zm) || zh > 23 || zm > 59)
				return false;
			zone_minutes = sign * (zh * 60 + zm);
		}
	}
	if (*p != '\0')
		return false;
	int64_t days = days_from_civil(year, month, day);
	int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - zone_minutes * 60;
	*out = secs * 1000 + ms;
	return true;
}

/* ====================================================================
 * 3. Output helpers: escaping, base64, JSON
 * ==================================================================== */

/* Bytes as a C-like quoted string: printable ASCII as is, the rest \xNN. */
static void put_quoted(FILE *f, const void *data, size_t len)
{
	const unsigned char *p = data;
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned c = p[i];
		switch (c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (c >= 0x20 && c < 0x7f)
				fputc((int)c, f);
			else
				fprintf(f, "\\x%02x", c);
		}
	}
	fputc('"', f);
}

static void put_base64(FILE *f, const void *data, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char out[4];
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[0] = tab[v >> 18];
		out[1] = tab[(v >> 12) & 63];
		out[2] = tab[(v >> 6) & 63];
		out[3] = tab[v & 63];
		fwrite(out, 1, 4, f);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[0] = tab[v >> 18];
		out[1] = tab[(v >> 12) & 63];
		out[2] = '=';
		out[3] = '=';
		fwrite(out, 1, 4, f);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[0] = tab[v >> 18];
		out[1] = tab[(v >> 12) & 63];
		out[2] = tab[(v >> 6) & 63];
		out[3] = '=';
		fwrite(out, 1, 4, f);
	}
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool valid_utf8(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i = 0;
	while (i < len) {
		unsigned c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* A JSON string body (without quotes) of valid UTF-8 text. */
static void put_json_text(FILE *f, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t run = 0; /* start of the pending run of bytes needing no escape */
	for (size_t i = 0; i < len; i++) {
		unsigned c = p[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		fwrite(p + run, 1, i - run, f);
		run = i + 1;
		switch (c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default: fprintf(f, "\\u%04x", c); break;
		}
	}
	fwrite(p + run, 1, len - run, f);
}

/*
 * One JSON member for bytes: "name":null, "name":"text" when the bytes are
 * valid UTF-8 (and base64 is not forced), else "name_b64":"base64".
 */
static void put_json_bytes(FILE *f, const char *name, const void *data, size_t len,
                           bool force_base64)
{
	if (data == NULL) {
		fprintf(f, "\"%s\":null", name);
	} else if (!force_base64 && valid_utf8(data, len)) {
		fprintf(f, "\"%s\":\"", name);
		put_json_text(f, data, len);
		fputc('"', f);
	} else {
		fprintf(f, "\"%s_b64\":\"", name);
		put_base64(f, data, len);
		fputc('"', f);
	}
}

/* ====================================================================
 * 4. Store and topic helpers
 * ==================================================================== */

enum open_mode {
	OPEN_READ,   /* RILL_OPEN_READONLY: beside a writer, changes nothing */
	OPEN_WRITE,  /* writer, store must exist */
	OPEN_CREATE, /* writer, create the store if missing */
};

static int open_store(rill_store **out, const char *path, enum open_mode mode)
{
	rill_options options = RILL_OPTIONS_INIT;
	if (mode == OPEN_READ)
		options.flags = RILL_OPEN_READONLY | RILL_OPEN_NOCREATE;
	else if (mode == OPEN_WRITE)
		options.flags = RILL_OPEN_NOCREATE;
	int rc = rill_store_open(out, path, &options);
	if (rc == RILL_ENOTFOUND && rill_errmsg()[0] != '\0')
		return fail("%s", rill_errmsg());
	if (rc == RILL_ENOTFOUND)
		return fail("store %s does not exist", path);
	if (rc == RILL_ELOCKED)
		return fail_rill(rc, "opening store %s for writing", path);
	if (rc != 0)
		return fail_rill(rc, "opening store %s", path);
	return EXIT_OK;
}

/* Close a writer's store; a failed final sync is an error. */
static int close_store(rill_store *store, const char *path, int status)
{
	int rc = rill_store_close(store);
	if (rc != 0 && status == EXIT_OK)
		return fail_rill(rc, "closing store %s", path);
	return status;
}

static int open_topic(rill_topic **out, rill_store *store, const char *name)
{
	int rc = rill_topic_open(out, store, name);
	if (rc == RILL_ENOTFOUND)
		return fail("topic '%s' does not exist", name);
	if (rc == RILL_EINVAL)
		return fail_rill(rc, "topic '%s'", name);
	if (rc != 0)
		return fail_rill(rc, "opening topic '%s'", name);
	return EXIT_OK;
}

static int check_partition(rill_topic *topic, int32_t partition)
{
	int32_t count = rill_topic_partitions(topic);
	if (partition >= count)
		return fail("partition %" PRId32 " does not exist: topic '%s' has %" PRId32
		            " partition%s (0-%" PRId32 ")",
		            partition, rill_topic_name(topic), count, count == 1 ? "" : "s",
		            count - 1);
	return EXIT_OK;
}

/* Split "key=value" at the first '='; key must be non-empty. */
static bool split_setting(char *arg, char **key, char **value)
{
	char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg)
		return false;
	*eq = '\0';
	*key = arg;
	*value = eq + 1;
	return true;
}

/* Names collected by rill_topic_list. */
typedef struct name_list {
	char **names;
	size_t count;
	size_t capacity;
} name_list;

static int name_list_add(void *arg, const char *name)
{
	name_list *list = arg;
	if (list->count == list->capacity) {
		size_t cap = list->capacity ? list->capacity * 2 : 16;
		char **names = realloc(list->names, cap * sizeof(*names));
		if (names == NULL)
			return RILL_ENOMEM;
		list->names = names;
		list->capacity = cap;
	}
	char *copy = strdup(name);
	if (copy == NULL)
		return RILL_ENOMEM;
	list->names[list->count++] = copy;
	return 0;
}

static void name_list_free(name_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->names[i]);
	free(list->names);
	memset(list, 0, sizeof(*list));
}

static int list_topics(name_list *out, rill_store *store, const char *path)
{
	memset(out, 0, sizeof(*out));
	/* name_list_add returns RILL_ENOMEM, which rill_topic_list passes on. */
	int rc = rill_topic_list(store, name_list_add, out);
	if (rc != 0) {
		name_list_free(out);
		return fail_rill(rc, "listing topics of %s", path);
	}
	return EXIT_OK;
}

/* "# partition log_start ..." table shared by describe and stats. */
static void print_partition_header(bool with_topic)
{
	printf("#%s partition log_start log_end durable segments bytes "
	       "first_timestamp max_timestamp\n",
	       with_topic ? " topic" : "");
}

static int print_partition_row(rill_topic *topic, int32_t partition, bool with_topic)
{
	rill_partition_stats st;
	memset(&st, 0, sizeof(st));
	int rc = rill_partition_stats_get(&st, topic, partition);
	if (rc != 0)
		return fail_rill(rc, "stats of %s partition %" PRId32, rill_topic_name(topic),
		                 partition);
	if (st.first_timestamp < 0 && st.log_end > st.log_start) {
		/* The library may not know the oldest timestamp of a store it
		 * opened without recovery; the first record has it. */
		rill_reader *reader = NULL;
		rill_record rec;
		if (rill_reader_open(&reader, topic, partition, st.log_start) == 0 &&
		    rill_reader_next(reader, &rec) == 0)
			st.first_timestamp = rec.timestamp_ms;
		rill_reader_close(reader);
	}
	if (with_topic)
		printf("%s ", rill_topic_name(topic));
	printf("%" PRId32 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
	       " %" PRId64 " %" PRId64 "\n",
	       partition, st.log_start, st.log_end, st.durable, st.segments,
	       st.bytes_on_disk, st.first_timestamp, st.max_timestamp);
	return EXIT_OK;
}

/* ====================================================================
 * 5. topics
 * ==================================================================== */

static const char topics_help[] =
	"Usage: rill topics <command> STORE [TOPIC] [options]\n"
	"\n"
	"Commands:\n"
	"  create STORE TOPIC [--partitions N] [--config KEY=VALUE]...\n"
	"                    create a topic (and the store if it is missing)\n"
	"  list STORE        topic names, one per line\n"
	"  describe STORE [TOPIC]...\n"
	"                    configuration and per-partition offsets, sizes,\n"
	"                    segment counts and timestamps\n"
	"  alter STORE TOPIC --config KEY=VALUE... [--delete-config KEY]...\n"
	"                    change configuration (Kafka names)\n"
	"  delete STORE TOPIC\n"
	"                    delete a topic and all its data\n"
	"  add-partitions STORE TOPIC --partitions N\n"
	"                    grow a topic to N partitions in total\n"
	"\n"
	"Run 'rill topics <command> --help' for each command's options.\n"
	"\n"
	"Examples:\n"
	"  rill topics create ./store orders --partitions 3\n"
	"  rill topics describe ./store orders\n"
	"  rill topics alter ./store orders --config retention.ms=86400000\n";

static const char topics_create_help[] =
	"Usage: rill topics create STORE TOPIC [options]\n"
	"\n"
	"Create TOPIC in the store directory STORE (created if missing).\n"
	"\n"
	"Options:\n"
	"  -n, --partitions N       number of partitions (default 1)\n"
	"  -c, --config KEY=VALUE   topic configuration, Kafka names; repeatable\n"
	"      --if-not-exists      succeed if the topic already exists\n"
	"  -h, --help               this help\n"
	"\n"
	"Configuration keys: segment.bytes segment.ms segment.index.bytes\n"
	"  index.interval.bytes retention.ms retention.bytes max.message.bytes\n"
	"  compression.type compression.zstd.level message.timestamp.type\n"
	"  flush.messages flush.ms durability preallocate\n"
	"\n"
	"Examples:\n"
	"  rill topics create ./store orders --partitions 3\n"
	"  rill topics create ./store events -n 8 --config compression.type=zstd \\\n"
	"      --config retention.ms=86400000 --config durability=interval\n";

static const char topics_list_help[] =
	"Usage: rill topics list STORE\n"
	"\n"
	"Print the names of the store's topics, sorted, one per line.\n"
	"Opens the store read-only.\n"
	"\n"
	"Examples:\n"
	"  rill topics list ./store\n";

static const char topics_describe_help[] =
	"Usage: rill topics describe STORE [TOPIC]...\n"
	"\n"
	"For each TOPIC (default: every topic) print its partition count, every\n"
	"configuration value, and one line per partition:\n"
	"  partition log_start log_end durable segments bytes first_timestamp\n"
	"  max_timestamp   (timestamps in epoch ms, -1 if the partition is empty)\n"
	"Opens the store read-only.\n"
	"\n"
	"Examples:\n"
	"  rill topics describe ./store orders\n"
	"  rill topics describe ./store | grep '^config'\n";

static const char topics_alter_help[] =
	"Usage: rill topics alter STORE TOPIC [options]\n"
	"\n"
	"Change a topic's configuration. Every value is checked before any is\n"
	"changed; each change is persisted atomically.\n"
	"\n"
	"Options:\n"
	"  -c, --config KEY=VALUE   set KEY; repeatable\n"
	"  -d, --delete-config KEY  reset KEY to its default; repeatable\n"
	"  -h, --help               this help\n"
	"\n"
	"Examples:\n"
	"  rill topics alter ./store orders --config retention.ms=3600000\n"
	"  rill topics alter ./store orders -c compression.type=zstd -d retention.bytes\n";

static const char topics_delete_help[] =
	"Usage: rill topics delete STORE TOPIC [--if-exists]\n"
	"\n"
	"Delete TOPIC and all its data.\n"
	"\n"
	"Options:\n"
	"      --if-exists   succeed if the topic does not exist\n"
	"  -h, --help        this help\n"
	"\n"
	"Examples:\n"
	"  rill topics delete ./store orders\n";

static const char topics_add_partitions_help[] =
	"Usage: rill topics add-partitions STORE TOPIC --partitions N\n"
	"\n"
	"Grow TOPIC to N partitions in total (never shrinks). Keys hash to new\n"
	"partitions from then on.\n"
	"\n"
	"Options:\n"
	"  -n, --partitions N   the new total\n"
	"  -h, --help           this help\n"
	"\n"
	"Examples:\n"
	"  rill topics add-partitions ./store orders --partitions 6\n";

enum {
	OPT_IF_NOT_EXISTS = 256,
	OPT_IF_EXISTS,
	OPT_DURABILITY,
	OPT_BINARY,
	OPT_BINARY_KEYS,
	OPT_TIMESTAMP,
	OPT_BASE64,
	OPT_PARTITION_KEY,
	OPT_RECORDS,
	OPT_MAX_BATCHES,
};

/* Check a KEY=VALUE against the library's parser; usage error if bad. */
static int check_setting(rill_config *config, char *arg, char **key, char **value)
{
	if (!split_setting(arg, key, value))
		return usage_error("bad --config '%s': expected KEY=VALUE", arg);
	int rc = rill_config_set(config, *key, *value);
	if (rc == RILL_ENOTFOUND)
		return usage_error("unknown config key '%s'", *key);
	if (rc != 0) {
		const char *detail = rill_errmsg();
		if (detail[0] != '\0')
			return usage_error("bad --config: %s", detail);
		return usage_error("bad value '%s' for config key '%s'", *value, *key);
	}
	return EXIT_OK;
}

static int cmd_topics_create(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"partitions", required_argument, NULL, 'n'},
		{"config", required_argument, NULL, 'c'},
		{"if-not-exists", no_argument, NULL, OPT_IF_NOT_EXISTS},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int64_t partitions = 1;
	bool if_not_exists = false;
	rill_config config;
	rill_config_init(&config);
	int c;
	while ((c = getopt_long(argc, argv, ":n:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_i64(optarg, 1, RILL_PARTITIONS_MAX, &partitions))
				return usage_error("bad --partitions '%s': expected 1-%d", optarg,
				                   RILL_PARTITIONS_MAX);
			break;
		case 'c': {
			char *key, *value;
			int st = check_setting(&config, optarg, &key, &value);
			if (st != EXIT_OK)
				return st;
			break;
		}
		case OPT_IF_NOT_EXISTS: if_not_exists = true; break;
		case 'h': fputs(topics_create_help, stdout); return finish_stdout();
		default: return getopt_error(c, optopt, argv);
		}
	}
	if (argc - optind != 2)
		return usage_error("expected STORE and TOPIC");
	const char *path = argv[optind];
	const char *name = argv[optind + 1];
	if (rill_config_validate(&config) != 0) {
		const char *detail = rill_errmsg();
		return usage_error("bad configuration: %s", detail[0] ? detail : "invalid");
	}

	rill_store *store = NULL;
	int status = open_store(&store, path, OPEN_CREATE);
	if (status != EXIT_OK)
		return status;
	int rc = rill_topic_create(store, name, (int32_t)partitions, &config);
	if (rc == RILL_EEXIST && if_not_exists)
		rc = 0;
	if (rc == RILL_EEXIST)
		status = fail("topic '%s' already exists in %s", name, path);
	else if (rc == RILL_EINVAL)
		status = fail_rill(rc, "bad topic '%s'", name);
	else if (rc != 0)
		status = fail_rill(rc, "creating topic '%s'", name);
	return close_store(store, path, status);
}

static int cmd_topics_list(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(topics_list_help, stdout);
			return finish_stdout();
		}
		return getopt_error(c, optopt, argv);
	}
	if (argc - optind != 1)
		return usage_error("expected STORE");
	const char *path = argv[optind];
	rill_store *store = NULL;
	int status = open_store(&store, path, OPEN_READ);
	if (status != EXIT_OK)
		return status;
	name_list names;
	status = list_topics(&names, store, path);
	for (size_t i = 0; status == EXIT_OK && i < names.count; i++)
		printf("%s\n", names.names[i]);
	name_list_free(&names);
	rill_store_close(store);
	if (status == EXIT_OK)
		status = finish_stdout();
	return status;
}

static int describe_topic(rill_store *store, const char *name)
{
	rill_topic *topic = NULL;
	int status = open_topic(&topic, store, name);
	if (status != EXIT_OK)
		return status;
	rill_config config;
	rill_config_init(&config);
	int rc = rill_topic_config(&config, topic);
	if (rc != 0) {
		status = fail_rill(rc, "configuration of topic '%s'", name);
		goto out;
	}
	int32_t partitions = rill_topic_partitions(topic);
	printf("topic: %s\n", name);
	printf("partitions: %" PRId32 "\n", partitions);
	for (size_t i = 0;; i++) {
		const char *key = rill_config_key(i);
		if (key == NULL)
			break;
		char value[256];
		rc = rill_config_get(&config, key, value, sizeof(value));
		if (rc != 0) {
			status = fail_rill(rc, "config key '%s' of topic '%s'", key, name);
			goto out;
		}
		printf("config: %s=%s\n", key, value);
	}
	print_partition_header(false);
	for (int32_t p = 0; p < partitions && status == EXIT_OK; p++)
		status = print_partition_row(topic, p, false);
out:
	rill_topic_close(topic);
	return status;
}

static int cmd_topics_describe(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(topics_describe_help, stdout);
			return finish_stdout();
		}
		return getopt_error(c, optopt, argv);
	}
	if (argc - optind < 1)
		return usage_error("expected STORE");
	const char *path = argv[optind];
	rill_store *store = NULL;
	int status = open_store(&store, path, OPEN_READ);
	if (status != EXIT_OK)
		return status;
	name_list names;
	memset(&names, 0, sizeof(names));
	if (argc - optind == 1) {
		status = list_topics(&names, store, path);
		for (size_t i = 0; status == EXIT_OK && i < names.count; i++) {
			if (i > 0)
				printf("\n");
			status = describe_topic(store, names.names[i]);
		}
	} else {
		for (int i = optind + 1; status == EXIT_OK && i < argc; i++) {
			if (i > optind + 1)
				printf("\n");
			status = describe_topic(store, argv[i]);
		}
	}
	name_list_free(&names);
	rill_store_close(store);
	if (status == EXIT_OK)
		status = finish_stdout();
	return status;
}

#define ALTER_MAX 64

static int cmd_topics_alter(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"delete-config", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char *keys[ALTER_MAX];
	char *values[ALTER_MAX];
	char defaults[ALTER_MAX][256];
	size_t count = 0;
	rill_config scratch;
	rill_config_init(&scratch);
	rill_config defaults_config;
	rill_config_init(&defaults_config);
	int c;
	while ((c = getopt_long(argc, argv, ":c:d:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
		case 'd':
			if (count == ALTER_MAX)
				return usage_error("too many settings (at most %d)", ALTER_MAX);
			if (c == 'c') {
				int st = check_setting(&scratch, optarg, &keys[count], &values[count]);
				if (st != EXIT_OK)
					return st;
			} else {
				keys[count] = optarg;
				if (rill_config_get(&defaults_config, optarg, defaults[count],
				                    sizeof(defaults[count])) != 0)
					return usage_error("unknown config key '%s'", optarg);
				values[count] = defaults[count];
			}
			count++;
			break;
		case 'h': fputs(topics_alter_help, stdout); return finish_stdout();
		default: return getopt_error(c, optopt, argv);
		}
	}
	if (argc - optind != 2)
		return usage_error("expected STORE and TOPIC");
	if (count == 0)
		return usage_error("nothing to change: give --config or --delete-config");
	const char *path = argv[optind];
	const char *name = argv[optind + 1];

	rill_store *store = NULL;
	rill_topic *topic = NULL;
	int status = open_store(&store, path, OPEN_WRITE);
	if (status != EXIT_OK)
		return status;
	status = open_topic(&topic, store, name);
	if (status != EXIT_OK)
		goto out;
	/* Apply every change to a copy first: a combination the library would
	 * refuse is found before anything is persisted. */
	rill_config proposed;
	int rc = rill_topic_config(&proposed, topic);
	if (rc != 0) {
		status = fail_rill(rc, "configuration of topic '%s'", name);
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		rc = rill_config_set(&proposed, keys[i], values[i]);
		if (rc != 0) {
			status = fail_rill(rc, "config %s=%s", keys[i], values[i]);
			goto out;
		}
	}
	rc = rill_config_validate(&proposed);
	if (rc != 0) {
		status = fail_rill(rc, "new configuration of topic '%s'", name);
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		rc = rill_topic_alter(topic, keys[i], values[i]);
		if (rc != 0) {
			if (count > 1)
				status = fail_rill(rc, "setting %s=%s on topic '%s' (%zu of %zu "
				                   "changes applied before this one)",
				                   keys[i], values[i], name, i, count);
			else
				status = fail_rill(rc, "setting %s=%s on topic '%s'", keys[i],
				                   values[i], name);
			goto out;
		}
	}
out:
	rill_topic_close(topic);
	return close_store(store, path, status);
}

static int cmd_topics_delete(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"if-exists", no_argument, NULL, OPT_IF_EXISTS},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool if_exists = false;
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_IF_EXISTS: if_exists = true; break;
		case 'h': fputs(topics_delete_help, stdout); return finish_stdout();
		default: return getopt_error(c, optopt, argv);
		}
	}
	if (argc - optind != 2)
		return usage_error("expected STORE and TOPIC");
	const char *path = argv[optind];
	const char *name = argv[optind + 1];
	rill_store *store = NULL;
	int status = open_store(&store, path, OPEN_WRITE);
	if (status != EXIT_OK)
		return status;
	int rc = rill_topic_delete(store, name);
	if (rc == RILL_ENOTFOUND && !if_exists)
		status = fail("topic '%s' does not exist", name);
	else if (rc != 0 && rc != RILL_ENOTFOUND)
		status = fail_rill(rc, "deleting topic '%s'", name);
	return close_store(store, path, status);
}

static int cmd_topics_add_partitions(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"partitions", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int64_t partitions = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_i64(optarg, 1, RILL_PARTITIONS_MAX, &partitions))
				return usage_error("bad --partitions '%s': expected 1-%d", optarg,
				                   RILL_PARTITIONS_MAX);
			break;
		case 'h': fputs(topics_add_partitions_help, stdout); return finish_stdout();
		default: return getopt_error(c, optopt, argv);
		}
	}
	if (argc - optind != 2)
		return usage_error("expected STORE and TOPIC");
	if (partitions == 0)
		return usage_error("--partitions N is required");
	const char *path = argv[optind];
	const char *name = argv[optind + 1];
	rill_store *store = NULL;
	rill_topic *topic = NULL;
	int status = open_store(&store, path, OPEN_WRITE);
	if (status != EXIT_OK)
		return status;
	status = open_topic(&topic, store, name);
	if (status == EXIT_OK) {
		int32_t now = rill_topic_partitions(topic);
		if (partitions < now) {
			status = fail("topic '%s' has %" PRId32 " partitions; cannot shrink to "
			              "%" PRId64,
			              name, now, partitions);
		} else if (partitions > now) {
			int rc = rill_topic_add_partitions(topic, (int32_t)partitions);
			if (rc != 0)
				status = fail_rill(rc, "growing topic '%s' to %" PRId64
				                   " partitions", name, partitions);
		}
	}
	rill_topic_close(topic);
	return close_store(store, path, status);
}

static int cmd_topics(int argc, char **argv)
{
	set_command("topics", NULL);
	if (argc < 2)
		return usage_error("expected a command: create, list, describe, alter, "
		                   "delete, add-partitions");
	const char *sub = argv[1];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 ||
	    strcmp(sub, "help") == 0) {
		fputs(topics_help, stdout);
		return finish_stdout();
	}
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} table[] = {
		{"create", cmd_topics_create},     {"list", cmd_topics_list},
		{"describe", cmd_topics_describe}, {"alter", cmd_topics_alter},
		{"delete", cmd_topics_delete},     {"add-partitions", cmd_topics_add_partitions},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcmp(sub, table[i].name) == 0) {
			set_command("topics", sub);
			return table[i].fn(argc - 1, argv + 1);
		}
	}
	return usage_error("unknown command '%s'", sub);
}

/* ====================================================================
 * 6. produce
 *
 * stdin is read through one growing buffer; records of the pending batch
 * point into it, so no record is copied or allocated. Before the buffer is
 * compacted (which moves bytes) the pending batch is appended. A batch is
 * also appended when it holds -b records or its estimated encoded size
 * would pass the topic's max.message.bytes.
 *
 * With the partition left to the topic (no -p) and keys present, one
 * rill_append must only carry keys of one partition: the batch is split by
 * rill_partition_for_key (the topic's default XXH3 partitioner) with a
 * stable counting sort, so order within each partition is kept; keyless
 * records go to the sticky partition (RILL_PARTITION_AUTO).
 *
 * On malformed input the records read since the last append are
 * discarded, so the store holds exactly the batches appended before (the
 * message says how many records). Input shorter than the buffer (4 MiB)
 * and one batch is therefore all or nothing.
 * ==================================================================== */

static const char produce_help[] =
	"Usage: rill produce STORE TOPIC [options] < input\n"
	"\n"
	"Append records read from standard input.\n"
	"\n"
	"Input (default: one record per line, the newline removed):\n"
	"  -z, --null              records end with a NUL byte instead\n"
	"      --binary            each record is a 4-byte big-endian length and\n"
	"                          that many value bytes\n"
	"      --binary-keys       with --binary: a key (length 0xffffffff: no key)\n"
	"                          precedes each value, both length-prefixed\n"
	"  -K, --key-delimiter S   text before the first S is the key, after it the\n"
	"                          value; records without S have no key\n"
	"  -Z, --null-empty        an empty value is a tombstone (null value)\n"
	"  -H, --header NAME=VALUE add a header to every record; repeatable\n"
	"      --timestamp TS      record timestamp (epoch ms or ISO 8601);\n"
	"                          default: the store's clock\n"
	"\n"
	"Placement and durability:\n"
	"  -p, --partition N       append to partition N (default: keys hash with\n"
	"                          the topic's partitioner, keyless records go to\n"
	"                          the sticky partition)\n"
	"  -b, --batch N           records per append (default 1000)\n"
	"      --durability MODE   append: fsync every batch; none: do not wait for\n"
	"                          fsync (data is synced at exit); default: the\n"
	"                          topic's durability setting\n"
	"  -v, --verbose           print each append: partition=P base_offset=B\n"
	"                          last_offset=L records=N durable=0|1\n"
	"  -h, --help              this help\n"
	"\n"
	"Examples:\n"
	"  seq 1 1000000 | rill produce ./store numbers\n"
	"  printf 'user1:login\\nuser2:logout\\n' | rill produce ./store events -K :\n"
	"  rill produce ./store events -H source=batch-import -p 0 -v < events.txt\n"
	"  find . -print0 | rill produce ./store files -z --durability none\n";

#define PRODUCE_BATCH_DEFAULT 1000
#define PRODUCE_BATCH_MAX 1000000
#define PRODUCE_HEADERS_MAX 64
#define INPUT_BUFFER_INITIAL (4u << 20)
/* Framing bytes a record may take in a batch beyond its payload (rill's
 * documented worst case), and a batch header. Used to estimate size. */
#define RECORD_OVERHEAD_MAX 36
#define HEADER_OVERHEAD_MAX 10
#define BATCH_HEADER_SIZE 72

enum input_mode { INPUT_LINES, INPUT_NUL, INPUT_BINARY };
enum durability_flag { DURABILITY_TOPIC, DURABILITY_APPEND, DURABILITY_NONE };

typedef struct producer {
	rill_topic *topic;
	const char *topic_name;
	int32_t partition;          /* fixed partition or RILL_PARTITION_AUTO */
	int32_t partitions;         /* of the topic */
	uint32_t append_flags;
	bool verbose;
	size_t batch_max;           /* records per append */
	uint64_t bytes_max;         /* topic's max.message.bytes */

	rill_record *records;       /* pending batch, batch_max entries */
	uint64_t *record_numbers;   /* 1-based input record number of each */
	size_t count;
	uint64_t estimate;          /* worst-case encoded size of the batch */
	size_t keyed;               /* records with a key in the batch */

	/* grouping by partition (auto partition with keys) */
	rill_record *sorted;
	uint64_t *sorted_numbers;
	int32_t *record_partition;  /* -1: keyless (sticky) */
	size_t *group_start;        /* partitions + 1 buckets */

	uint64_t appended;          /* records appended */
	uint64_t batches;           /* appends made */
} producer;

static int append_range(producer *pr, int32_t partition, rill_record *records,
                        const uint64_t *numbers, size_t count)
{
	rill_append_info info;
	int rc = rill_append(&info, pr->topic, partition, records, count, pr->append_flags);
	if (rc == RILL_ETOOBIG && count > 1) {
		/* The estimate is an upper bound, so this is rare (compression
		 * off, huge headers): split and retry; nothing was written. */
		size_t half = count / 2;
		int status = append_range(pr, partition, records, numbers, half);
		if (status != EXIT_OK)
			return status;
		return append_range(pr, partition, records + half, numbers + half,
		                    count - half);
	}
	if (rc == RILL_ETOOBIG)
		return fail_rill(rc, "record %" PRIu64 " is larger than max.message.bytes "
		                 "(%" PRIu64 ") of topic '%s'",
		                 numbers[0], pr->bytes_max, pr->topic_name);
	if (rc != 0)
		return fail_rill(rc, "appending records %" PRIu64 "-%" PRIu64 " to topic '%s'",
		                 numbers[0], numbers[count - 1], pr->topic_name);
	pr->appended += count;
	pr->batches++;
	if (pr->verbose)
		printf("partition=%" PRId32 " base_offset=%" PRIu64 " last_offset=%" PRIu64
		       " records=%zu durable=%d\n",
		       info.partition, info.base_offset, info.last_offset, count, info.durable);
	return EXIT_OK;
}

static int producer_flush(producer *pr)
{
	size_t n = pr->count;
	if (n == 0)
		return EXIT_OK;
	int status;
	if (pr->partition != RILL_PARTITION_AUTO || pr->keyed == 0 || pr->partitions == 1) {
		status = append_range(pr, pr->partition, pr->records, pr->record_numbers, n);
	} else {
		/* Stable counting sort by partition; bucket 0 holds keyless. */
		size_t buckets = (size_t)pr->partitions + 1;
		memset(pr->group_start, 0, (buckets + 1) * sizeof(size_t));
		for (size_t i = 0; i < n; i++) {
			const rill_record *r = &pr->records[i];
			int32_t p = r->key == NULL
			                    ? -1
			                    : rill_partition_for_key(RILL_PARTITIONER_XXH3, r->key,
			                                             r->key_len, pr->partitions);
			if (p < -1 || p >= pr->partitions)
				return fail("partitioner returned %" PRId32 " for a key of topic "
				            "'%s' with %" PRId32 " partitions",
				            p, pr->topic_name, pr->partitions);
			pr->record_partition[i] = p;
			pr->group_start[(size_t)(p + 1) + 1]++;
		}
		for (size_t b = 1; b <= buckets; b++)
			pr->group_start[b] += pr->group_start[b - 1];
		/* group_start[b] is now where bucket b starts; use it as the
		 * bucket's fill cursor. */
		for (size_t i = 0; i < n; i++) {
			size_t b = (size_t)(pr->record_partition[i] + 1);
			size_t at = pr->group_start[b]++;
			pr->sorted[at] = pr->records[i];
			pr->sorted_numbers[at] = pr->record_numbers[i];
		}
		/* After filling, group_start[b] is the end of bucket b. */
		status = EXIT_OK;
		size_t begin = 0;
		for (size_t b = 0; b < buckets && status == EXIT_OK; b++) {
			size_t end = pr->group_start[b];
			if (end > begin) {
				int32_t p = b == 0 ? RILL_PARTITION_AUTO : (int32_t)(b - 1);
				status = append_range(pr, p, pr->sorted + begin,
				                      pr->sorted_numbers + begin, end - begin);
			}
			begin = end;
		}
	}
	pr->count = 0;
	pr->estimate = BATCH_HEADER_SIZE;
	pr->keyed = 0;
	return status;
}

typedef struct input {
	int fd;
	unsigned char *buf;
	size_t capacity;
	size_t capacity_max;  /* longest record we accept, plus framing */
	uint64_t record_max;  /* max.message.bytes: longer length prefixes are bad */
	size_t pos;           /* next unparsed byte */
	size_t end;           /* end of valid data */
	uint64_t base;        /* stdin byte position of buf[0] */
	bool eof;
} input;

/*
 * Room to read more when the buffer is full up to its capacity: move the
 * unparsed tail to the front, or grow the buffer if the tail fills it.
 * The caller must have appended every record pointing into the buffer.
 * Returns 0, or -1 with errno EFBIG (a record longer than allowed) or
 * ENOMEM.
 */
static int input_make_room(input *in)
{
	if (in->pos > 0) {
		memmove(in->buf, in->buf + in->pos, in->end - in->pos);
		in->base += in->pos;
		in->end -= in->pos;
		in->pos = 0;
	}
	if (in->end < in->capacity)
		return 0;
	if (in->capacity >= in->capacity_max) {
		errno = EFBIG;
		return -1;
	}
	size_t cap = in->capacity * 2;
	if (cap > in->capacity_max)
		cap = in->capacity_max;
	unsigned char *buf = realloc(in->buf, cap);
	if (buf == NULL) {
		errno = ENOMEM;
		return -1;
	}
	in->buf = buf;
	in->capacity = cap;
	return 0;
}

/*
 * Read more bytes after in->end (there must be room). Bytes already in
 * the buffer do not move, so pending records stay valid. Returns 0, or -1
 * with errno set; EINTR from a stop signal ends the input.
 */
static int input_read(input *in)
{
	for (;;) {
		if (stop_requested) {
			in->eof = true;
			return 0;
		}
		ssize_t n = read(in->fd, in->buf + in->end, in->capacity - in->end);
		if (n > 0) {
			in->end += (size_t)n;
			return 0;
		}
		if (n == 0) {
			in->eof = true;
			return 0;
		}
		if (errno == EINTR)
			continue; /* the loop checks stop_requested */
		return -1;
	}
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

typedef struct produce_options {
	enum input_mode mode;
	bool binary_keys;
	const char *key_delimiter;
	size_t key_delimiter_len;
	bool null_empty;
	rill_header headers[PRODUCE_HEADERS_MAX];
	size_t header_count;
	size_t header_bytes;
	int64_t timestamp;
} produce_options;

/* Result of parsing one record out of the buffer. */
enum parse_result { PARSE_RECORD, PARSE_NEED_MORE, PARSE_BAD };

/*
 * Parse one record at in->pos. On PARSE_BAD, *why says what is wrong.
 * At EOF a final line without its delimiter is still a record.
 */
static enum parse_result parse_record(input *in, const produce_options *po,
                                      rill_record *rec, const char **why)
{
	unsigned char *p = in->buf + in->pos;
	size_t avail = in->end - in->pos;
	const void *key = NULL;
	size_t key_len = 0;
	const unsigned char *value;
	size_t value_len;

	if (po->mode == INPUT_BINARY) {
		size_t need = 4;
		if (avail == 0)
			return PARSE_NEED_MORE; /* at EOF: the clean end */
		if (avail < need)
			goto short_binary;
		uint32_t first = get_be32(p);
		size_t at = 4;
		if (po->binary_keys) {
			if (first != UINT32_MAX) {
				if ((uint64_t)first > in->record_max) {
					*why = "key length prefix larger than max.message.bytes";
					return PARSE_BAD;
				}
				need += first;
				if (avail < need)
					goto short_binary;
				key = p + at;
				key_len = first;
				at += first;
			}
			need += 4;
			if (avail < need)
				goto short_binary;
			first = get_be32(p + at);
			at += 4;
		}
		if ((uint64_t)first > in->record_max) {
			*why = "length prefix larger than max.message.bytes";
			return PARSE_BAD;
		}
		need += first;
		if (avail < need)
			goto short_binary;
		value = p + at;
		value_len = first;
		in->pos += need;
	} else {
		int delim = po->mode == INPUT_NUL ? '\0' : '\n';
		unsigned char *nl = memchr(p, delim, avail);
		size_t len;
		if (nl != NULL) {
			len = (size_t)(nl - p);
			in->pos += len + 1;
		} else if (in->eof && avail > 0) {
			len = avail;
			in->pos += len;
		} else {
			return PARSE_NEED_MORE;
		}
		value = p;
		value_len = len;
		if (po->key_delimiter != NULL) {
			const unsigned char *sep =
				memmem(p, len, po->key_delimiter, po->key_delimiter_len);
			if (sep != NULL) {
				key = p;
				key_len = (size_t)(sep - p);
				value = sep + po->key_delimiter_len;
				value_len = len - key_len - po->key_delimiter_len;
			}
		}
	}
	memset(rec, 0, sizeof(*rec));
	rec->key = key;
	rec->key_len = key_len;
	rec->value = (value_len == 0 && po->null_empty) ? NULL : value;
	rec->value_len = value_len;
	rec->headers = po->header_count ? po->headers : NULL;
	rec->header_count = po->header_count;
	rec->timestamp_ms = po->timestamp;
	return PARSE_RECORD;

short_binary:
	if (!in->eof)
		return PARSE_NEED_MORE;
	*why = "truncated record (input ends inside a length prefix or its data)";
	return PARSE_BAD;
}

static int cmd_produce(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"null", no_argument, NULL, 'z'},
		{"binary", no_argument, NULL, OPT_BINARY},
		{"binary-keys", no_argument, NULL, OPT_BINARY_KEYS},
		{"key-delimiter", required_argument, NULL, 'K'},
		{"null-empty", no_argument, NULL, 'Z'},
		{"header", required_argument, NULL, 'H'},
		{"timestamp", required_argument, NULL, OPT_TIMESTAMP},
		{"partition", required_argument, NULL, 'p'},
		{"batch", required_argument, NULL, 'b'},
		{"durability", required_argument, NULL, OPT_DURABILITY},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static produce_options po;
	memset(&po, 0, sizeof(po));
	po.mode = INPUT_LINES;
	po.timestamp = RILL_TIMESTAMP_NOW;
	int32_t partition = RILL_PARTITION_AUTO;
	int64_t batch_max = PRODUCE_BATCH_DEFAULT;
	enum durability_flag durability = DURABILITY_TOPIC;
	bool verbose = false;
	bool binary_keys = false;
	int c;
	while ((c = getopt_long(argc, argv, ":zK:ZH:p:b:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'z': po.mode = INPUT_NUL; break;
		case OPT_BINARY: po.mode = INPUT_BINARY; break;
		case OPT_BINARY_KEYS: binary_keys = true; break;
		case 'K':
			if (optarg[0] == '\0')
				return usage_error("the key delimiter must not be empty");
			po.key_delimiter = optarg;
			po.key_delimiter_len = strlen(optarg);
			break;
		case 'Z': po.null_empty = true; break;
		case 'H': {
			if (po.header_count == PRODUCE_HEADERS_MAX)
				return usage_error("too many headers (at most %d)", PRODUCE_HEADERS_MAX);
			char *name, *value;
			if (!split_setting(optarg, &name, &value))
				return usage_error("bad header '%s': expected NAME=VALUE", optarg);
			rill_header *h = &po.headers[po.header_count++];
			h->name = name;
			h->name_len = strlen(name);
			h->value = value;
			h->value_len = strlen(value);
			po.header_bytes += h->name_len + h->value_len + HEADER_OVERHEAD_MAX;
			break;
		}
		case OPT_TIMESTAMP:
			if (!parse_timestamp(optarg, &po.timestamp))
				return usage_error("bad timestamp '%s': expected epoch milliseconds "
				                   "or ISO 8601 such as 2026-11-25T10:00:00Z",
				                   optarg);
			break;
		case 'p':
			if (!parse_partition(optarg, &partition))
				return usage_error("bad partition '%s'", optarg);
			break;
		case 'b':
			if (!parse_i64(optarg, 1, PRODUCE_BATCH_MAX, &batch_max))
				return usage_error("bad --batch '%s': expected 1-%d", optarg,
				                   PRODUCE_BATCH_MAX);
			break;
		case OPT_DURABILITY:
			if (strcmp(optarg, "append") == 0)
				durability = DURABILITY_APPEND;
			else if (strcmp(optarg, "none") == 0)
				durability = DURABILITY_NONE;
			else if (strcmp(optarg, "topic") == 0)
				durability = DURABILITY_TOPIC;
			else
				return usage_error("bad --durability '%s': expected append, none or "
				                   "topic",
				                   optarg);
			break;
		case 'v': verbose = true; break;
		case 'h': fputs(produce_help, stdout); return finish_stdout();
		default: return getopt_error(c, optopt, argv);
		}
	}
	if (argc - optind != 2)
		return usage_error("expected STORE and TOPIC");
	if (binary_keys && po.mode != INPUT_BINARY)
		return usage_error("--binary-keys needs --binary");
	if (po.mode == INPUT_BINARY && po.key_delimiter != NULL)
		return usage_error("-K does not apply to --binary input (use --binary-keys)");
	po.binary_keys = binary_keys;
	const char *path = argv[optind];
	const char *name = argv[optind + 1];

	producer pr;
	memset(&pr, 0, sizeof(pr));
	input in;
	memset(&in, 0, sizeof(in));
	rill_store *store = NULL;
	int status = open_store(&store, path, OPEN_WRITE);
	if (status != EXIT_OK)
		return status;
	status = open_topic(&pr.topic, store, name);
	if (status != EXIT_OK)
		goto out;
	if (partition != RILL_PARTITION_AUTO) {
		status = check_partition(pr.topic, partition);
		if (status != EXIT_OK)
			goto out;
	}
	rill_config config;
	int rc = rill_topic_config(&config, pr.topic);
	if (rc != 0) {
		status = fail_rill(rc, "configuration of topic '%s'", name);
		goto out;
	}
	pr.topic_name = name;
	pr.partition = partition;
	pr.partitions = rill_topic_partitions(pr.topic);
	pr.append_flags = durability == DURABILITY_APPEND  ? RILL_APPEND_SYNC
	                  : durability == DURABILITY_NONE ? RILL_APPEND_NOSYNC
	                                                   : 0;
	pr.verbose = verbose;
	pr.batch_max = (size_t)batch_max;
	pr.bytes_max = (uint64_t)config.max_message_bytes;
	pr.estimate = BATCH_HEADER_SIZE;
	pr.records = calloc(pr.batch_max, sizeof(*pr.records));
	pr.record_numbers = calloc(pr.batch_max, sizeof(*pr.record_numbers));
	pr.sorted = calloc(pr.batch_max, sizeof(*pr.sorted));
	pr.sorted_numbers = calloc(pr.batch_max, sizeof(*pr.sorted_numbers));
	pr.record_partition = calloc(pr.batch_max, sizeof(*pr.record_partition));
	pr.group_start = calloc((size_t)pr.partitions + 2, sizeof(*pr.group_start));
	in.fd = STDIN_FILENO;
	in.capacity = INPUT_BUFFER_INITIAL;
	/* A record's bytes can never exceed max.message.bytes; allow framing. */
	in.record_max = pr.bytes_max;
	in.capacity_max = (size_t)pr.bytes_max + 16;
	if (in.capacity_max < in.capacity)
		in.capacity_max = in.capacity;
	in.buf = malloc(in.capacity);
	if (pr.records == NULL || pr.record_numbers == NULL || pr.sorted == NULL ||
	    pr.sorted_numbers == NULL || pr.record_partition == NULL ||
	    pr.group_start == NULL || in.buf == NULL) {
		status = fail("out of memory for a batch of %zu records", pr.batch_max);
		goto out;
	}

	install_stop_handlers();
	uint64_t record_number = 0;
	for (;;) {
		rill_record rec;
		const char *why = NULL;
		enum parse_result pres = parse_record(&in, &po, &rec, &why);
		if (pres == PARSE_BAD) {
			status = fail("stdin: record %" PRIu64 " at byte %" PRIu64 ": %s; %" PRIu64
			              " records appended before it, the %zu pending were not",
			              record_number + 1, in.base + in.pos, why, pr.appended,
			              pr.count);
			goto out;
		}
		if (pres == PARSE_NEED_MORE) {
			if (in.eof)
				break;
			if (in.end == in.capacity) {
				/* Making room moves bytes the pending records point
				 * to: append them first. */
				status = producer_flush(&pr);
				if (status != EXIT_OK)
					goto out;
				if (input_make_room(&in) != 0) {
					if (errno == EFBIG)
						status = fail("stdin: record %" PRIu64 " at byte %" PRIu64
						              " is longer than max.message.bytes (%" PRIu64
						              ") of topic '%s'; %" PRIu64 " records appended "
						              "before it",
						              record_number + 1, in.base + in.pos, pr.bytes_max,
						              name, pr.appended);
					else
						status = fail("out of memory for a record of more than %zu "
						              "bytes", in.capacity);
					goto out;
				}
			}
			if (input_read(&in) != 0) {
				status = fail("reading stdin: %s", strerror(errno));
				goto out;
			}
			continue;
		}
		record_number++;
		uint64_t size = rec.key_len + rec.value_len + po.header_bytes;
		if (size + BATCH_HEADER_SIZE > pr.bytes_max) {
			status = fail("stdin: record %" PRIu64 " (%" PRIu64 " bytes) is larger than "
			              "max.message.bytes (%" PRIu64 ") of topic '%s'; %" PRIu64
			              " records appended before it, the %zu pending were not",
			              record_number, size, pr.bytes_max, name, pr.appended,
			              pr.count);
			goto out;
		}
		size += RECORD_OVERHEAD_MAX;
		if (pr.count > 0 && pr.estimate + size > pr.bytes_max) {
			status = producer_flush(&pr);
			if (status != EXIT_OK)
				goto out;
		}
		pr.records[pr.count] = rec;
		pr.record_numbers[pr.count] = record_number;
		pr.count++;
		pr.estimate += size;
		if (rec.key != NULL)
			pr.keyed++;
		if (pr.count == pr.batch_max) {
			status = producer_flush(&pr);
			if (status != EXIT_OK)
				goto out;
		}
	}
	status = producer_flush(&pr);
	if (status == EXIT_OK && verbose)
		note("%" PRIu64 " records appended in %" PRIu64 " batches to topic '%s'%s",
		     pr.appended, pr.batches, name, stop_requested ? " (interrupted)" : "");
out:
	free(in.buf);
	free(pr.records);
	free(pr.record_numbers);
	free(pr.sorted);
	free(pr.sorted_numbers);
	free(pr.record_partition);
	free(pr.group_start);
	rill_topic_close(pr.topic);
	status = close_store(store, path, status);
	if (status == EXIT_OK)
		status = finish_stdout();
	return status;
}

/* ====================================================================
 * 7. consume
 * ==================================================================== */

static const char consume_help[] =
	"Usage: rill consume STORE TOPIC [options]\n"
	"\n"
	"Print records. Opens the store read-only, so it runs beside a writer.\n"
	"\n"
	"Options:\n"
	"  -o, --offset POS     where to start in each partition:\n"
	"                         earliest (default), latest, N (an offset),\n"
	"                         -N (N records before the end),\n"
	"                         @TS (first record with timestamp >= TS; TS is\n"
	"                         epoch ms or ISO 8601, e.g. @2026-11-25T10:00:00Z)\n"
	"  -p, --partition N    one partition (default: all, in partition order,\n"
	"                       each up to its end as of the start; with -f,\n"
	"                       interleaved as records arrive)\n"
	"  -c, --count N        stop after N records in total\n"
	"  -f, --follow         at the end, wait for new records until SIGINT or\n"
	"                       SIGTERM (like tail -f)\n"
	"  -F, --format FMT     output format (default '%s\\n'):\n"
	"                         %s value  %k key  %o offset  %p partition\n"
	"                         %T timestamp (ms)  %h headers (n=v,n2=v2)\n"
	"                         %t topic  %S value size  %K key size  %% a %\n"
	"                         \\n \\t \\r \\0 \\\\ escapes\n"
	"  -J, --json           one JSON object per line (see docs/cli.md):\n"
	"                       {\"topic\",\"partition\",\"offset\",\"timestamp\",\n"
	"                        \"key\"|\"key_b64\",\"value\"|\"value_b64\",\"headers\"}\n"
	"                       text that is not valid UTF-8 is base64 in *_b64\n"
	"      --base64         with -J: always base64 (key_b64, value_b64, ...)\n"
	"  -Z, --null-marker    print a null key or value as NULL (format mode)\n"
	"  -h, --help           this help\n"
	"\n"
	"Examples:\n"
	"  rill consume ./store orders                      # every value\n"
	"  rill consume ./store orders -p 0 -o -10          # last 10 of partition 0\n"
	"  rill consume ./store orders -o @2026-11-25T10:00:00Z -c 100\n"
	"  rill consume ./store orders -F '%p:%o %k=%s\\n'\n"
	"  rill consume ./store orders -J -f | jq .value\n";

enum start_kind { START_EARLIEST, START_LATEST, START_OFFSET, START_RELATIVE, START_TIME };

typedef struct start_position {
	enum start_kind kind;
	uint64_t value;   /* offset, or N for -N */
	int64_t timestamp;
} start_position;

static bool parse_start(const char *s, start_position *out)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(s, "earliest") == 0 || strcmp(s, "beginning") == 0) {
		out->kind = START_EARLIEST;
		return true;
	}
	if (strcmp(s, "latest") == 0 || strcmp(s, "end") == 0) {
		out->kind = START_LATEST;
		return true;
	}
	if (s[0] == '@') {
		out->kind = START_TIME;
		return parse_timestamp(s + 1, &out->timestamp);
	}
	if (s[0] == '-') {
		out->kind = START_RELATIVE;
		return parse_u64(s + 1, &out->value);
	}
	out->kind = START_OFFSET;
	return parse_u64(s, &out->value);
}

/* A compiled -F format: literal runs and % directives. */
typedef struct format_item {
	char directive;    /* 0: literal */
	const char *text;  /* literal bytes (into format_buffer) */
	size_t len;
} format_item;

#define FORMAT_ITEMS_MAX 256

typedef struct output_format {
	format_item items[FORMAT_ITEMS_MAX];
	size_t count;
	char buffer[4096]; /* unescaped literals */
} output_format;

static bool compile_format(output_format *f, const char *spec, char *bad)
{
	size_t used = 0;
	memset(f, 0, sizeof(*f));
	*bad = 0;
	const char *p = spec;
	while (*p != '\0') {
		if (f->count == FORMAT_ITEMS_MAX || used == sizeof(f->buffer))
			return false; /* *bad == 0: too long */
		char ch;
		if (p[0] == '%') {
			char d = p[1];
			if (d == '%') {
				ch = '%';
			} else if (d != '\0' && strchr("skopThtSK", d) != NULL) {
				f->items[f->count++].directive = d;
				p += 2;
				continue;
			} else {
				*bad = d != '\0' ? d : '%';
				return false;
			}
			p += 2;
		} else if (p[0] == '\\') {
			switch (p[1]) {
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case 'r': ch = '\r'; break;
			case '0': ch = '\0'; break;
			case '\\': ch = '\\'; break;
			default: *bad = p[1] != '\0' ? p[1] : '\\'; return false;
			}
			p += 2;
		} else {
			ch = *p++;
		}
		/* extend the previous literal or start one */
		format_item *last = f->count > 0 ? &f->items[f->count - 1] : NULL;
		if (last != NULL && last->directive == 0 &&
		    last->text + last->len == f->buffer + used) {
			last->len++;
		} else {
			f->items[f->count].directive = 0;
			f->items[f->count].text = f->buffer + used;
			f->items[f->count].len = 1;
			f->count++;
		}
		f->buffer[used++] = ch;
	}
	return true;
}

typedef struct consumer {
	const char *topic_name;
	bool json;
	bool base64;
	bool null_marker;
	output_format format;
} consumer;

static void put_nullable(const consumer *co, const void *data, size_t len)
{
	if (data == NULL) {
		if (co->null_marker)
			fputs("NULL", stdout);
		return;
	}
	fwrite(data, 1, len, stdout);
}

static void print_record(const consumer *co, int32_t partition, const rill_record *r)
{
	FILE *f = stdout;
	if (co->json) {
		fputs("{\"topic\":\"", f);
		put_json_text(f, co->topic_name, strlen(co->topic_name));
		fprintf(f, "\",\"partition\":%" PRId32 ",\"offset\":%" PRIu64
		           ",\"timestamp\":%" PRId64 ",",
		        partition, r->offset, r->timestamp_ms);
		put_json_bytes(f, "key", r->key, r->key_len, co->base64);
		fputc(',', f);
		put_json_bytes(f, "value", r->value, r->value_len, co->base64);
		fputs(",\"headers\":[", f);
		for (size_t i = 0; i < r->header_count; i++) {
			const rill_header *h = &r->headers[i];
			fputs(i ? ",{" : "{", f);
			put_json_bytes(f, "name", h->name, h->name_len, co->base64);
			fputc(',', f);
			put_json_bytes(f, "value", h->value, h->value_len, co->base64);
			fputc('}', f);
		}
		fputs("]}\n", f);
		return;
	}
	for (size_t i = 0; i < co->format.count; i++) {
		const format_item *it = &co->format.items[i];
		switch (it->directive) {
		case 0: fwrite(it->text, 1, it->len, f); break;
		case 's': put_nullable(co, r->value, r->value_len); break;
		case 'k': put_nullable(co, r->key, r->key_len); break;
		case 'o': fprintf(f, "%" PRIu64, r->offset); break;
		case 'p': fprintf(f, "%" PRId32, partition); break;
		case 'T': fprintf(f, "%" PRId64, r->timestamp_ms); break;
		case 't': fputs(co->topic_name, f); break;
		case 'S':
			if (r->value == NULL)
				fputs("-1", f);
			else
				fprintf(f, "%zu", r->value_len);
			break;
		case 'K':
			if (r->key == NULL)
				fputs("-1", f);
			else
				fprintf(f, "%zu", r->key_len);
			break;
		case 'h':
			for (size_t k = 0; k < r->header_count; k++) {
				const rill_header *h = &r->headers[k];
				if (k > 0)
					fputc(',', f);
				fwrite(h->name, 1, h->name_len, f);
				if (h->value != NULL) {
					fputc('=', f);
					fwrite(h->value, 1, h->value_len, f);
				}
			}
			break;
		default: break;
		}
	}
}

/* The offset to open partition p at, per the -o position. */
static int resolve_start(rill_topic *topic, int32_t p, const start_position *start,
                         uint64_t *out)
{
	const char *name = rill_topic_name(topic);
	rill_offsets offs;
	int rc = rill_partition_offsets(&offs, topic, p);
	if (rc != 0)
		return fail_rill(rc, "offsets of %s partition %" PRId32, name, p);
	switch (start->kind) {
	case START_EARLIEST: *out = offs.log_start; break;
	case START_LATEST: *out = offs.log_end; break;
	case START_OFFSET:
		if (start->value < offs.log_start || start->value > offs.log_end)
			return fail("offset %" PRIu64 " is out of range for %s partition %" PRId32
			            " (log start %" PRIu64 ", log end %" PRIu64 ")",
			            start->value, name, p, offs.log_start, offs.log_end);
		*out = start->value;
		break;
	case START_RELATIVE: {
		uint64_t span = offs.log_end - offs.log_start;
		*out = start->value >= span ? offs.log_start : offs.log_end - start->value;
		break;
	}
	case START_TIME:
		rc = rill_offset_for_timestamp(out, topic, p, start->timestamp);
		if (rc != 0)
			return fail_rill(rc, "offset for timestamp %" PRId64 " in %s partition %" PRId32,
			                 start->timestamp, name, p);
		break;
	}
	return EXIT_OK;
}

/*
 * Drain up to `limit` records from one reader. Sets *at_end when the
 * reader has nothing more now. A position removed by retention is
 * reported and skipped to the log start.
 */
static int drain_reader(const consumer *co, rill_reader *reader,
                        int32_t p, uint64_t limit, uint64_t *printed, bool *at_end)
{
	*at_end = false;
	for (uint64_t n = 0; n < limit && !stop_requested; n++) {
		rill_record rec;
		int rc = rill_reader_next(reader, &rec);
		if (rc == 0) {
			print_record(co, p, &rec);
			(*printed)++;
			continue;
		}
		if (rc == RILL_EAGAIN) {
			*at_end = true;
			return EXIT_OK;
		}
		if (rc == RILL_ERANGE) {
			uint64_t lost = rill_reader_position(reader);
			note("%s partition %" PRId32 ": offset %" PRIu64
			     " was deleted by retention; continuing at the log start",
			     co->topic_name, p, lost);
			rc = rill_reader_seek(reader, RILL_START_EARLIEST);
			if (rc == 0)
				continue;
		}
		return fail_rill(rc, "reading %s partition %" PRId32 " at offset %" PRIu64,
		                 co->topic_name, p, rill_reader_position(reader));
	}
	return EXIT_OK;
}

#define FOLLOW_POLL_MS 200 /* longest wait before trying every reader again */
#define FOLLOW_RETRY_MS 20 /* sleep between tries when nothing can notify us */

static int cmd_consume(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"offset", required_argument, NULL, 'o'},
		{"partition", required_argument, NULL, 'p'},
		{"count", required_argument, NULL, 'c'},
		{"follow", no_argument, NULL, 'f'},
		{"format", required_argument, NULL, 'F'},
		{"json", no_argument, NULL, 'J'},
		{"base64", no_argument, NULL, OPT_BASE64},
		{"null-marker", no_argument, NULL, 'Z'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static consumer co;
	memset(&co, 0, sizeof(co));
	start_position start = {START_EARLIEST, 0, 0};
	int32_t only_partition = -1;
	uint64_t count_max = UINT64_MAX;
	bool follow = false;
	const char *format = "%s\\n";
	bool format_given = false;
	int c;
	while ((c = getopt_long(argc, argv, ":o:p:c:fF:JZh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!parse_start(optarg, &start))
				return usage_error("bad offset '%s': expected earliest, latest, N, -N "
				                   "or @TIMESTAMP (epoch ms or ISO 8601 such as "
				                   "2026-11-25T10:00:00Z)",
				                   optarg);
			break;
		case 'p':
			if (!parse_partition(optarg, &only_partition))
				return usage_error("bad partition '%s'", optarg);
			break;
		case 'c':
			if (!parse_u64(optarg, &count_max))
				return usage_error("bad count '%s'", optarg);
			break;
		case 'f': follow = true; break;
		case 'F':
			format = optarg;
			format_given = true;
			break;
		case 'J': co.json = true; break;
		case OPT_BASE64: co.base64 = true; break;
		case 'Z': co.null_marker = true; break;
		case 'h': fputs(consume_help, stdout); return finish_stdout();
		default: return getopt_error(c, optopt, argv);
		}
	}
	if (argc - optind != 2)
		return usage_error("expected STORE and TOPIC");
	if (co.json && format_given)
		return usage_error("-J and -F cannot be combined");
	if (co.base64 && !co.json)
		return usage_error("--base64 needs -J");
	char bad = 0;
	if (!compile_format(&co.format, format, &bad)) {
		if (bad == 0)
			return usage_error("format '%s' is too long", format);
		return usage_error("bad format '%s': unknown directive or escape '%c'", format,
		                   bad);
	}
	const char *path = argv[optind];
	const char *name = argv[optind + 1];
	co.topic_name = name;

	rill_store *store = NULL;
	rill_topic *topic = NULL;
	rill_reader **readers = NULL;
	int32_t *reader_partition = NULL;
	size_t reader_count = 0;
	struct pollfd *fds = NULL;
	int status = open_store(&store, path, OPEN_READ);
	if (status != EXIT_OK)
		return status;
	status = open_topic(&topic, store, name);
	if (status != EXIT_OK)
		goto out;
	int32_t partitions = rill_topic_partitions(topic);
	if (only_partition >= 0) {
		status = check_partition(topic, only_partition);
		if (status != EXIT_OK)
			goto out;
	}
	size_t wanted = only_partition >= 0 ? 1 : (size_t)partitions;
	readers = calloc(wanted, sizeof(*readers));
	reader_partition = calloc(wanted, sizeof(*reader_partition));
	fds = calloc(wanted, sizeof(*fds));
	if (readers == NULL || reader_partition == NULL || fds == NULL) {
		status = fail("out of memory for %zu readers", wanted);
		goto out;
	}
	for (size_t i = 0; i < wanted; i++) {
		int32_t p = only_partition >= 0 ? only_partition : (int32_t)i;
		uint64_t offset;
		status = resolve_start(topic, p, &start, &offset);
		if (status != EXIT_OK)
			goto out;
		int rc = rill_reader_open(&readers[i], topic, p, offset);
		if (rc != 0) {
			status = fail_rill(rc, "opening a reader on %s partition %" PRId32
			                   " at offset %" PRIu64,
			                   name, p, offset);
			goto out;
		}
		reader_partition[i] = p;
		reader_count++;
	}

	/* Records are small and many: write stdout in large blocks unless a
	 * person is watching. */
	static char out_buffer[1 << 16];
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, out_buffer, _IOFBF, sizeof(out_buffer));
	install_stop_handlers();
	uint64_t printed = 0;
	/* Without -f: partition after partition, each up to its log end as
	 * of now, so a writer appending faster than we print cannot keep us
	 * going forever. */
	if (!follow) {
		for (size_t i = 0; i < reader_count && printed < count_max; i++) {
			rill_offsets offs;
			int rc = rill_partition_offsets(&offs, topic, reader_partition[i]);
			if (rc != 0) {
				status = fail_rill(rc, "offsets of %s partition %" PRId32, name,
				                   reader_partition[i]);
				goto out;
			}
			bool at_end = false;
			while (!at_end && printed < count_max && !stop_requested) {
				uint64_t position = rill_reader_position(readers[i]);
				if (position >= offs.log_end)
					break;
				uint64_t limit = count_max - printed;
				if (offs.log_end - position < limit)
					limit = offs.log_end - position;
				status = drain_reader(&co, readers[i], reader_partition[i], limit,
				                      &printed, &at_end);
				if (status != EXIT_OK)
					goto out;
			}
		}
		goto out;
	}
	/* With -f: round robin, then wait. Waiting does not rely on the
	 * notification alone: a writer in another process may not signal this
	 * reader, so every reader is tried again after each poll timeout. */
	while (printed < count_max && !stop_requested) {
		bool all_at_end = true;
		for (size_t i = 0; i < reader_count && printed < count_max; i++) {
			bool at_end = false;
			uint64_t limit = count_max - printed;
			if (limit > 4096)
				limit = 4096; /* fairness between partitions */
			status = drain_reader(&co, readers[i], reader_partition[i], limit,
			                      &printed, &at_end);
			if (status != EXIT_OK)
				goto out;
			if (!at_end)
				all_at_end = false;
		}
		if (!all_at_end || printed >= count_max)
			continue;
		if (fflush(stdout) != 0)
			break;
		if (reader_count == 1) {
			int rc = rill_reader_wait(readers[0], FOLLOW_POLL_MS);
			if (rc == RILL_ECLOSED)
				break;
			if (rc != 0 && rc != RILL_ETIMEDOUT) {
				status = fail_rill(rc, "waiting on %s partition %" PRId32, name,
				                   reader_partition[0]);
				goto out;
			}
			continue;
		}
		nfds_t nfds = 0;
		for (size_t i = 0; i < reader_count; i++) {
			int fd = rill_reader_fd(readers[i]);
			if (fd >= 0) {
				fds[nfds].fd = fd;
				fds[nfds].events = POLLIN;
				fds[nfds].revents = 0;
				nfds++;
			}
		}
		/* Without descriptors (a read-only store has none: the writer is
		 * another process) this is a short sleep between tries. */
		int timeout_ms = nfds > 0 ? FOLLOW_POLL_MS : FOLLOW_RETRY_MS;
		if (poll(fds, nfds, timeout_ms) < 0 && errno != EINTR) {
			status = fail("poll: %s", strerror(errno));
			goto out;
		}
	}
out:
	for (size_t i = 0; i < reader_count; i++)
		rill_reader_close(readers[i]);
	free(readers);
	free(reader_partition);
	free(fds);
	rill_topic_close(topic);
	rill_store_close(store);
	if (status == EXIT_OK)
		status = finish_stdout();
	return status;
}

/* ====================================================================
 * 8. offsets
 * ==================================================================== */

static const char offsets_help[] =
	"Usage: rill offsets STORE TOPIC [options]\n"
	"\n"
	"Print one line per partition. Without -t:\n"
	"  TOPIC PARTITION EARLIEST LATEST\n"
	"where EARLIEST is the log start offset and LATEST the log end offset (the\n"
	"next offset to be assigned). With -t TS:\n"
	"  TOPIC PARTITION OFFSET\n"
	"where OFFSET is the first offset whose timestamp is >= TS (LATEST if none).\n"
	"Opens the store read-only.\n"
	"\n"
	"Options:\n"
	"  -p, --partition N     one partition (default: all)\n"
	"  -t, --timestamp TS    epoch ms or ISO 8601 (2026-11-25T10:00:00Z)\n"
	"  -h, --help            this help\n"
	"\n"
	"Examples:\n"
	"  rill offsets ./store orders\n"
	"  rill offsets ./store orders -p 2 -t 2026-11-25T10:00:00+01:00\n";

static int cmd_offsets(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"partition", required_argument, NULL, 'p'},
		{"timestamp", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int32_t only_partition = -1;
	bool by_time = false;
	int64_t ts = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":p:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_partition(optarg, &only_partition))
				return usage_error("bad partition '%s'", optarg);
			break;
		case 't':
			if (!parse_timestamp(optarg, &ts))
				return usage_error("bad timestamp '%s': expected epoch milliseconds or "
				                   "ISO 8601 such as 2026-11-25T10:00:00Z",
				                   optarg);
			by_time = true;
			break;
		case 'h': fputs(offsets_help, stdout); return finish_stdout();
		default: return getopt_error(c, optopt, argv);
		}
	}
	if (argc - optind != 2)
		return usage_error("expected STORE and TOPIC");
	const char *path = argv[optind];
	const char *name = argv[optind + 1];
	rill_store *store = NULL;
	rill_topic *topic = NULL;
	int status = open_store(&store, path, OPEN_READ);
	if (status != EXIT_OK)
		return status;
	status = open_topic(&topic, store, name);
	if (status != EXIT_OK)
		goto out;
	if (only_partition >= 0) {
		status = check_partition(topic, only_partition);
		if (status != EXIT_OK)
			goto out;
	}
	int32_t partitions = rill_topic_partitions(topic);
	for (int32_t p = 0; p < partitions; p++) {
		if (only_partition >= 0 && p != only_partition)
			continue;
		if (by_time) {
			uint64_t offset;
			int rc = rill_offset_for_timestamp(&offset, topic, p, ts);
			if (rc != 0) {
				status = fail_rill(rc, "offset for timestamp %" PRId64 " in %s "
				                   "partition %" PRId32, ts, name, p);
				goto out;
			}
			printf("%s %" PRId32 " %" PRIu64 "\n", name, p, offset);
		} else {
			rill_offsets offs;
			int rc = rill_partition_offsets(&offs, topic, p);
			if (rc != 0) {
				status = fail_rill(rc, "offsets of %s partition %" PRId32, name, p);
				goto out;
			}
			printf("%s %" PRId32 " %" PRIu64 " %" PRIu64 "\n", name, p, offs.log_start,
			       offs.log_end);
		}
	}
out:
	rill_topic_close(topic);
	rill_store_close(store);
	if (status == EXIT_OK)
		status = finish_stdout();
	return status;
}

/* ====================================================================
 * 9. dump
 *
 * The API reads records, not batches, so dump reads segment files itself.
 * The batch format is documented and versioned (docs/FORMAT.md, "Record
 * batch"; magic 1). All fixed-width integers little-endian:
 *
 *   off size field                off size field
 *    0   8   base_offset           40   8   producer_id
 *    8   4   length (size - 12)    48   2   producer_epoch
 *   12   4   leader_epoch          50   2   reserved (0)
 *   16   1   magic (1)             52   4   base_sequence
 *   17   1   reserved (0)          56   4   record_count
 *   18   2   attributes            60   4   records_size (uncompressed)
 *   20   4   last_offset_delta     64   8   checksum
 *   24   8   first_timestamp       72   ... records section
 *   32   8   max_timestamp
 *
 * attributes: bits 0-2 codec (0 none, 4 zstd), bit 3 LogAppendTime,
 * bit 4 transactional, bit 5 control.
 * checksum = XXH3_64(header bytes 0..63, seed = R),
 *        R = XXH3_64(records section as stored, seed = partition key),
 * partition key = XXH3_64("<topic>/<partition>").
 *
 * Records (Kafka's layout, zig-zag varints): length, attributes (1 byte),
 * timestamp delta, offset delta, key length (-1 null), key, value length
 * (-1 null), value, header count, then per header name length, name, value
 * length (-1 null), value.
 *
 * A segment file is "<base offset, 20 digits>.log" in the partition
 * directory "<store>/<topic>/<topic>-<partition>". A segment may be
 * preallocated: the data ends at the first all-zero batch header.
 * ==================================================================== */

static const char dump_help[] =
	"Usage: rill dump STORE TOPIC [options]\n"
	"       rill dump SEGMENT.log [options]\n"
	"\n"
	"Print every batch of a partition's segment files (or of one segment\n"
	"file), like kafka-dump-log: offsets, count, position, size, codec,\n"
	"timestamps, producer fields and checksum OK/BAD. One line per batch:\n"
	"  baseOffset: B lastOffset: L count: N position: P size: S magic: 1\n"
	"  compression: none|zstd timestampType: CreateTime|LogAppendTime\n"
	"  firstTimestamp: T maxTimestamp: T producerId: I producerEpoch: E\n"
	"  baseSequence: Q leaderEpoch: E isTransactional: false isControl: false\n"
	"  recordsSize: R checksum: 0x... OK|BAD\n"
	"Lines starting with '#' are file headers and summaries; '| ' lines are\n"
	"records (--records); 'error:' lines describe damage. Exit status 1 if\n"
	"any batch is bad. Reads files directly; changes nothing.\n"
	"\n"
	"Options:\n"
	"  -p, --partition N        one partition (default: all)\n"
	"  -r, --records            print every record of every batch\n"
	"      --partition-key K    checksum key for a single file: TOPIC/PARTITION\n"
	"                           or 0xHEX (default: from the directory name\n"
	"                           <topic>-<partition>)\n"
	"  -n, --max-batches N      stop after N batches per file\n"
	"  -h, --help               this help\n"
	"\n"
	"Examples:\n"
	"  rill dump ./store orders -p 0\n"
	"  rill dump ./store/orders-0/00000000000000000000.log --records\n"
	"  rill dump copy.log --partition-key orders/0\n";

#define DUMP_BATCH_BYTES_MAX ((uint64_t)1 << 31)
#define DUMP_HEADERS_MAX 65536

typedef struct dumper {
	bool records;
	uint64_t max_batches;
	unsigned char *buf;      /* one batch */
	size_t buf_capacity;
	unsigned char *plain;    /* decompressed records section */
	size_t plain_capacity;
	ZSTD_DCtx *zstd;
	/* totals over every file */
	uint64_t files;
	uint64_t batches;
	uint64_t bad;
} dumper;

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint64_t partition_key_of(const char *topic, int32_t partition)
{
	char text[RILL_TOPIC_NAME_MAX + 32];
	int n = snprintf(text, sizeof(text), "%s/%" PRId32, topic, partition);
	return XXH3_64bits(text, (size_t)n);
}

/* Zig-zag varint (at most 10 bytes) from [*p, end). */
static bool get_varint(const unsigned char **p, const unsigned char *end, int64_t *out)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (*p >= end)
			return false;
		unsigned b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
			return true;
		}
	}
	return false;
}

/* A length-prefixed byte string: -1 is null; sets *data, *len. */
static bool get_bytes(const unsigned char **p, const unsigned char *end,
                      const unsigned char **data, int64_t *len)
{
	if (!get_varint(p, end, len))
		return false;
	if (*len == -1) {
		*data = NULL;
		return true;
	}
	if (*len < 0 || *len > end - *p)
		return false;
	*data = *p;
	*p += *len;
	return true;
}

/* Decode and (if print) print each record; returns NULL or what is wrong. */
static const char *dump_records(const unsigned char *p, size_t size, uint64_t base,
                                int64_t first_ts, uint32_t count, bool print)
{
	const unsigned char *end = p + size;
	for (uint32_t i = 0; i < count; i++) {
		int64_t len, ts_delta, off_delta, key_len, value_len, header_count;
		if (!get_varint(&p, end, &len) || len < 1 || len > end - p)
			return "bad record length";
		const unsigned char *rend = p + len;
		const unsigned char *key, *value;
		p++; /* attributes */
		if (!get_varint(&p, rend, &ts_delta) || !get_varint(&p, rend, &off_delta))
			return "bad record timestamp or offset delta";
		if (off_delta != (int64_t)i)
			return "record offsets not dense";
		if (!get_bytes(&p, rend, &key, &key_len) ||
		    !get_bytes(&p, rend, &value, &value_len))
			return "bad record key or value length";
		if (!get_varint(&p, rend, &header_count) || header_count < 0 ||
		    header_count > DUMP_HEADERS_MAX)
			return "bad record header count";
		if (print) {
			printf("| offset: %" PRIu64 " timestamp: %" PRId64 " keySize: %" PRId64
			       " valueSize: %" PRId64 " headers: %" PRId64,
			       base + (uint64_t)off_delta, first_ts + ts_delta, key_len, value_len,
			       header_count);
		}
		const unsigned char *hstart = p;
		for (int64_t h = 0; h < header_count; h++) {
			const unsigned char *hn, *hv;
			int64_t hn_len, hv_len;
			if (!get_bytes(&p, rend, &hn, &hn_len) || hn == NULL ||
			    !get_bytes(&p, rend, &hv, &hv_len))
				return "bad record header";
		}
		if (print) {
			fputs(" key: ", stdout);
			if (key == NULL)
				fputs("null", stdout);
			else
				put_quoted(stdout, key, (size_t)key_len);
			fputs(" value: ", stdout);
			if (value == NULL)
				fputs("null", stdout);
			else
				put_quoted(stdout, value, (size_t)value_len);
			if (header_count > 0) {
				const unsigned char *q = hstart;
				fputs(" headerKeys: [", stdout);
				for (int64_t h = 0; h < header_count; h++) {
					const unsigned char *hn, *hv;
					int64_t hn_len, hv_len;
					get_bytes(&q, rend, &hn, &hn_len);
					get_bytes(&q, rend, &hv, &hv_len);
					if (h > 0)
						fputc(',', stdout);
					put_quoted(stdout, hn, (size_t)hn_len);
				}
				fputc(']', stdout);
			}
			fputc('\n', stdout);
		}
		if (p != rend)
			return "record length does not match its fields";
	}
	if (p != end)
		return "bytes left after the last record";
	return NULL;
}

static bool ensure_capacity(unsigned char **buf, size_t *capacity, size_t need)
{
	if (*capacity >= need)
		return true;
	size_t cap = *capacity ? *capacity : 65536;
	while (cap < need)
		cap *= 2;
	unsigned char *b = realloc(*buf, cap);
	if (b == NULL)
		return false;
	*buf = b;
	*capacity = cap;
	return true;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static bool read_at(int fd, void *buf, size_t len, uint64_t pos, size_t *done)
{
	*done = 0;
	while (*done < len) {
		ssize_t n = pread(fd, (char *)buf + *done, len - *done, (off_t)(pos + *done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (n == 0)
			break;
		*done += (size_t)n;
	}
	return true;
}

/*
 * Dump one segment file. Returns EXIT_OK (even with bad batches, which are
 * counted in d->bad) or EXIT_ERROR when the file cannot be read.
 */
static int dump_file(dumper *d, const char *path, uint64_t partition_key,
                     bool key_known)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int err = errno;
		close(fd);
		return fail("%s: %s", path, strerror(err));
	}
	uint64_t file_size = (uint64_t)st.st_size;
	printf("# file: %s size: %" PRIu64 " partitionKey: ", path, file_size);
	if (key_known)
		printf("0x%016" PRIx64 "\n", partition_key);
	else
		printf("unknown (checksums not checked; use --partition-key)\n");
	d->files++;

	uint64_t pos = 0, batches = 0, records = 0, bad = 0;
	/* "<20 digits>.log" names the first offset of the segment. */
	uint64_t expect_offset = UINT64_MAX;
	const char *file_name = strrchr(path, '/');
	file_name = file_name ? file_name + 1 : path;
	if (strlen(file_name) == 24 && strspn(file_name, "0123456789") == 20 &&
	    strcmp(file_name + 20, ".log") == 0)
		expect_offset = strtoull(file_name, NULL, 10);
	int status = EXIT_OK;
	while (pos < file_size && batches < d->max_batches) {
		unsigned char head[BATCH_HEADER_SIZE];
		size_t got;
		if (!read_at(fd, head, sizeof(head), pos, &got)) {
			status = fail("%s: reading at %" PRIu64 ": %s", path, pos, strerror(errno));
			break;
		}
		if (all_zero(head, got)) {
			printf("# end of data at position %" PRIu64 " (%" PRIu64
			       " trailing bytes starting with zeros: preallocated space)\n",
			       pos, file_size - pos);
			break;
		}
		if (got < BATCH_HEADER_SIZE) {
			printf("error: position: %" PRIu64 " truncated batch header (%zu of %d "
			       "bytes)\n",
			       pos, got, BATCH_HEADER_SIZE);
			bad++;
			break;
		}
		uint64_t base = le64(head);
		uint32_t length = le32(head + 8);
		int32_t leader_epoch = (int32_t)le32(head + 12);
		unsigned magic = head[16];
		unsigned reserved1 = head[17];
		uint16_t attributes = le16(head + 18);
		uint32_t last_delta = le32(head + 20);
		int64_t first_ts = (int64_t)le64(head + 24);
		int64_t max_ts = (int64_t)le64(head + 32);
		int64_t producer_id = (int64_t)le64(head + 40);
		int16_t producer_epoch = (int16_t)le16(head + 48);
		uint16_t reserved2 = le16(head + 50);
		int32_t base_sequence = (int32_t)le32(head + 52);
		uint32_t count = le32(head + 56);
		uint32_t records_size = le32(head + 60);
		uint64_t checksum = le64(head + 64);
		uint64_t total = (uint64_t)length + 12;
		unsigned codec = attributes & 0x07u;

		const char *structural = NULL;
		if (magic != 1)
			structural = "bad magic";
		else if (reserved1 != 0 || reserved2 != 0)
			structural = "reserved bytes not zero";
		else if ((attributes & ~0x3fu) != 0 || (codec != 0 && codec != 4))
			structural = "unknown attributes";
		else if (total < BATCH_HEADER_SIZE || total > DUMP_BATCH_BYTES_MAX)
			structural = "bad batch length";
		else if (count == 0 || last_delta != count - 1)
			structural = "record count does not match last offset delta";
		else if (total > file_size - pos)
			structural = "batch extends past the end of the file (torn write)";
		if (structural != NULL) {
			printf("error: position: %" PRIu64 " baseOffset: %" PRIu64
			       " %s (magic %u, length %" PRIu32 ", count %" PRIu32
			       "); cannot find the next batch\n",
			       pos, base, structural, magic, length, count);
			bad++;
			break;
		}
		if (!ensure_capacity(&d->buf, &d->buf_capacity, (size_t)total)) {
			status = fail("out of memory for a batch of %" PRIu64 " bytes", total);
			break;
		}
		if (!read_at(fd, d->buf, (size_t)total, pos, &got) || got != total) {
			status = fail("%s: reading %" PRIu64 " bytes at %" PRIu64 ": %s", path,
			              total, pos, got != total ? "short read" : strerror(errno));
			break;
		}
		const unsigned char *section = d->buf + BATCH_HEADER_SIZE;
		size_t section_size = (size_t)(total - BATCH_HEADER_SIZE);
		const char *verdict = "OK";
		const char *problem = NULL;
		if (key_known) {
			uint64_t r = XXH3_64bits_withSeed(section, section_size, partition_key);
			uint64_t sum = XXH3_64bits_withSeed(d->buf, 64, r);
			if (sum != checksum) {
				verdict = "BAD";
				problem = "checksum mismatch";
			}
		} else {
			verdict = "UNCHECKED";
		}
		if (expect_offset != UINT64_MAX && base != expect_offset && problem == NULL) {
			verdict = "BAD";
			problem = batches == 0 ? "first batch does not start at the base offset "
			                         "in the file name"
			                       : "offset not contiguous with the previous batch";
		}
		/* Decode the records too: catches what the checksum cannot (a bug
		 * in the writer) and is needed for --records. */
		const unsigned char *plain = section;
		size_t plain_size = section_size;
		if (problem == NULL && codec == 4) {
			if (!ensure_capacity(&d->plain, &d->plain_capacity, records_size + 1u)) {
				status = fail("out of memory for %" PRIu32 " bytes of records",
				              records_size);
				break;
			}
			size_t n = ZSTD_decompressDCtx(d->zstd, d->plain, records_size, section,
			                               section_size);
			if (ZSTD_isError(n) || n != records_size) {
				verdict = "BAD";
				problem = "records section does not decompress to records_size";
			}
			plain = d->plain;
			plain_size = records_size;
		} else if (problem == NULL && records_size != section_size) {
			verdict = "BAD";
			problem = "records_size does not match the batch length";
		}
		printf("baseOffset: %" PRIu64 " lastOffset: %" PRIu64 " count: %" PRIu32
		       " position: %" PRIu64 " size: %" PRIu64 " magic: %u compression: %s"
		       " timestampType: %s firstTimestamp: %" PRId64 " maxTimestamp: %" PRId64
		       " producerId: %" PRId64 " producerEpoch: %d baseSequence: %" PRId32
		       " leaderEpoch: %" PRId32 " isTransactional: %s isControl: %s"
		       " recordsSize: %" PRIu32 " checksum: 0x%016" PRIx64 " %s\n",
		       base, base + last_delta, count, pos, total, magic,
		       codec == 4 ? "zstd" : "none",
		       (attributes & 0x08u) ? "LogAppendTime" : "CreateTime", first_ts, max_ts,
		       producer_id, (int)producer_epoch, base_sequence, leader_epoch,
		       (attributes & 0x10u) ? "true" : "false",
		       (attributes & 0x20u) ? "true" : "false", records_size, checksum, verdict);
		if (problem == NULL) {
			const char *why =
				dump_records(plain, plain_size, base, first_ts, count, d->records);
			if (why != NULL)
				problem = why;
		}
		if (problem != NULL) {
			printf("error: position: %" PRIu64 " baseOffset: %" PRIu64 " %s\n", pos,
			       base, problem);
			bad++;
		}
		batches++;
		records += count;
		expect_offset = base + last_delta + 1;
		pos += total;
	}
	printf("# summary: %s batches: %" PRIu64 " records: %" PRIu64 " bad: %" PRIu64
	       " bytes: %" PRIu64 "\n",
	       path, batches, records, bad, pos);
	close(fd);
	d->batches += batches;
	d->bad += bad;
	return status;
}

/* "<topic>-<partition>" directory name to its parts. */
static bool parse_partition_dir(const char *dir, char *topic, size_t topic_size,
                                int32_t *partition)
{
	const char *dash = strrchr(dir, '-');
	if (dash == NULL || dash == dir || (size_t)(dash - dir) >= topic_size)
		return false;
	if (!parse_partition(dash + 1, partition))
		return false;
	memcpy(topic, dir, (size_t)(dash - dir));
	topic[dash - dir] = '\0';
	return true;
}

/* Partition key for a segment file path: from --partition-key or the
 * parent directory's name. */
static int key_for_file(const char *path, const char *override, uint64_t *key,
                        bool *known)
{
	*known = false;
	if (override != NULL) {
		if (strncmp(override, "0x", 2) == 0 || strncmp(override, "0X", 2) == 0) {
			char *end = NULL;
			errno = 0;
			unsigned long long v = strtoull(override + 2, &end, 16);
			if (errno != 0 || end == override + 2 || *end != '\0')
				return usage_error("bad --partition-key '%s'", override);
			*key = v;
		} else {
			char topic[RILL_TOPIC_NAME_MAX + 1];
			const char *slash = strrchr(override, '/');
			int32_t p;
			if (slash == NULL || slash == override ||
			    (size_t)(slash - override) > RILL_TOPIC_NAME_MAX ||
			    !parse_partition(slash + 1, &p))
				return usage_error("bad --partition-key '%s': expected TOPIC/PARTITION "
				                   "or 0xHEX",
				                   override);
			memcpy(topic, override, (size_t)(slash - override));
			topic[slash - override] = '\0';
			*key = partition_key_of(topic, p);
		}
		*known = true;
		return EXIT_OK;
	}
	char copy[PATH_MAX];
	if (strlen(path) >= sizeof(copy))
		return EXIT_OK;
	strcpy(copy, path);
	char *slash = strrchr(copy, '/');
	char absolute[PATH_MAX];
	const char *dir;
	if (slash == NULL) {
		if (getcwd(absolute, sizeof(absolute)) == NULL)
			return EXIT_OK;
		dir = absolute;
	} else {
		*slash = '\0';
		dir = copy;
		if (realpath(copy, absolute) != NULL)
			dir = absolute;
	}
	const char *base = strrchr(dir, '/');
	base = base ? base + 1 : dir;
	char topic[RILL_TOPIC_NAME_MAX + 1];
	int32_t p;
	if (parse_partition_dir(base, topic, sizeof(topic), &p)) {
		*key = partition_key_of(topic, p);
		*known = true;
	}
	return EXIT_OK;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted "*.log" names in a directory. */
static int list_segments(const char *dir, name_list *out)
{
	memset(out, 0, sizeof(*out));
	DIR *dp = opendir(dir);
	if (dp == NULL)
		return fail("%s: %s", dir, strerror(errno));
	struct dirent *e;
	while ((e = readdir(dp)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0) {
			if (name_list_add(out, e->d_name) != 0) {
				closedir(dp);
				name_list_free(out);
				return fail("out of memory listing %s", dir);
			}
		}
	}
	closedir(dp);
	if (out->count > 0)
		qsort(out->names, out->count, sizeof(char *), compare_names);
	return EXIT_OK;
}

static int dump_partition(dumper *d, const char *store_path, const char *topic, int32_t p)
{
	/* "<store>/<topic>/<topic>-<partition>" (docs/FORMAT.md, "Layout") */
	char dir[PATH_MAX];
	int n = snprintf(dir, sizeof(dir), "%s/%s/%s-%" PRId32, store_path, topic, topic, p);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return fail("path too long: %s/%s/%s-%" PRId32, store_path, topic, topic, p);
	name_list segs;
	int status = list_segments(dir, &segs);
	if (status != EXIT_OK)
		return status;
	uint64_t key = partition_key_of(topic, p);
	for (size_t i = 0; i < segs.count && status == EXIT_OK; i++) {
		char file[PATH_MAX];
		n = snprintf(file, sizeof(file), "%s/%s", dir, segs.names[i]);
		if (n < 0 || (size_t)n >= sizeof(file)) {
			status = fail("path too long: %s/%s", dir, segs.names[i]);
			break;
		}
		status = dump_file(d, file, key, true);
	}
	name_list_free(&segs);
	return status;
}

static int cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"partition", required_argument, NULL, 'p'},
		{"records", no_argument, NULL, 'r'},
		{"partition-key", required_argument, NULL, OPT_PARTITION_KEY},
		{"max-batches", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	dumper d;
	memset(&d, 0, sizeof(d));
	d.max_batches = UINT64_MAX;
	int32_t only_partition = -1;
	const char *key_override = NULL;
	int c;
	while ((c = getopt_long(argc, argv, ":p:rn:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_partition(optarg, &only_partition))
				return usage_error("bad partition '%s'", optarg);
			break;
		case 'r': d.records = true; break;
		case OPT_PARTITION_KEY: key_override = optarg; break;
		case 'n':
			if (!parse_u64(optarg, &d.max_batches) || d.max_batches == 0)
				return usage_error("bad --max-batches '%s'", optarg);
			break;
		case 'h': fputs(dump_help, stdout); return finish_stdout();
		default: return getopt_error(c, optopt, argv);
		}
	}
	int positional = argc - optind;
	if (positional != 1 && positional != 2)
		return usage_error("expected STORE TOPIC or a SEGMENT.log file");
	struct stat st;
	const char *first = argv[optind];
	if (stat(first, &st) != 0)
		return fail("%s: %s", first, strerror(errno));
	bool file_mode = S_ISREG(st.st_mode);
	if (file_mode && positional != 1)
		return usage_error("a segment file takes no TOPIC");
	if (!file_mode && positional != 2)
		return usage_error("%s is a directory: expected STORE TOPIC", first);
	if (!file_mode && key_override != NULL)
		return usage_error("--partition-key applies to a single segment file");
	if (file_mode && only_partition >= 0)
		return usage_error("-p applies to STORE TOPIC, not to a segment file");

	d.zstd = ZSTD_createDCtx();
	if (d.zstd == NULL)
		return fail("out of memory for a zstd context");
	int status = EXIT_OK;
	if (file_mode) {
		uint64_t key = 0;
		bool known = false;
		status = key_for_file(first, key_override, &key, &known);
		if (status == EXIT_OK)
			status = dump_file(&d, first, key, known);
	} else {
		/* The API tells which partitions exist; the files are read
		 * directly. The store is opened read-only and changes nothing. */
		const char *name = argv[optind + 1];
		rill_store *store = NULL;
		rill_topic *topic = NULL;
		status = open_store(&store, first, OPEN_READ);
		if (status == EXIT_OK)
			status = open_topic(&topic, store, name);
		if (status == EXIT_OK && only_partition >= 0)
			status = check_partition(topic, only_partition);
		int32_t partitions = topic ? rill_topic_partitions(topic) : 0;
		for (int32_t p = 0; status == EXIT_OK && p < partitions; p++) {
			if (only_partition >= 0 && p != only_partition)
				continue;
			status = dump_partition(&d, first, name, p);
		}
		rill_topic_close(topic);
		rill_store_close(store);
	}
	ZSTD_freeDCtx(d.zstd);
	free(d.buf);
	free(d.plain);
	if (status == EXIT_OK) {
		printf("# total: files: %" PRIu64 " batches: %" PRIu64 " bad: %" PRIu64 "\n",
		       d.files, d.batches, d.bad);
		status = finish_stdout();
	}
	if (status == EXIT_OK && d.bad > 0)
		status = fail("%" PRIu64 " bad batch%s found", d.bad, d.bad == 1 ? "" : "es");
	return status;
}

/* ====================================================================
 * 10. verify, stats
 * ==================================================================== */

static const char verify_help[] =
	"Usage: rill verify STORE [TOPIC]\n"
	"\n"
	"Read and check every batch of TOPIC (default: every topic): lengths,\n"
	"magic, checksums, dense offsets, decompression. Prints one line per\n"
	"problem:\n"
	"  TOPIC PARTITION segment: BASE position: POS offset: OFF: WHAT\n"
	"then a summary line:\n"
	"  verified: N batches, M problems\n"
	"Exit status 0 if clean, 1 on corruption or error. Opens the store\n"
	"read-only: runs beside a writer and changes nothing.\n"
	"\n"
	"Examples:\n"
	"  rill verify ./store\n"
	"  rill verify ./store orders || echo 'orders is damaged'\n";

static void on_problem(void *arg, const rill_verify_problem *p)
{
	(void)arg;
	printf("%s %" PRId32 " segment: %020" PRIu64 " position: %" PRIu64 " offset: %" PRIu64
	       ": %s\n",
	       p->topic ? p->topic : "?", p->partition, p->segment_base, p->file_position,
	       p->offset, p->what ? p->what : "problem");
}

static int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(verify_help, stdout);
			return finish_stdout();
		}
		return getopt_error(c, optopt, argv);
	}
	if (argc - optind != 1 && argc - optind != 2)
		return usage_error("expected STORE [TOPIC]");
	const char *path = argv[optind];
	const char *name = argc - optind == 2 ? argv[optind + 1] : NULL;
	rill_store *store = NULL;
	int status = open_store(&store, path, OPEN_READ);
	if (status != EXIT_OK)
		return status;
	if (name != NULL) {
		/* Name an unknown topic plainly rather than as a verify failure. */
		rill_topic *topic = NULL;
		status = open_topic(&topic, store, name);
		rill_topic_close(topic);
		if (status != EXIT_OK) {
			rill_store_close(store);
			return status;
		}
	}
	uint64_t batches = 0, problems = 0;
	int rc = rill_verify(store, name, on_problem, NULL, &batches, &problems);
	printf("verified: %" PRIu64 " batches, %" PRIu64 " problems\n", batches, problems);
	if (rc == RILL_ECORRUPT || (rc == 0 && problems > 0))
		status = fail("%s%s%s: %" PRIu64 " problem%s found", path, name ? " topic " : "",
		              name ? name : "", problems, problems == 1 ? "" : "s");
	else if (rc != 0)
		status = fail_rill(rc, "verifying %s", path);
	rill_store_close(store);
	if (status == EXIT_OK)
		status = finish_stdout();
	return status;
}

static const char stats_help[] =
	"Usage: rill stats STORE [TOPIC]...\n"
	"\n"
	"Store-wide figures as 'name: value' lines (topics, partitions, segments,\n"
	"bytes_on_disk, open_files, clean_open, recovered_bytes_cut,\n"
	"recovered_bytes_scanned), then one line per partition of each TOPIC\n"
	"(default: every topic):\n"
	"  TOPIC PARTITION log_start log_end durable segments bytes\n"
	"  first_timestamp max_timestamp\n"
	"Opens the store read-only; counters of appends and fsyncs belong to a\n"
	"writer process and are not shown.\n"
	"\n"
	"Examples:\n"
	"  rill stats ./store\n"
	"  rill stats ./store orders | awk '$1 == \"orders\" { n += $4 - $3 } END { print n }'\n";

static int cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(stats_help, stdout);
			return finish_stdout();
		}
		return getopt_error(c, optopt, argv);
	}
	if (argc - optind < 1)
		return usage_error("expected STORE");
	const char *path = argv[optind];
	rill_store *store = NULL;
	int status = open_store(&store, path, OPEN_READ);
	if (status != EXIT_OK)
		return status;
	rill_store_stats st;
	memset(&st, 0, sizeof(st));
	int rc = rill_store_stats_get(&st, store);
	if (rc != 0) {
		status = fail_rill(rc, "stats of store %s", path);
		rill_store_close(store);
		return status;
	}
	printf("topics: %" PRIu64 "\n", st.topics);
	printf("partitions: %" PRIu64 "\n", st.partitions);
	printf("segments: %" PRIu64 "\n", st.segments);
	printf("bytes_on_disk: %" PRIu64 "\n", st.bytes_on_disk);
	printf("open_files: %" PRIu64 "\n", st.open_files);
	printf("clean_open: %d\n", st.clean_open);
	printf("recovered_bytes_cut: %" PRIu64 "\n", st.recovered_bytes_cut);
	printf("recovered_bytes_scanned: %" PRIu64 "\n", st.recovered_bytes_scanned);

	name_list names;
	memset(&names, 0, sizeof(names));
	char **topics = argv + optind + 1;
	size_t topic_count = (size_t)(argc - optind - 1);
	if (topic_count == 0) {
		status = list_topics(&names, store, path);
		topics = names.names;
		topic_count = names.count;
	}
	if (status == EXIT_OK)
		print_partition_header(true);
	for (size_t i = 0; status == EXIT_OK && i < topic_count; i++) {
		rill_topic *topic = NULL;
		status = open_topic(&topic, store, topics[i]);
		int32_t partitions = topic ? rill_topic_partitions(topic) : 0;
		for (int32_t p = 0; status == EXIT_OK && p < partitions; p++)
			status = print_partition_row(topic, p, true);
		rill_topic_close(topic);
	}
	name_list_free(&names);
	rill_store_close(store);
	if (status == EXIT_OK)
		status = finish_stdout();
	return status;
}

/* ====================================================================
 * 11. main
 * ==================================================================== */

static const char main_help[] =
	"Usage: rill <command> [arguments]\n"
	"\n"
	"Inspect and use a rill store (a directory) from the shell.\n"
	"\n"
	"Commands:\n"
	"  topics    create, list, describe, alter, delete, add-partitions\n"
	"  produce   append records from stdin (lines, NUL-delimited, binary)\n"
	"  consume   print records (format string or JSON lines; -f to follow)\n"
	"  offsets   earliest / latest / for-timestamp offsets per partition\n"
	"  dump      batches and records of segment files, checksums OK/BAD\n"
	"  verify    check every batch of a store or topic\n"
	"  stats     store and partition figures\n"
	"\n"
	"Run 'rill <command> --help' for a command's options and examples.\n"
	"Exit status: 0 success, 1 error, 2 usage error.\n"
	"\n"
	"Examples:\n"
	"  rill topics create ./store orders --partitions 3\n"
	"  seq 1 100 | rill produce ./store orders\n"
	"  rill consume ./store orders -F '%p %o %s\\n'\n";

int main(int argc, char **argv)
{
	opterr = 0;
	if (argc < 2) {
		fputs(main_help, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		if (strcmp(cmd, "help") == 0 && argc > 2) {
			/* "rill help produce" == "rill produce --help" */
			char *args[4] = {argv[0], argv[2], (char *)"--help", NULL};
			if (strcmp(argv[2], "topics") == 0 && argc > 3) {
				char *targs[5] = {argv[0], argv[2], argv[3], (char *)"--help", NULL};
				return main(4, targs);
			}
			return main(3, args);
		}
		fputs(main_help, stdout);
		return finish_stdout();
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("rill %s (library %s)\n", RILL_VERSION_STRING, rill_version_string());
		return finish_stdout();
	}
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} table[] = {
		{"produce", cmd_produce}, {"consume", cmd_consume}, {"offsets", cmd_offsets},
		{"dump", cmd_dump},       {"verify", cmd_verify},   {"stats", cmd_stats},
	};
	if (strcmp(cmd, "topics") == 0)
		return cmd_topics(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcmp(cmd, table[i].name) == 0) {
			set_command(cmd, NULL);
			return table[i].fn(argc - 1, argv + 1);
		}
	}
	return usage_error("unknown command '%s' (try 'rill --help')", cmd);
}
