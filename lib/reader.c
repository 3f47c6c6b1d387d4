/*
 * reader.c — consumer cursors over one partition.
 *
 * A reader holds a reference to its current segment and, once it has read
 * from it, a pin on it, so the mapping its record pointers point into stays
 * valid until the next call; the pin moves on with the reader to another
 * segment. Uncompressed batches are decoded in place: key, value and header
 * bytes point into the mapped log, no copy. Compressed batches decompress
 * into the reader's decoder buffer.
 *
 * Visibility: a reader sees batches whose write completed (the segment's
 * size is published with release ordering after the write), so it never
 * sees half a batch. Every batch is checked against its checksum before a
 * record of it is returned; a mismatch is RILL_ECORRUPT naming partition,
 * segment and offset, never data.
 *
 * Positioning: the segment by binary search on base offsets, then the
 * offset index (largest entry <= target), then at most one index interval
 * of batches is skipped on their headers, which must continue the dense
 * offsets from the index entry; a break in that chain is checked against
 * the batch checksum and reported as corruption, so a damaged header
 * cannot make the reader step over records.
 *
 * A seek that lands past the first record of a batch takes the batch from
 * the store's batch cache (batch_cache.c), by its place: a checked copy
 * whose record starts are noted, so the read costs one record, not the
 * batch's checksum and the decode of every record before the target. Its
 * records point into the cache until the next call, as others point into
 * the mapping. A seek to a batch's first record takes the batch from the
 * cache only if it is there: filling it would cost a scan a copy of every
 * batch.
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* The largest batch whose successor a scan prefetches while decoding it:
 * two of them fit in a quarter of a 1 MiB L2 cache, half of a 512 KiB. */
#define PREFETCH_BATCH_MAX (128u << 10)

int rill__topic_get_partition(rill_topic *topic, int32_t partition, rill_partition **out);
void rill__reader_free_at_close(struct rill_reader *reader);

static void flush_read_stats(rill_reader *r)
{
	/* Stats are added per batch, not per record: one atomic per batch. */
	if (r->unflushed_reads > 0) {
		atomic_fetch_add_explicit(&r->partition->records_read, r->unflushed_reads, memory_order_relaxed);
		r->unflushed_reads = 0;
	}
}

/* The pin stays with the segment, not the batch: the next batch is most
 * often in the same segment, and a pin costs the file cache's lock. It
 * goes when the reader leaves the segment (rill__reader_state_release) or
 * has caught up with the log end (read_records). */
static void end_batch(rill_reader *r)
{
	flush_read_stats(r);
	r->in_batch = false;
	if (r->cached != NULL) {
		rill__batch_cache_release(r->partition->env->batch_cache, r->cached);
		r->cached = NULL;
	}
}

static int position_at(rill_reader *r, uint64_t offset)
{
	/* The pin stays: locate keeps it if the target is in the same
	 * segment (a point read then takes one lock, the partition's). */
	end_batch(r);
	rill_partition *p = r->partition;
	if (p->env->readonly)
		rill__partition_refresh(p);
	/* locate resolves RILL_START_EARLIEST / LATEST under the partition
	 * lock, so retention cannot move the start in between. */
	int rc = rill__partition_locate(p, offset, &r->st, &offset);
	if (rc != 0)
		return rc;
	r->position = offset;
	r->sought = true;
	return 0;
}

int rill_reader_open(rill_reader **out, rill_topic *topic, int32_t partition, uint64_t offset)
{
	rill__error_clear();
	if (out == NULL)
		return rill__error(RILL_EINVAL, "output reader pointer is NULL");
	*out = NULL;
	if (topic == NULL || topic->state == NULL)
		return rill__error(RILL_EINVAL, "topic handle is NULL");
	rill_partition *p = NULL;
	int rc = rill__topic_get_partition(topic, partition, &p);
	if (rc != 0)
		return rc;
	rill_store *store = topic->state->store;
	rill_reader *r = rill__calloc(1, sizeof(*r));
	if (r == NULL)
		return rill__error(RILL_ENOMEM, "cannot allocate a reader");
	r->event_fd = -1;
	r->partition = p;
	rc = rill__batch_decoder_new(&r->decoder);
	if (rc != 0) {
		rill__free(r);
		return rc;
	}
	pthread_mutex_lock(&store->lock);
	rc = rill__store_new_handle(&r->topic, store, topic->state);
	if (rc == 0) {
		r->next_reader = store->readers;
		if (store->readers != NULL)
			store->readers->prev_reader = r;
		store->readers = r;
	}
	pthread_mutex_unlock(&store->lock);
	if (rc != 0) {
		rill__batch_decoder_free(r->decoder);
		rill__free(r);
		return rc;
	}
	rc = position_at(r, offset);
	if (rc != 0) {
		rill_reader_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

int rill_reader_seek(rill_reader *r, uint64_t offset)
{
	rill__error_clear();
	if (r == NULL)
		return rill__error(RILL_EINVAL, "reader is NULL");
	return position_at(r, offset);
}

int rill_reader_seek_timestamp(rill_reader *r, int64_t ts)
{
	rill__error_clear();
	if (r == NULL)
		return rill__error(RILL_EINVAL, "reader is NULL");
	if (r->partition->env->readonly)
		rill__partition_refresh(r->partition);
	uint64_t offset = 0;
	int rc = rill__partition_offset_for_timestamp(r->partition, ts, &offset);
	if (rc != 0)
		return rc;
	return position_at(r, offset);
}

uint64_t rill_reader_position(const rill_reader *r)
{
	return r == NULL ? 0 : r->position;
}

static int corrupt(rill_reader *r, const char *why)
{
	return rill__error(RILL_ECORRUPT, "partition %s segment %020" PRIu64 " position %" PRIu64 " offset %" PRIu64 ": %s",
	                   r->partition->dir, r->st.seg->base_offset, r->st.pos, r->position, why);
}

/* The whole batch at the reader's position, checked against its
 * checksum; a mismatch is RILL_ECORRUPT naming where. */
static int verified_batch(rill_reader *r, rill_segment *seg, uint64_t total, const uint8_t **out)
{
	int rc = rill__segment_bytes(r->partition->env, seg, r->st.pos, (size_t)total, &r->scratch,
	                             &r->scratch_cap, out);
	if (rc != 0)
		return rc;
	if (rill__batch_verify(*out, (size_t)total, r->partition->partition_key) != 0)
		return corrupt(r, rill_errmsg());
	return 0;
}

/* Start decoding the cached batch `e` at the reader's position, which is
 * inside it; the reader holds e's reference from here. */
static void enter_cached(rill_reader *r, rill_cached_batch *e)
{
	uint64_t index = r->position - e->header.base_offset;
	RILL_ASSERT(r->position >= e->header.base_offset && index < e->header.record_count);
	rill__cached_batch_prefetch_record(e, (uint32_t)index);
	rill__batch_decoder_start_at(r->decoder, &e->header, e->section, (uint32_t)index,
	                             e->record_starts[index]);
	r->cached = e;
	r->batch_size = e->stored_size;
	r->batch_next_base = e->header.base_offset + e->header.last_offset_delta + 1;
	r->batch_decoded_to = r->position;
	r->in_batch = true;
	r->sought = false;
}

/*
 * A seek to the first record of a batch of several: a copy of the batch
 * in the cache, if one is there, spares checking the whole batch for one
 * record (a point read's worst case: 30 us for a 1 MiB batch). Not filled
 * on a miss: a scan from here checks each batch once anyway. `h` was just
 * read at the reader's place; the checksum tells a read-only store's
 * rewritten tail from the batch that was cached.
 */
static bool start_cached_first(rill_reader *r, rill_segment *seg, const rill_batch_header *h)
{
	rill_batch_cache *cache = r->partition->env->batch_cache;
	uint64_t segment_id = atomic_load_explicit(&seg->cache_id, memory_order_relaxed);
	rill_cached_batch *e = rill__batch_cache_get(cache, segment_id, r->st.pos);
	if (e == NULL)
		return false;
	if (e->checksum != h->checksum || e->header.base_offset != h->base_offset) {
		rill__batch_cache_release(cache, e);
		return false;
	}
	enter_cached(r, e);
	return true;
}

/*
 * The batch at the reader's place, when the batch cache has it: its
 * header is not even read from the log. The reader's position is past the
 * first offset the chain of offsets expects there (a seek into a batch).
 * 0: started in it; 1: it lies wholly before the position and was stepped
 * over; RILL_EAGAIN: not cached, or not the batch the chain expects (a
 * damaged index entry): the header path reads the log and sorts it out.
 */
static int start_cached_at_place(rill_reader *r, rill_segment *seg, uint64_t end)
{
	rill_batch_cache *cache = r->partition->env->batch_cache;
	uint64_t segment_id = atomic_load_explicit(&seg->cache_id, memory_order_relaxed);
	rill_cached_batch *e = rill__batch_cache_get(cache, segment_id, r->st.pos);
	if (e == NULL)
		return RILL_EAGAIN;
	const rill_batch_header *h = &e->header;
	if (h->base_offset != r->st.expect_base || e->stored_size > end - r->st.pos) {
		rill__batch_cache_release(cache, e);
		return RILL_EAGAIN;
	}
	/* It continues the offsets: the index entry that led here, if one
	 * did, was right. */
	r->st.from_index = false;
	uint64_t last = h->base_offset + h->last_offset_delta;
	if (last < r->position) {
		r->st.pos += e->stored_size;
		r->st.expect_base = last + 1;
		rill__batch_cache_release(cache, e);
		return 1;
	}
	enter_cached(r, e);
	return 0;
}

/*
 * The batch whose header `h` was just read at the reader's place, the
 * position a record after its first, from the batch cache: found there,
 * or checked and copied there now. A writer's reader gets here only after
 * start_cached_at_place missed, so only a read-only store's looks it up.
 * RILL_EAGAIN: not cached (the batch is too large, or held entries leave
 * no room): read it in place.
 */
static int start_cached(rill_reader *r, rill_segment *seg, const rill_batch_header *h, uint64_t total)
{
	rill_partition *p = r->partition;
	rill_cached_batch *e = NULL;
	bool filled = false;
	int rc = rill__partition_cached_batch(p, seg, r->st.pos, h, total, p->env->readonly, r->decoder,
	                                      &r->scratch, &r->scratch_cap, &e, &filled);
	if (rc == RILL_ECORRUPT)
		return corrupt(r, rill_errmsg());
	if (rc != 0)
		return rc;
	if (filled)
		atomic_fetch_add_explicit(&p->bytes_read, total, memory_order_relaxed);
	enter_cached(r, e);
	return 0;
}

/*
 * Records of the current batch from the reader's position on, or the next
 * batch started. Records before the position (a seek into the middle of a
 * batch) are decoded, so the batch is checked as a whole, and dropped.
 */
static int read_records(rill_reader *r, rill_record *out, size_t max, size_t *out_count)
{
	rill_partition *p = r->partition;
	rill_env *env = p->env;
	int rc;
	bool refreshed = false;
	for (;;) {
		if (r->in_batch) {
			/* Records before the seek target are read in chunks into
			 * the reader's own array, never past the target: one call
			 * per chunk instead of one per record. */
			rill_record *dst = out;
			size_t cap = max;
			if (r->batch_decoded_to < r->position) {
				dst = r->skipped;
				cap = sizeof(r->skipped) / sizeof(r->skipped[0]);
				if (r->position - r->batch_decoded_to < cap)
					cap = (size_t)(r->position - r->batch_decoded_to);
			}
			size_t n;
			rc = rill__batch_decoder_read(r->decoder, dst, cap, &n);
			if (rc == 0) {
				RILL_ASSERT(n > 0 && n <= cap);
				r->batch_decoded_to = dst[n - 1].offset + 1;
				if (dst != out)
					continue; /* before the seek target, inside its batch */
				/* offsets are dense and the skip stops at the target */
				RILL_ASSERT(out[0].offset == r->position);
				r->position = out[n - 1].offset + 1;
				r->unflushed_reads += n;
				*out_count = n;
				return 0;
			}
			if (rc == RILL_ENOMEM)
				return rc; /* not corruption: the same record is retried */
			if (rc != RILL_EAGAIN)
				return corrupt(r, rill_errmsg());
			r->st.pos += r->batch_size;
			r->st.expect_base = r->batch_next_base;
			end_batch(r);
		}
		if (r->st.seg == NULL || atomic_load(&r->st.seg->deleted)) {
			rc = position_at(r, r->position);
			if (rc != 0)
				return rc;
		}
		rill_segment *seg = r->st.seg;
		uint64_t end = atomic_load_explicit(&seg->size, memory_order_acquire);
		if (r->st.pos >= end && r->st.from_index) {
			/* An index entry past the data: a damaged index, not the end. */
			rill__reader_state_index_miss(p, &r->st);
			continue;
		}
		if (r->st.pos >= end) {
			rc = rill__partition_next_segment(p, &r->st);
			if (rc == RILL_PARTITION_SEGMENT_GONE)
				continue; /* deleted: the check at the top positions again */
			if (rc == 0) {
				/* A sealed segment that ends before the next one begins
				 * (a truncated file): its missing offsets would otherwise
				 * leave the reader short of the log end for good. */
				if (r->st.seg->base_offset > r->position)
					return corrupt(r, "offset gap: the segment starts after the expected offset");
				continue;
			}
			if (env->readonly && !refreshed) {
				/* The writer may have added data since. */
				refreshed = true;
				rc = rill__partition_refresh(p);
				if (rc != 0)
					return rc;
				continue;
			}
			/* Caught up: an idle reader holds no pin, so idle readers
			 * on many partitions do not keep descriptors open past the
			 * file cache's capacity. */
			rill__reader_state_unpin(p, &r->st);
			return RILL_EAGAIN;
		}
		if (r->position > r->st.expect_base && !env->readonly &&
		    rill__batch_cache_enabled(env->batch_cache)) {
			/* A seek into a batch: from the cache, if there, without
			 * touching the log (nor pinning it). */
			rc = start_cached_at_place(r, seg, end);
			if (rc == 0 || rc == 1)
				continue;
		}
		if (!r->st.pinned) {
			rc = rill__segment_pin(env, seg, true);
			if (rc != 0 && atomic_load(&seg->deleted)) {
				/* Retention deleted the segment after the check above
				 * (it marks it deleted before removing the file) and its
				 * descriptor had been evicted: reopening the file fails
				 * (RILL_ENOTFOUND). Not an error of the reader's: the
				 * check at the top locates its offset again, which is
				 * RILL_ERANGE if it is gone. */
				rill__error_clear();
				continue;
			}
			if (rc != 0)
				return rc;
			r->st.pinned = true;
		}
		const uint8_t *bytes = NULL;
		rill_batch_header h;
		if (end - r->st.pos < RILL_BATCH_HEADER_SIZE) {
			if (r->st.from_index) {
				rill__reader_state_index_miss(p, &r->st);
				continue;
			}
			return corrupt(r, "partial batch header below the log end");
		}
		rc = rill__segment_bytes(env, seg, r->st.pos, RILL_BATCH_HEADER_SIZE, &r->scratch, &r->scratch_cap, &bytes);
		if (rc != 0)
			return rc;
		rc = rill__batch_parse_header(bytes, RILL_BATCH_HEADER_SIZE, end - r->st.pos, &h);
		if (rc != 0 && r->st.from_index) {
			rill__error_clear();
			rill__reader_state_index_miss(p, &r->st);
			continue;
		}
		if (rc != 0)
			return corrupt(r, rill_errmsg());
		if (r->st.from_index) {
			/* Past the batch header an index entry is no hint but a
			 * position like any other: a mismatch below is the log's. */
			bool hint_ok = h.base_offset == r->st.expect_base && h.base_offset <= r->position;
			if (!hint_ok) {
				rill__reader_state_index_miss(p, &r->st);
				continue;
			}
			r->st.from_index = false;
		}
		uint64_t total = rill__batch_total_size(&h);
		if (h.base_offset != r->st.expect_base) {
			/* The chain of base offsets from the index entry is broken:
			 * a damaged header (its checksum says so) or a gap. */
			rc = verified_batch(r, seg, total, &bytes);
			if (rc != 0)
				return rc;
			return corrupt(r, "offset gap: the batch does not continue the offsets");
		}
		if (h.base_offset + h.last_offset_delta < r->position) {
			/* Entirely before the target: skipped on its header, which
			 * continued the dense offsets from the index entry (checked
			 * above), so a damaged base offset or length cannot make the
			 * reader step over records unnoticed. */
			r->st.pos += total;
			r->st.expect_base = h.base_offset + h.last_offset_delta + 1;
			continue;
		}
		/* A sealed segment ends where the next begins: a batch reaching
		 * past that overlaps the next segment (and the log end). */
		RILL_ASSERT(h.base_offset <= r->position); /* expect_base <= position */
		if (atomic_load(&seg->sealed) && h.base_offset + h.last_offset_delta >= seg->next_offset)
			return corrupt(r, "batch reaches past the segment's last offset");
		if (r->position > h.base_offset && rill__batch_cache_enabled(env->batch_cache)) {
			/* Into the middle of a batch (a seek): checking it whole
			 * and decoding the records before the target costs far
			 * more than the record; the cache pays it once per batch. */
			rc = start_cached(r, seg, &h, total);
			if (rc == 0)
				continue;
			if (rc != RILL_EAGAIN)
				return rc;
		}
		if (r->sought && r->position == h.base_offset && h.record_count > 1 &&
		    rill__batch_cache_enabled(env->batch_cache) && start_cached_first(r, seg, &h))
			continue;
		const uint8_t *header_bytes = bytes;
		rc = verified_batch(r, seg, total, &bytes);
		if (rc != 0)
			return rc;
		/* Mapped, the header parsed above is these very bytes, now
		 * covered by the checksum: no second parse. Read into scratch
		 * (even the same buffer), the batch is a second read: parse it
		 * again. */
		bool mapped = bytes == header_bytes && bytes != r->scratch;
		if (mapped)
			rc = rill__batch_decoder_start_parsed(r->decoder, bytes, (size_t)total, &h);
		else
			rc = rill__batch_decoder_start(r->decoder, bytes, (size_t)total);
		if (rc == RILL_ENOMEM)
			return rc; /* not corruption: the next call starts the batch again */
		if (rc != 0)
			return corrupt(r, rill_errmsg());
		/* A scan (no seek just before: a point read would fetch lines
		 * it never reads) decoding in place from the mapping (not from
		 * a buffer it decompressed into): the next batch starts right
		 * after this one, and a record's distance is set so that the
		 * first record's reaches the next batch's header, which is read
		 * first. Only a batch that fits the CPU's L2 cache beside the
		 * next one: a larger one's look-ahead was evicted before it was
		 * read, with lines of the batch being decoded (1 KiB records in
		 * batches of 1000, about 1 MiB: 7% slower). */
		if (mapped && !r->sought && total <= PREFETCH_BATCH_MAX &&
		    (h.attributes & RILL_BATCH_ATTR_COMPRESSION_MASK) == 0)
			rill__batch_decoder_set_prefetch(r->decoder, (size_t)total - RILL_BATCH_HEADER_SIZE);
		atomic_fetch_add_explicit(&p->bytes_read, total, memory_order_relaxed);
		r->batch_size = total;
		r->batch_next_base = h.base_offset + h.last_offset_delta + 1;
		r->batch_decoded_to = h.base_offset;
		r->in_batch = true;
		r->sought = false;
	}
}

int rill_reader_next(rill_reader *r, rill_record *out)
{
	rill__error_clear();
	if (r == NULL || out == NULL)
		return rill__error(RILL_EINVAL, "reader or record is NULL");
	size_t n;
	return read_records(r, out, 1, &n);
}

int rill_reader_read(rill_reader *r, rill_record *out, size_t max, size_t *out_count)
{
	rill__error_clear();
	if (out_count != NULL)
		*out_count = 0;
	if (r == NULL || out == NULL || out_count == NULL)
		return rill__error(RILL_EINVAL, "reader, records or count is NULL");
	if (max == 0)
		return rill__error(RILL_EINVAL, "max is 0: room for no record");
	return read_records(r, out, max, out_count);
}

static bool has_data(rill_reader *r)
{
	rill_partition *p = r->partition;
	if (p->env->readonly)
		rill__partition_refresh(p);
	return atomic_load_explicit(&p->next_offset, memory_order_acquire) > r->position;
}

int rill_reader_wait(rill_reader *r, int64_t timeout_ms)
{
	rill__error_clear();
	if (r == NULL)
		return rill__error(RILL_EINVAL, "reader is NULL");
	rill_partition *p = r->partition;
	if (has_data(r))
		return 0;
	if (p->env->readonly) {
		/* No writer in this process to signal us: poll the files. */
		int64_t waited = 0;
		while (timeout_ms < 0 || waited < timeout_ms) {
			struct timespec ts = {0, 10 * 1000000};
			nanosleep(&ts, NULL);
			waited += 10;
			if (has_data(r))
				return 0;
		}
		return rill__error(RILL_ETIMEDOUT, "no new records in %lld ms", (long long)timeout_ms);
	}
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	if (timeout_ms >= 0) {
		int64_t ns = deadline.tv_nsec + (timeout_ms % 1000) * 1000000;
		deadline.tv_sec += (time_t)(timeout_ms / 1000 + ns / 1000000000);
		deadline.tv_nsec = (long)(ns % 1000000000);
	}
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	p->waiters++;
	while (atomic_load(&p->next_offset) <= r->position) {
		if (p->closing) {
			rc = rill__error(RILL_ECLOSED, "store is closing");
			break;
		}
		if (timeout_ms < 0) {
			pthread_cond_wait(&p->data_cond, &p->lock);
		} else if (pthread_cond_timedwait(&p->data_cond, &p->lock, &deadline) == ETIMEDOUT) {
			if (atomic_load(&p->next_offset) <= r->position)
				rc = rill__error(RILL_ETIMEDOUT, "no new records in %lld ms", (long long)timeout_ms);
			break;
		}
	}
	p->waiters--;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int rill_reader_fd(rill_reader *r)
{
	rill__error_clear();
	if (r == NULL)
		return rill__error(RILL_EINVAL, "reader is NULL");
	if (r->event_fd >= 0)
		return r->event_fd;
	if (r->partition->env->readonly)
		return rill__error(RILL_EINVAL, "read-only stores have no writer to signal a descriptor; use rill_reader_wait");
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return rill__error(RILL_EIO, "eventfd: %s", strerror(errno));
	int rc = rill__partition_add_event_fd(r->partition, fd);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	r->event_fd = fd;
	/* Data may already be there: make the descriptor readable now. */
	if (has_data(r)) {
		uint64_t one = 1;
		ssize_t n = write(fd, &one, sizeof(one));
		(void)n;
	}
	return fd;
}

static void reader_free(rill_reader *r, bool unlink_store)
{
	rill_store *store = r->topic->state->store;
	end_batch(r);
	rill__reader_state_release(r->partition, &r->st);
	if (r->event_fd >= 0) {
		rill__partition_remove_event_fd(r->partition, r->event_fd);
		close(r->event_fd);
	}
	rill__batch_decoder_free(r->decoder);
	rill__free(r->scratch);
	if (unlink_store)
		pthread_mutex_lock(&store->lock);
	if (r->prev_reader != NULL)
		r->prev_reader->next_reader = r->next_reader;
	else
		store->readers = r->next_reader;
	if (r->next_reader != NULL)
		r->next_reader->prev_reader = r->prev_reader;
	rill__store_free_handle(store, r->topic);
	if (unlink_store)
		pthread_mutex_unlock(&store->lock);
	rill__free(r);
}

void rill_reader_close(rill_reader *r)
{
	if (r == NULL)
		return;
	reader_free(r, true);
}

void rill__reader_free_at_close(rill_reader *r)
{
	reader_free(r, false);
}
