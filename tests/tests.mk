# tests/tests.mk — fuzzing and soak targets (included by the Makefile).
#
# Fuzz targets are tests/fuzz/fuzz_<name>.c, each defining
# LLVMFuzzerTestOneInput; its seed corpus is tests/fuzz/corpus/<name>/ and
# every crash input ever found is kept in tests/fuzz/crashes/<name>/.
#
#   make fuzz          build with clang -fsanitize=fuzzer and fuzz each target
#                      for FUZZ_SECONDS (default 60)
#   make fuzz-ci       the same for FUZZ_CI_SECONDS (default 20) each, in CI
#   make fuzz-replay   (part of make test) replay corpus and crash inputs through
#                      each target built with the normal compiler
#   make soak          a million random crash-and-reopen trials

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 20
FUZZ_CC ?= clang
FUZZ_FLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Iinclude -Ilib -Itests -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all
FUZZ_LIB_SRC := $(LIB_SRC) tests/sim_io.c

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_LIB_SRC) $(LIBS)

$(BUILD)/fuzz-replay/fuzz_%: tests/fuzz/fuzz_%.c $(STATIC_LIB) $(BUILD)/tests/sim_io.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (replay)")
	$(Q)$(CC) $(CFLAGS) -Ilib -Itests -DRILL_FUZZ_REPLAY -o $@ $< $(BUILD)/tests/sim_io.o $(STATIC_LIB) $(LIBS)

.PHONY: fuzz fuzz-ci fuzz-replay soak
fuzz: $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
	$(Q)for n in $(FUZZ_NAMES); do \
		mkdir -p tests/fuzz/corpus/$$n tests/fuzz/crashes/$$n build/fuzz-work/$$n; \
		echo "  FUZZ    $$n for $(FUZZ_SECONDS) s"; \
		$(BUILD)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=tests/fuzz/crashes/$$n/ build/fuzz-work/$$n tests/fuzz/corpus/$$n \
			> build/fuzz-work/$$n.log 2>&1; rc=$$?; \
		grep -E "stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY" build/fuzz-work/$$n.log; \
		echo "          corpus: $$(ls build/fuzz-work/$$n tests/fuzz/corpus/$$n | wc -l) inputs"; \
		if [ $$rc != 0 ]; then tail -40 build/fuzz-work/$$n.log; exit 1; fi; \
	done

fuzz-ci:
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS)

fuzz-replay: $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay/fuzz_%)
	$(Q)for n in $(FUZZ_NAMES); do \
		dirs=$$(ls -d tests/fuzz/corpus/$$n tests/fuzz/crashes/$$n 2>/dev/null); \
		$(BUILD)/fuzz-replay/fuzz_$$n $$dirs || exit 1; \
	done

soak: $(TEST_BIN)
	RILL_SOAK=1 CK_RUN_SUITE=crash CK_DEFAULT_TIMEOUT=0 $(TEST_BIN)

ifneq ($(FUZZ_NAMES),)
TEST_EXTRA += fuzz-replay
endif
