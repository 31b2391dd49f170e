/* Same-node liveness from /proc (see liveness.h). */
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "liveness.h"

/* State and start time of a process, from /proc/PID/stat; 0 if none. */
static int proc_stat(int pid, char *state, uint64_t *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return 0;
	p += 2;
	*state = *p;
	/* starttime is field 22; the state is field 3. */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return 0;
	unsigned long long st = 0;
	if (sscanf(p, "%llu", &st) != 1)
		return 0;
	*start = st;
	return 1;
}

void pc_liveness_self(pc_proc_id_t *me)
{
	memset(me, 0, sizeof(*me));
	me->pid = (int32_t)getpid();
	char st;
	if (!proc_stat(me->pid, &st, &me->start))
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

int pc_liveness_gone(const pc_proc_id_t *peer, const pc_proc_id_t *me)
{
	if (!peer->kernel || peer->kernel != me->kernel || !peer->start || peer->pid <= 0)
		return 0;
	char st;
	uint64_t start;
	if (!proc_stat(peer->pid, &st, &start))
		return 1;
	return st == 'Z' || st == 'X' || start != peer->start;
}
