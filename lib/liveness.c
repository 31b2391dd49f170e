/* Same-node liveness from /proc (see liveness.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "liveness.h"

/* State and start time of a process, from /proc/PID/stat: 1 when read, 0
 * when there is no such process, -1 when this look cannot tell (out of file
 * descriptors or memory, a short read): a peer is gone only on a 0. */
static int proc_stat(int pid, char *state, uint64_t *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT || errno == ESRCH ? 0 : -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	int gone = n == 0 && ferror(f) && errno == ESRCH; /* it exited meanwhile */
	fclose(f);
	if (gone)
		return 0;
	buf[n] = 0;
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -1;
	p += 2;
	*state = *p;
	/* starttime is field 22; the state is field 3. */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return -1;
	unsigned long long st = 0;
	if (sscanf(p, "%llu", &st) != 1)
		return -1;
	*start = st;
	return 1;
}

void pc_liveness_self(pc_proc_id_t *me)
{
	memset(me, 0, sizeof(*me));
	me->pid = (int32_t)getpid();
	char st;
	if (proc_stat(me->pid, &st, &me->start) != 1)
		me->start = 0;
	char boot[64] = "";
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	if (f) {
		if (!fgets(boot, sizeof(boot), f))
			boot[0] = 0;
		fclose(f);
	}
	/* Same kernel is not enough: containers on one node have their own pid
	 * namespaces, where a peer's pid means nothing. */
	char ns[64] = "";
	ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	ns[n > 0 ? n : 0] = 0;
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (const char *c = boot; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ULL;
	for (const char *c = ns; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ULL;
	me->kernel = boot[0] && ns[0] ? h : 0;
}

/* 1: gone, 0: there, -1: cannot tell (another kernel, or /proc failed). */
static int look(const pc_proc_id_t *peer, const pc_proc_id_t *me)
{
	if (!peer->kernel || peer->kernel != me->kernel || !peer->start || peer->pid <= 0)
		return -1;
	char st;
	uint64_t start;
	int rc = proc_stat(peer->pid, &st, &start);
	if (rc <= 0)
		return rc == 0 ? 1 : -1;
	return st == 'Z' || st == 'X' || start != peer->start;
}

int pc_liveness_gone(const pc_proc_id_t *peer, const pc_proc_id_t *me)
{
	return look(peer, me) == 1;
}

int pc_liveness_alive(const pc_proc_id_t *peer, const pc_proc_id_t *me)
{
	return look(peer, me) == 0;
}
