/*
 * shm regions: unique names and the sweep of those whose owner died. The
 * name carries the owner's identity as lib/liveness.c defines it (boot id
 * and pid namespace, pid, start time), and the sweep asks the same question
 * the same-node peer check asks: a pid of another namespace sharing /dev/shm
 * (a container with the host's IPC) is never judged, and a pid reused since
 * does not keep a dead process's region.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "liveness.h"
#include "shm_region.h"

#define PREFIX "pcoll_"

int pc_shm_region_name(char *buf, size_t len)
{
	static atomic_uint n;
	pc_proc_id_t me;
	pc_liveness_self(&me);
	int w = snprintf(buf, len, PREFIX "%016" PRIx64 "_%d_%" PRIu64 "_%u", me.kernel,
			 (int)me.pid, me.start, atomic_fetch_add(&n, 1));
	return w < 0 || (size_t)w >= len ? -1 : 0;
}

int pc_shm_sweep(const char *dir)
{
	pc_proc_id_t me;
	pc_liveness_self(&me);
	if (!me.kernel)
		return 0; /* no /proc: cannot tell whose pids these are */
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int fd = dirfd(d), removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		pc_proc_id_t owner = {0};
		int pid, end = 0;
		if (sscanf(e->d_name, PREFIX "%16" SCNx64 "_%d_%" SCNu64 "_%*u%n", &owner.kernel,
			   &pid, &owner.start, &end) != 3 ||
		    !end || e->d_name[end])
			continue;
		owner.pid = pid;
		struct stat st;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode) ||
		    st.st_uid != geteuid())
			continue;
		/* Another kernel or namespace, or a look that cannot tell: kept. */
		if (pc_liveness_gone(&owner, &me) && !unlinkat(fd, e->d_name, 0))
			removed++;
	}
	closedir(d);
	return removed;
}
