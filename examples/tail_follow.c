/*
 * tail_follow.c — follow a partition like `tail -f`: print new records as
 * they are appended, until interrupted.
 *
 * Introduces: rill_reader_fd with poll() (an event loop can watch it next
 * to sockets), rill_reader_wait (a blocking wait with a timeout),
 * RILL_START_LATEST / RILL_START_EARLIEST, RILL_OPEN_READONLY, and
 * appending from another thread while a reader follows.
 *
 *   usage: tail_follow [-w] [-b] [-n COUNT] [-t IDLE_MS] [-P N] STORE TOPIC [PARTITION]
 *     -w        wait with rill_reader_wait instead of poll() on rill_reader_fd
 *     -b        start at the beginning of the partition (default: the end)
 *     -n COUNT  exit after COUNT records
 *     -t MS     exit when nothing arrives for MS milliseconds (default: never)
 *     -P N      demo: open the store for writing and append N records from a
 *               second thread (creating TOPIC if missing) while following
 *
 * Without -P the store is opened read-only, so this runs beside a writer in
 * another process. A read-only store has no descriptor to poll (the writer
 * is elsewhere), so the program then waits with rill_reader_wait, which
 * watches the files. Either way the loop never sleeps longer than
 * SLICE_MS, to notice signals and the idle timeout.
 * Exit status: 0 (end, idle timeout or SIGINT/SIGTERM), 1 error, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rill.h"

#define SLICE_MS 100 /* longest sleep before trying the reader again */

static volatile sig_atomic_t stop;

static void on_signal(int signo)
{
	(void)signo;
	stop = 1;
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "tail_follow: %s: %s", what, rill_strerror(rc));
	if (rill_errmsg()[0] != '\0')
		fprintf(stderr, " (%s)", rill_errmsg());
	fputc('\n', stderr);
	return 1;
}

typedef struct demo_producer {
	rill_topic *topic;
	int32_t partition;
	long count;
	int rc; /* result of the thread */
} demo_producer;

/* Append `count` records, one every 5 ms. */
static void *produce(void *arg)
{
	demo_producer *dp = arg;
	for (long i = 0; i < dp->count && !stop; i++) {
		char value[32];
		int len = snprintf(value, sizeof(value), "tick %ld", i);
		rill_record record;
		memset(&record, 0, sizeof(record));
		record.value = value;
		record.value_len = (size_t)len;
		record.timestamp_ms = RILL_TIMESTAMP_NOW;
		int rc = rill_append(NULL, dp->topic, dp->partition, &record, 1,
		                     RILL_APPEND_NOSYNC);
		if (rc != 0) {
			dp->rc = report("append", rc);
			return NULL;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long parse_long(const char *s, const char *what)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0) {
		fprintf(stderr, "tail_follow: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: tail_follow [-w] [-b] [-n COUNT] [-t IDLE_MS] [-P N] "
	                "STORE TOPIC [PARTITION]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int use_wait = 0, from_beginning = 0;
	long max_records = -1, idle_ms = -1, produce_count = 0;
	int c;
	while ((c = getopt(argc, argv, "wbn:t:P:")) != -1) {
		switch (c) {
		case 'w': use_wait = 1; break;
		case 'b': from_beginning = 1; break;
		case 'n': max_records = parse_long(optarg, "count"); break;
		case 't': idle_ms = parse_long(optarg, "idle timeout"); break;
		case 'P': produce_count = parse_long(optarg, "record count"); break;
		default: usage();
		}
	}
	if (argc - optind < 2 || argc - optind > 3)
		usage();
	const char *path = argv[optind];
	const char *name = argv[optind + 1];
	int32_t partition =
		argc - optind == 3 ? (int32_t)parse_long(argv[optind + 2], "partition") : 0;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rill_options options = RILL_OPTIONS_INIT;
	options.flags = produce_count > 0 ? 0 : RILL_OPEN_READONLY | RILL_OPEN_NOCREATE;
	rill_store *store = NULL;
	int rc = rill_store_open(&store, path, &options);
	if (rc != 0)
		return report(path, rc);

	int status = 0;
	rill_topic *topic = NULL;
	rill_reader *reader = NULL;
	pthread_t thread;
	int thread_started = 0;
	demo_producer dp = {NULL, partition, produce_count, 0};

	if (produce_count > 0) {
		rc = rill_topic_create(store, name, partition + 1, NULL);
		if (rc != 0 && rc != RILL_EEXIST) {
			status = report("create topic", rc);
			goto out;
		}
	}
	rc = rill_topic_open(&topic, store, name);
	if (rc != 0) {
		status = report(name, rc);
		goto out;
	}
	rc = rill_reader_open(&reader, topic, partition,
	                      from_beginning ? RILL_START_EARLIEST : RILL_START_LATEST);
	if (rc != 0) {
		status = report("reader open", rc);
		goto out;
	}
	/* The descriptor is signalled by appends in this process; a read-only
	 * store has none (RILL_EINVAL) and waits with rill_reader_wait. */
	int fd = use_wait ? -1 : rill_reader_fd(reader);
	if (!use_wait && fd < 0) {
		if (produce_count > 0) {
			status = report("reader fd", fd);
			goto out;
		}
		use_wait = 1;
	}
	if (produce_count > 0) {
		dp.topic = topic;
		if (pthread_create(&thread, NULL, produce, &dp) != 0) {
			fprintf(stderr, "tail_follow: cannot start the producer thread\n");
			status = 1;
			goto out;
		}
		thread_started = 1;
	}

	long printed = 0;
	int64_t last_record_ms = now_ms();
	while (!stop && (max_records < 0 || printed < max_records)) {
		rill_record record;
		rc = rill_reader_next(reader, &record);
		if (rc == 0) {
			printf("%" PRIu64 "\t%.*s\n", record.offset, (int)record.value_len,
			       record.value ? (const char *)record.value : "");
			printed++;
			last_record_ms = now_ms();
			continue;
		}
		if (rc == RILL_ERANGE) { /* retention passed us: jump to the start */
			rc = rill_reader_seek(reader, RILL_START_EARLIEST);
			if (rc == 0)
				continue;
		}
		if (rc != RILL_EAGAIN) {
			status = report("reader next", rc);
			break;
		}
		/* At the end: show what we have, then sleep until notified or
		 * one slice has passed. */
		fflush(stdout);
		if (idle_ms >= 0 && now_ms() - last_record_ms >= idle_ms)
			break;
		if (use_wait) {
			rc = rill_reader_wait(reader, SLICE_MS);
			if (rc == RILL_ECLOSED)
				break;
			if (rc != 0 && rc != RILL_ETIMEDOUT) {
				status = report("reader wait", rc);
				break;
			}
		} else {
			struct pollfd pfd = {fd, POLLIN, 0};
			if (poll(&pfd, 1, SLICE_MS) < 0 && errno != EINTR) {
				perror("tail_follow: poll");
				status = 1;
				break;
			}
			/* No need to read the fd: rill clears it as records are read. */
		}
	}
	fflush(stdout);
out:
	if (thread_started) {
		stop = 1;
		pthread_join(thread, NULL);
		if (dp.rc != 0 && status == 0)
			status = dp.rc;
	}
	rill_reader_close(reader);
	rill_topic_close(topic);
	rc = rill_store_close(store);
	if (rc != 0 && status == 0)
		status = report("close", rc);
	return status;
}
