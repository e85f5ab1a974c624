/*
 * replay_main.c - a main() for the harnesses when libFuzzer is not there
 * (gcc, or clang without its runtime): feeds every file named on the
 * command line (or found in a directory named there) to
 * LLVMFuzzerTestOneInput once, in an exactly sized heap buffer, so the
 * sanitizers see any read past its end. A crash or sanitizer report ends
 * the process with a non-zero status, like libFuzzer's replay mode. Under
 * LeakSanitizer a leak check runs after every input, so a leak is pinned
 * to the file that caused it; without it (the valgrind replay) memcheck
 * does the same at exit.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LeakSanitizer's interface, present only in a sanitized build */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		perror(path);
		if (f)
			fclose(f);
		return -1;
	}
	buf = malloc(n ? (size_t)n : 1);
	if (!buf || fread(buf, 1, n, f) != (size_t)n) {
		perror(path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	fprintf(stderr, "Running: %s\n", path);
	LLVMFuzzerTestOneInput(n ? buf : NULL, (size_t)n);
	free(buf);
	if (__lsan_do_recoverable_leak_check &&
	    __lsan_do_recoverable_leak_check()) {
		fprintf(stderr, "LEAK: %s leaks memory (report above)\n", path);
		return -1;
	}
	return 0;
}

static int replay_path(const char *path, int *count)
{
	struct dirent *e;
	struct stat st;
	char sub[4096];
	DIR *d;
	int rc = 0;

	if (stat(path, &st)) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		++*count;
		return replay_file(path);
	}
	d = opendir(path);
	if (!d) {
		perror(path);
		return -1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		rc |= replay_path(sub, count);
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	int i, rc = 0, count = 0;

	for (i = 1; i < argc; i++)
		rc |= replay_path(argv[i], &count);
	fprintf(stderr, "%s: replayed %d inputs\n", argv[0], count);
	return rc ? 1 : 0;
}
