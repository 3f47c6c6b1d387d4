# bench/bench.mk — the benchmark harness; included by the top-level Makefile.
#
#   make bench          install missing peers (root + apt-get), build, run the
#                       quick profile (about 5 minutes on 2 cores)
#   make bench-full     every scenario at full size (long; see bench/README.md)
#   make bench-smoke    every program with tiny counts; checks the CSV output
#                       (part of `make test`; judges no time)
#   make bench-build    just the programs, into $(BUILD)/bench/
#
#   BENCH_OUT=dir       results directory (default bench/results/<timestamp>)
#   BENCH_DATA=dir      data directory: put it on the disk you want measured
#                       (default $(BUILD)/bench-data)
#
# Programs are bench/bench_*.c, one per scenario family; each links the
# shared harness (harness.c, runner.c, engine_*.c), librill.a and the peers
# that are installed. A missing peer is skipped with a message.

BENCH_DIR := $(BUILD)/bench
BENCH_PROGS := $(patsubst bench/%.c,%,$(wildcard bench/bench_*.c))
BENCH_BIN := $(BENCH_PROGS:%=$(BENCH_DIR)/%)
BENCH_COMMON_SRC := bench/harness.c bench/runner.c $(wildcard bench/engine_*.c)
BENCH_COMMON_OBJ := $(BENCH_COMMON_SRC:bench/%.c=$(BENCH_DIR)/%.o)
BENCH_DATA ?= $(BUILD)/bench-data
BENCH_OUT ?=

# Peer detection: compile and link an empty program against each library.
# Evaluated once, and only when a bench target needs it.
bench_try = $(shell echo 'int main(void){return 0;}' | $(CC) -x c -include $(1) - -o /dev/null $(2) >/dev/null 2>&1 && echo yes)
bench_detect = $(eval BENCH_HAVE_SQLITE := $(call bench_try,sqlite3.h,-lsqlite3)) \
	$(eval BENCH_HAVE_ROCKSDB := $(call bench_try,rocksdb/c.h,-lrocksdb)) \
	$(eval BENCH_HAVE_LMDB := $(call bench_try,lmdb.h,-llmdb)) \
	$(eval BENCH_ROCKSDB_VERSION := $(shell sed -n 's/^\#define ROCKSDB_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' \
		/usr/include/rocksdb/version.h 2>/dev/null | paste -sd. -)) \
	$(eval BENCH_PEER_CFLAGS := $(if $(BENCH_HAVE_SQLITE),-DBENCH_HAVE_SQLITE) \
		$(if $(BENCH_HAVE_ROCKSDB),-DBENCH_HAVE_ROCKSDB -DBENCH_ROCKSDB_VERSION='"$(BENCH_ROCKSDB_VERSION)"') \
		$(if $(BENCH_HAVE_LMDB),-DBENCH_HAVE_LMDB)) \
	$(eval BENCH_PEER_LIBS := $(if $(BENCH_HAVE_SQLITE),-lsqlite3) \
		$(if $(BENCH_HAVE_ROCKSDB),-lrocksdb) $(if $(BENCH_HAVE_LMDB),-llmdb))
BENCH_PEER_CFLAGS = $(bench_detect)$(BENCH_PEER_CFLAGS)
BENCH_PEER_LIBS = $(bench_detect)$(BENCH_PEER_LIBS)

.PHONY: bench-build bench-deps bench-run bench-smoke bench-clean

# The peer set is part of the objects' flags: rebuild when it changes.
$(BENCH_DIR)/peers.flags: FORCE_BENCH_FLAGS
	@mkdir -p $(dir $@)
	@echo '$(BENCH_PEER_CFLAGS) $(BENCH_PEER_LIBS)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
.PHONY: FORCE_BENCH_FLAGS

$(BENCH_COMMON_OBJ) $(BENCH_BIN:=.o): $(BENCH_DIR)/%.o: bench/%.c $(BENCH_DIR)/peers.flags
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(BENCH_PEER_CFLAGS) -Ibench -c $< -o $@

$(BENCH_BIN): $(BENCH_DIR)/%: $(BENCH_DIR)/%.o $(BENCH_COMMON_OBJ) $(STATIC_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(BENCH_COMMON_OBJ) $(STATIC_LIB) $(BENCH_PEER_LIBS) $(LIBS) -lm

bench-build: $(BENCH_BIN)
	@$(if $(findstring SQLITE,$(BENCH_PEER_CFLAGS)),,echo "  BENCH   SQLite peer skipped: libsqlite3-dev not installed")
	@$(if $(findstring ROCKSDB,$(BENCH_PEER_CFLAGS)),,echo "  BENCH   RocksDB peer skipped: librocksdb-dev not installed")
	@$(if $(findstring LMDB,$(BENCH_PEER_CFLAGS)),,echo "  BENCH   LMDB peer skipped: liblmdb-dev not installed")

# Install missing peers when we can (root with apt-get); otherwise say so.
bench-deps:
	@missing=""; \
	[ -f /usr/include/sqlite3.h ] || missing="$$missing libsqlite3-dev"; \
	[ -f /usr/include/rocksdb/c.h ] || missing="$$missing librocksdb-dev"; \
	[ -f /usr/include/lmdb.h ] || missing="$$missing liblmdb-dev"; \
	command -v gnuplot >/dev/null || missing="$$missing gnuplot-nox"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "  BENCH   installing$$missing"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null 2>&1 || \
			{ apt-get update -q >/dev/null 2>&1 && \
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null 2>&1; } || \
			echo "  BENCH   could not install$$missing: those peers are skipped"; \
		else \
			echo "  BENCH   not installed:$$missing (not root or no apt-get): skipped"; \
		fi; \
	fi

bench-run: bench-build
	$(Q)BUILD=$(BUILD) BENCH_DATA=$(BENCH_DATA) BENCH_OUT=$(BENCH_OUT) sh bench/run.sh $(BENCH_PROFILE)

bench: bench-deps
	@$(MAKE) --no-print-directory bench-run BENCH_PROFILE=quick

bench-full: bench-deps
	@$(MAKE) --no-print-directory bench-run BENCH_PROFILE=full

bench-smoke: $(BENCH_BIN)
	$(Q)BUILD=$(BUILD) BENCH_DATA=$(BUILD)/bench-smoke-data BENCH_OUT=$(BUILD)/bench-smoke \
		sh bench/run.sh smoke

bench-clean:
	rm -rf $(BENCH_DIR) $(BUILD)/bench-data $(BUILD)/bench-smoke $(BUILD)/bench-smoke-data

TEST_EXTRA += bench-smoke

-include $(BENCH_COMMON_OBJ:.o=.d) $(BENCH_BIN:%=%.d)
