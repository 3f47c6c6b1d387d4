/*
 * partition_for_key.c — an independent oracle for tests/cli_test.sh: the
 * partition rill.h documents for a key under the default partitioner,
 * XXH3_64bits(key) % partitions, computed with libxxhash directly (not
 * through librill), for each line of stdin.
 *
 *   usage: partition_for_key PARTITIONS < keys   (prints one number per line)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

int main(int argc, char **argv)
{
	if (argc != 2 || atoi(argv[1]) < 1) {
		fprintf(stderr, "usage: partition_for_key PARTITIONS < keys\n");
		return 2;
	}
	unsigned long long partitions = (unsigned long long)atoi(argv[1]);
	char line[4096];
	while (fgets(line, sizeof(line), stdin) != NULL) {
		size_t len = strcspn(line, "\n");
		printf("%llu\n", (unsigned long long)(XXH3_64bits(line, len) % partitions));
	}
	return 0;
}
