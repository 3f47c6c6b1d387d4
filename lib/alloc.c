/*
 * alloc.c — the one allocation hook of the library.
 *
 * Every heap allocation goes through rill__malloc and friends so that the
 * out-of-memory tests can fail allocation N, N+1, ... of any call and check
 * that each returns RILL_ENOMEM, leaks nothing and leaves the store
 * consistent (libuv's test-loop-oom, SQLite's malloc fault loops). The
 * counters are relaxed atomics: cheap enough to keep in release builds, and
 * they let the bench and tests assert zero allocations on hot paths.
 */
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>

static _Atomic uint64_t alloc_count;   /* successful allocations */
static _Atomic uint64_t alloc_failures;/* injected failures */
static _Atomic int64_t alloc_live;     /* outstanding blocks */
static _Atomic uint64_t fail_countdown;/* 0: off; 1: next allocation fails */
static _Atomic int fail_persistent;    /* keep failing after the first */

static bool should_fail(void)
{
	uint64_t n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
	if (n == 0)
		return false;
	if (n == 1) {
		if (!atomic_load_explicit(&fail_persistent, memory_order_relaxed))
			atomic_store_explicit(&fail_countdown, 0, memory_order_relaxed);
		atomic_fetch_add_explicit(&alloc_failures, 1, memory_order_relaxed);
		return true;
	}
	atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
	return false;
}

static void *counted(void *p)
{
	if (p != NULL) {
		atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&alloc_live, 1, memory_order_relaxed);
	}
	return p;
}

void *rill__malloc(size_t size)
{
	if (should_fail())
		return NULL;
	return counted(malloc(size == 0 ? 1 : size));
}

void *rill__calloc(size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	return counted(calloc(count == 0 ? 1 : count, size == 0 ? 1 : size));
}

void *rill__realloc(void *ptr, size_t size)
{
	if (ptr == NULL)
		return rill__malloc(size);
	if (should_fail())
		return NULL;
	void *p = realloc(ptr, size == 0 ? 1 : size);
	if (p != NULL)
		atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
	return p;
}

void rill__free(void *ptr)
{
	if (ptr == NULL)
		return;
	atomic_fetch_sub_explicit(&alloc_live, 1, memory_order_relaxed);
	free(ptr);
}

char *rill__strdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *copy = rill__malloc(len);
	if (copy != NULL)
		memcpy(copy, s, len);
	return copy;
}

void rill__alloc_fail_at(uint64_t countdown, int persistent)
{
	atomic_store(&fail_persistent, persistent != 0);
	atomic_store(&fail_countdown, countdown);
}

void rill__alloc_stats(rill_alloc_hook_state *out)
{
	out->allocations = atomic_load(&alloc_count);
	out->failures = atomic_load(&alloc_failures);
	out->live = atomic_load(&alloc_live);
}
