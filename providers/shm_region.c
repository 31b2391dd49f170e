/*
 * shm regions: unique names and the sweep of those whose owner died. The
 * name carries the pid namespace (the inode of /proc/self/ns/pid) so that a
 * sweep never judges a pid of another namespace sharing /dev/shm (a
 * container with the host's IPC): there, a pid we cannot see may be alive.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "shm_region.h"

#define PREFIX "pcoll_"

static unsigned long pidns(void)
{
	struct stat st;
	return stat("/proc/self/ns/pid", &st) ? 0 : (unsigned long)st.st_ino;
}

int pc_shm_region_name(char *buf, size_t len)
{
	static atomic_uint n;
	int w = snprintf(buf, len, PREFIX "%lu_%d_%" PRIx64 "_%u", pidns(), (int)getpid(),
			 pc_now_ns(), atomic_fetch_add(&n, 1));
	return w < 0 || (size_t)w >= len ? -1 : 0;
}

int pc_shm_sweep(const char *dir)
{
	unsigned long ns = pidns();
	if (!ns)
		return 0; /* no /proc: cannot tell whose pids these are */
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int fd = dirfd(d), removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		unsigned long their_ns;
		int pid, end = 0;
		if (sscanf(e->d_name, PREFIX "%lu_%d_%*x_%*u%n", &their_ns, &pid, &end) != 2 ||
		    !end || e->d_name[end] || their_ns != ns || pid <= 0)
			continue;
		struct stat st;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode) ||
		    st.st_uid != geteuid())
			continue;
		/* ESRCH only: EPERM means alive (and not ours to judge). A pid
		 * reused since leaves the region to the next sweep after it. */
		if (kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		if (!unlinkat(fd, e->d_name, 0))
			removed++;
	}
	closedir(d);
	return removed;
}
