/* hwloc: where this process runs, the NIC near it, where the progress thread goes. */
#ifndef PCOLL_TOPO_H
#define PCOLL_TOPO_H

typedef struct pc_topo {
	void *topology; /* hwloc_topology_t */
	char nic[64];
	char proc_cpuset[64];
} pc_topo_t;

int pc_topo_init(pc_topo_t *t);
/* Bind the calling thread (the progress thread); describe where in out. */
void pc_topo_bind_progress(pc_topo_t *t, char *out, unsigned len);
void pc_topo_fini(pc_topo_t *t);

#endif
