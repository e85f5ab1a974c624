/*
 * notify_load.c - the workload of the notify benchmark: calls getppid(2)
 * (the trapped system call: no arguments, no memory, nothing to read) and
 * times it from the caller's side.
 *
 *   notify_load lat N [WARMUP]     N calls in one thread, each timed with
 *                                  CLOCK_MONOTONIC around it; prints one
 *                                  line per call (ns), then "total NS"
 *   notify_load tput T N           T threads, N calls each, started together;
 *                                  prints "calls C ns NS" (wall time from
 *                                  the start signal to the last thread done)
 *
 * WARMUP calls (default N / 10, at most 200) run before the timed ones in
 * lat mode and are not printed. The program only calls getppid through
 * syscall(2) (libc could cache it), so whoever supervises it sees exactly
 * N (+ WARMUP) notifications. Run under a supervisor that traps getppid
 * (bench/notify_floor, Linx notify:) or untrapped (the raw cost).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void call(void)
{
	if (syscall(SYS_getppid) < 0) {
		perror("getppid");
		exit(1);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: notify_load lat N [WARMUP] | tput THREADS N\n");
	exit(2);
}

static long arg(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0)
		usage();
	return v;
}

static int lat(long n, long warmup)
{
	uint64_t *t = calloc((size_t)n + 1, sizeof(*t));
	uint64_t t0, total;
	long i;

	if (!t) {
		perror("calloc");
		return 1;
	}
	for (i = 0; i < warmup; i++)
		call();
	total = now_ns();
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		call();
		t[i] = now_ns() - t0;
	}
	total = now_ns() - total;
	for (i = 0; i < n; i++)
		printf("%llu\n", (unsigned long long)t[i]);
	printf("total %llu\n", (unsigned long long)total);
	free(t);
	return 0;
}

static pthread_barrier_t start;
static long per_thread;

static void *worker(void *unused)
{
	long i;

	(void)unused;
	pthread_barrier_wait(&start);
	for (i = 0; i < per_thread; i++)
		call();
	return NULL;
}

static int tput(long threads, long n)
{
	pthread_t *tid = calloc((size_t)threads, sizeof(*tid));
	uint64_t t0;
	long i;

	if (!tid || threads < 1) {
		fprintf(stderr, "notify_load: bad thread count\n");
		return 1;
	}
	per_thread = n;
	pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
	for (i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, worker, NULL)) {
			perror("pthread_create");
			return 1;
		}
	/* Let the threads reach the barrier before starting the clock. */
	usleep(2000);
	t0 = now_ns();
	pthread_barrier_wait(&start);
	for (i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	printf("calls %ld ns %llu\n", threads * n,
	       (unsigned long long)(now_ns() - t0));
	free(tid);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "lat") && argc <= 4) {
		long n = arg(argv[2]);
		long w = argc == 4 ? arg(argv[3]) : (n / 10 > 200 ? 200 : n / 10);

		return lat(n, w);
	}
	if (argc == 4 && !strcmp(argv[1], "tput"))
		return tput(arg(argv[2]), arg(argv[3]));
	usage();
	return 2;
}
