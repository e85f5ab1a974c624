/* SPDX-License-Identifier: MIT
 *
 * notify_race - a hostile workload for {:call, ...} rules that act on a
 * caller's behalf (test/linx/seccomp/notify_resolve_test.exs).
 *
 *   notify_race [-p PROCDIR] [-r ROOT] [-u UID:GID] MODE ARGS...
 *
 * Setup, in this order, while still root (the workload is spawned as the
 * host's root, in the host's namespaces):
 *   -p PROCDIR  a private mount namespace with procfs mounted on PROCDIR
 *               (a container that mounts its own /proc)
 *   -r ROOT     chroot(ROOT), chdir("/")
 *   -u UID:GID  drop every group, then setresgid, setresuid: from uid 0
 *               to a non-zero uid the kernel clears every capability
 *
 * Modes (each mknod is mknodat(AT_FDCWD, path, S_IFCHR | 0600, 1:3), the
 * call the rules under test trap):
 *   final TRIES DIR TARGET
 *       thread A: TRIES times mknod DIR/x, then unlink DIR/x;
 *       thread B: whenever DIR/x is a character device (the node just
 *       made), rename(DIR/y, DIR/x), DIR/y a symlink to TARGET: the final
 *       component of the path becomes a symlink between the two steps
 *   inter TRIES DIR OUTSIDE
 *       thread A: TRIES times mknod DIR/sub/x, then unlink it;
 *       thread B: renameat2(DIR/sub, DIR/l, RENAME_EXCHANGE) in a loop,
 *       DIR/l a symlink to OUTSIDE: an intermediate directory becomes a
 *       symlink
 *   once PATH
 *       one mknod PATH ("%d" in PATH is replaced by our pid)
 *   mount PATH
 *       one mount("none", PATH, "tmpfs"), then statfs(PATH)
 * Output: "tries=N answered=M" (M mknods returned 0) for the races,
 * "once=0" or "once=ERRNO_NUMBER" for once, "mount=0|ERRNO tmpfs=0|1"
 * for mount. Exit 0 unless setup failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static atomic_int done;
static char path_x[4096], path_y[4096], path_sub[4096], path_l[4096];
static const char *target;

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static long do_mknod(const char *path)
{
	return syscall(SYS_mknodat, AT_FDCWD, path, S_IFCHR | 0600,
		       makedev(1, 3));
}

/*
 * swap_final() - the moment DIR/x is the node the helper has just made
 * (its first step), rename a symlink to TARGET over it: a second step
 * that looks the path up again (fchownat by name) follows it. Swapping
 * only then, not all the time, also leaves DIR/x absent when the next
 * mknod starts, so every try reaches the second step (a swap at any
 * moment made nearly every mknod fail with EEXIST, and on a slow run
 * none got through).
 */
static void *swap_final(void *arg)
{
	struct stat st;

	(void)arg;
	while (!atomic_load(&done)) {
		if (symlink(target, path_y) && errno != EEXIST)
			continue;
		if (!lstat(path_x, &st) && S_ISCHR(st.st_mode))
			rename(path_y, path_x);
	}
	return NULL;
}

static void *swap_inter(void *arg)
{
	(void)arg;
	while (!atomic_load(&done))
		syscall(SYS_renameat2, AT_FDCWD, path_sub, AT_FDCWD, path_l,
			RENAME_EXCHANGE);
	return NULL;
}

static int race(int tries, const char *create, void *(*swapper)(void *))
{
	pthread_t t;
	int i, answered = 0;

	if (pthread_create(&t, NULL, swapper, NULL))
		die("pthread_create");
	for (i = 0; i < tries; i++) {
		if (do_mknod(create) == 0)
			answered++;
		unlink(create);
	}
	atomic_store(&done, 1);
	pthread_join(t, NULL);
	printf("tries=%d answered=%d\n", tries, answered);
	return 0;
}

static void setup_proc(const char *dir)
{
	if (unshare(CLONE_NEWNS))
		die("unshare");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		die("mount private");
	if (mount("proc", dir, "proc", 0, NULL))
		die("mount proc");
}

static void setup_ids(const char *spec)
{
	unsigned uid, gid;

	if (sscanf(spec, "%u:%u", &uid, &gid) != 2)
		die("-u UID:GID");
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid))
		die("set ids");
}

int main(int argc, char **argv)
{
	int opt, tries;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "+p:r:u:")) != -1) {
		switch (opt) {
		case 'p':
			setup_proc(optarg);
			break;
		case 'r':
			if (chroot(optarg) || chdir("/"))
				die("chroot");
			break;
		case 'u':
			setup_ids(optarg);
			break;
		default:
			return 2;
		}
	}
	argv += optind;
	argc -= optind;
	if (argc == 2 && !strcmp(argv[0], "once")) {
		char path[4096];
		long r;

		/* "%d" in PATH is our pid: /proc/%d/root, a magic link */
		snprintf(path, sizeof(path), argv[1], (int)getpid());
		r = do_mknod(path);

		printf("once=%d\n", r == 0 ? 0 : errno);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[0], "mount")) {
		struct statfs sf = { 0 };
		long r = mount("none", argv[1], "tmpfs", 0, NULL);
		int e = r ? errno : 0;

		statfs(argv[1], &sf);
		printf("mount=%d tmpfs=%d\n", e, sf.f_type == 0x01021994);
		return 0;
	}
	if (argc != 4)
		return 2;
	tries = atoi(argv[1]);
	if (!strcmp(argv[0], "final")) {
		target = argv[3];
		snprintf(path_x, sizeof(path_x), "%s/x", argv[2]);
		snprintf(path_y, sizeof(path_y), "%s/y", argv[2]);
		return race(tries, path_x, swap_final);
	}
	if (!strcmp(argv[0], "inter")) {
		snprintf(path_sub, sizeof(path_sub), "%s/sub", argv[2]);
		snprintf(path_l, sizeof(path_l), "%s/l", argv[2]);
		snprintf(path_x, sizeof(path_x), "%s/sub/x", argv[2]);
		if (mkdir(path_sub, 0755) && errno != EEXIST)
			die("mkdir sub");
		if (symlink(argv[3], path_l) && errno != EEXIST)
			die("symlink l");
		return race(tries, path_x, swap_inter);
	}
	return 2;
}
