/*
 * mounts.h - the filesystem and host identity a workload sees (request
 * keys root, mounts, hostname, loopback, time_offsets): their decoded,
 * flat form (filled by request.c before the clone) and the child's apply
 * function (mounts.c), run after the id maps are written and before the
 * checkpoint commands. docs/sandbox.md is the user's view.
 */
#ifndef LINX_MOUNTS_H
#define LINX_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "error.h"

/* The most entries one mounts list may have */
#define MOUNTS_MAX 256

enum linx_root { ROOT_HOST, ROOT_TMPFS, ROOT_DIR };

/* A mount entry's kind: the wire atoms, in this order (mounts.c) */
enum mnt_kind {
	MNT_BIND, MNT_RO_BIND, MNT_TMPFS, MNT_PROC, MNT_DEV, MNT_DIR,
	MNT_SYMLINK, MNT_FILE, MNT_REMOUNT_RO, MNT_KIND_COUNT
};

/* Bits of struct mnt_entry.flags (the wire's flags integer) */
#define MNT_F_OPTIONAL 1u	/* bind: a missing source is skipped */
#define MNT_F_DEV 2u		/* bind: device nodes work (else nodev) */
#define MNT_F_NOEXEC 4u		/* bind: noexec */
#define MNT_F_SUID 8u		/* bind: set-user-id works (else nosuid) */
#define MNT_F_ALL 15u

/* Room for "mode=01777,size=18446744073709551615" */
#define MNT_DATA_MAX 48

/**
 * struct mnt_entry - one entry of mounts:, ready for the child
 * @kind:	enum mnt_kind
 * @dst:	absolute path inside the new root (malloc'ed)
 * @arg:	bind: source (host path); symlink: target; file: contents;
 *		else empty (malloc'ed, NUL-terminated after @arglen bytes)
 * @arglen:	bytes of @arg
 * @mode:	tmpfs/dir: mode bits, 0 for the default
 * @size:	tmpfs: size in bytes, 0 for the kernel's default
 * @flags:	MNT_F_* bits
 * @data:	tmpfs: the mount data string, made by the decoder (the child
 *		formats nothing)
 */
struct mnt_entry {
	int kind;
	char *dst;
	char *arg;
	size_t arglen;
	uint32_t mode;
	uint64_t size;
	uint32_t flags;
	char data[MNT_DATA_MAX];
};

/**
 * struct linx_sandbox - what the child builds before its checkpoint
 * @root:		enum linx_root
 * @root_dir:		ROOT_DIR: the host directory that becomes / (malloc'ed)
 * @mounts:		the entries, in order (malloc'ed)
 * @nmounts:		how many
 * @hostname:		sethostname() in the new UTS namespace, or NULL
 * @loopback:		bring lo up (only meaningful with a new net namespace)
 * @has_time_offsets:	@monotonic/@boottime are to be written
 * @monotonic:		CLOCK_MONOTONIC offset, seconds
 * @boottime:		CLOCK_BOOTTIME offset, seconds
 */
struct linx_sandbox {
	enum linx_root root;
	char *root_dir;
	struct mnt_entry *mounts;
	size_t nmounts;
	char *hostname;
	bool loopback;
	bool has_time_offsets;
	int64_t monotonic;
	int64_t boottime;
};

/**
 * sandbox_wanted() - does the child have anything to build?
 * @sb:		the sandbox
 * @netns:	the workload gets a new net namespace
 *
 * Return: true if sandbox_apply() has work (time offsets are the agent's)
 */
static inline bool sandbox_wanted(const struct linx_sandbox *sb, bool netns)
{
	return sb->root != ROOT_HOST || sb->nmounts || sb->hostname ||
	       (netns && sb->loopback);
}

/**
 * sandbox_free_mounts() - release the entries (a repeated key: last wins)
 * @sb:		the sandbox
 */
static inline void sandbox_free_mounts(struct linx_sandbox *sb)
{
	size_t i;

	for (i = 0; i < sb->nmounts; i++) {
		free(sb->mounts[i].dst);
		free(sb->mounts[i].arg);
	}
	free(sb->mounts);
	sb->mounts = NULL;
	sb->nmounts = 0;
}

/**
 * sandbox_free() - release what the decoder allocated
 * @sb:		the sandbox (zeroed fields afterwards)
 */
static inline void sandbox_free(struct linx_sandbox *sb)
{
	sandbox_free_mounts(sb);
	free(sb->root_dir);
	free(sb->hostname);
	sb->mounts = NULL;
	sb->nmounts = 0;
	sb->root_dir = sb->hostname = NULL;
}

int sandbox_apply(const struct linx_sandbox *sb, bool mountns, bool netns,
		  struct linx_err *err);
int sandbox_time_offsets(const struct linx_sandbox *sb, struct linx_err *err);

#endif /* LINX_MOUNTS_H */
