# examples/examples.mk — included by the top-level Makefile.
#
#   make cli-test        tests/cli_test.sh against the built `rill` tool
#   make examples-test   run quickstart and tail_follow on a temporary store,
#                        plus bad-input invocations that must fail
#
# Both are added to TEST_EXTRA, so `make test` runs them after the unit
# suites. Every examples/*.c is built by the top Makefile's pattern rule as
# $(BUILD)/examples/<name>, against include/ and $(BUILD)/librill.a only.

CLI_BIN := $(BUILD)/examples/rill

.PHONY: cli-test examples-test

cli-test: $(CLI_BIN)
	@echo "  TEST    tests/cli_test.sh $(CLI_BIN)"
	$(Q)bash tests/cli_test.sh $(CLI_BIN)

# quickstart twice (the second run appends to the existing topic),
# tail_follow in both wait styles with an in-process producer, a read-only
# tail_follow that stops when idle, then bad input: quickstart without an
# argument (usage, 2) and on a regular file instead of a directory (1).
examples-test: $(BUILD)/examples/quickstart $(BUILD)/examples/tail_follow
	@echo "  TEST    examples (quickstart, tail_follow)"
	$(Q)set -e; d=$$(mktemp -d "$${TMPDIR:-/tmp}/rill-examples.XXXXXX"); \
	trap 'rm -rf "$$d"' EXIT; \
	$(BUILD)/examples/quickstart "$$d/store" > "$$d/q1"; \
	grep -q 'appended a batch of 3' "$$d/q1"; \
	$(BUILD)/examples/quickstart "$$d/store" > "$$d/q2"; \
	test "$$(grep -c 'key=alice value=logged in' "$$d/q2")" -eq 2; \
	timeout 60 $(BUILD)/examples/tail_follow -P 40 -n 40 -t 20000 "$$d/store" ticks > "$$d/t1"; \
	test "$$(wc -l < "$$d/t1")" -eq 40; \
	grep -q '^39	tick 39$$' "$$d/t1"; \
	timeout 60 $(BUILD)/examples/tail_follow -w -P 20 -n 20 -t 20000 "$$d/store" ticks > "$$d/t2"; \
	test "$$(wc -l < "$$d/t2")" -eq 20; \
	timeout 60 $(BUILD)/examples/tail_follow -b -t 300 "$$d/store" ticks > "$$d/t3"; \
	test "$$(wc -l < "$$d/t3")" -eq 60; \
	rc=0; $(BUILD)/examples/quickstart 2> "$$d/e1" || rc=$$?; test $$rc -eq 2; \
	: > "$$d/plain-file"; \
	rc=0; $(BUILD)/examples/quickstart "$$d/plain-file" 2> "$$d/e2" || rc=$$?; \
	test $$rc -eq 1; grep -q 'plain-file' "$$d/e2"; \
	rc=0; $(BUILD)/examples/tail_follow -t 100 "$$d/no-such-store" ticks 2> "$$d/e3" || rc=$$?; \
	test $$rc -eq 1; test ! -e "$$d/no-such-store"; \
	echo "examples: quickstart, tail_follow and bad-input checks passed"

TEST_EXTRA += cli-test examples-test
