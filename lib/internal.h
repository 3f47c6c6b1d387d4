/*
 * internal.h — what every lib/ file shares: allocation hook, error
 * reporting, assertions, limits and little-endian helpers.
 *
 * Dependency direction (acyclic, lower never includes higher):
 *   internal (error.c, alloc.c, version.c), io_posix
 *     <- batch (codec, checksum, zstd; no I/O)
 *     <- offset_index, time_index
 *     <- segment
 *     <- partition (+ retention, reader)
 *     <- topic, partitioner, config
 *     <- store
 *
 * Errors: fallible functions return 0 or a negative RILL_E* code and set
 * the per-thread detail message with rill__error(code, fmt, ...) at the
 * point where the failure is first understood. Callers that merely pass an
 * error up do not overwrite the message.
 */
#ifndef RILL_INTERNAL_H
#define RILL_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rill.h"

/* ---------------------------------------------------------------- limits */

#define RILL_PATH_MAX 4096             /* longest path rill builds */
#define RILL_RECORDS_PER_BATCH_MAX 0x7fffffffu
#define RILL_MESSAGE_BYTES_MAX (1u << 30) /* hard cap on max.message.bytes */
#define RILL_HEADERS_PER_RECORD_MAX 65536 /* sanity bound when decoding */
#define RILL_SEGMENTS_PER_PARTITION_MAX (1u << 24)

/* ------------------------------------------------------------- assertions */

/* RILL_ASSERT checks an internal invariant. Debug and test builds abort;
 * release builds (NDEBUG) evaluate nothing, and code that can degrade
 * safely uses RILL_NEVER(x) which returns the condition so the caller can
 * fail the partition instead of killing the host. */
#ifdef NDEBUG
#define RILL_ASSERT(x) ((void)0)
#define RILL_NEVER(x) (x)
#else
#define RILL_ASSERT(x) \
	((x) ? (void)0 : rill__assert_fail(#x, __FILE__, __LINE__))
#define RILL_NEVER(x) ((x) ? (rill__assert_fail(#x, __FILE__, __LINE__), 1) : 0)
#endif
#define RILL_STATIC_ASSERT(x, msg) _Static_assert(x, msg)

/* Branch hints for the per-record paths only. */
#define RILL_LIKELY(x) __builtin_expect(!!(x), 1)
#define RILL_UNLIKELY(x) __builtin_expect(!!(x), 0)

void rill__assert_fail(const char *expr, const char *file, int line);

/* ----------------------------------------------------------------- errors */

/* Set the thread's detail message and return code (for `return rill__error(...)`). */
int rill__error(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Map a negative errno from the I/O table to a RILL_E code, with message
 * "<what> <path>: <strerror>". */
int rill__io_error(int neg_errno, const char *what, const char *path);
/* Clear the thread's detail message (at the start of public calls). */
void rill__error_clear(void);

/* ------------------------------------------------------------- allocation */

/* The default I/O table's write-back without a device flush
 * (rill_options.io_writeback): sync_file_range on Linux, else -EOPNOTSUPP. */
int rill__posix_writeback(void *ctx, int fd, int wait);

/* Every heap allocation of the library goes through these, so tests can
 * make the Nth one fail. They set no error message: callers return
 * rill__error(RILL_ENOMEM, ...) naming what they were allocating. */
void *rill__malloc(size_t size);
void *rill__calloc(size_t count, size_t size);
void *rill__realloc(void *ptr, size_t size);
void rill__free(void *ptr);
char *rill__strdup(const char *s);

/* Test hook: the allocation numbered `countdown` from now (1 = the next)
 * fails, and, if `persistent`, every one after it. 0 disables. Returns the
 * number of allocations made since the last call (for OOM loops). Exported
 * from the static library only; not part of the API. */
typedef struct rill_alloc_hook_state {
	uint64_t allocations;  /* successful allocations since reset */
	uint64_t failures;     /* injected failures since reset */
	int64_t live;          /* allocations not yet freed (leak check) */
} rill_alloc_hook_state;
void rill__alloc_fail_at(uint64_t countdown, int persistent);
void rill__alloc_stats(rill_alloc_hook_state *out);

/* --------------------------------------------------------- little endian */

static inline void rill__put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void rill__put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void rill__put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t rill__get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t rill__get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}
static inline uint64_t rill__get_u64(const uint8_t *p)
{
	return (uint64_t)rill__get_u32(p) | ((uint64_t)rill__get_u32(p + 4) << 32);
}

/* ------------------------------------------------------------------ misc */

/* Kafka's topic-name rule: 1-249 of [A-Za-z0-9._-], not "." or "..". */
bool rill__valid_topic_name(const char *name);

/* The log callback, if any. */
typedef struct rill_logger {
	void (*fn)(void *ctx, int level, const char *message);
	void *ctx;
} rill_logger;
void rill__log(const rill_logger *logger, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* RILL_INTERNAL_H */
