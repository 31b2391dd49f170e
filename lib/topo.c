#include "topo.h"

#include <stdio.h>
#include <string.h>

#include <hwloc.h>

int pc_topo_init(pc_topo_t *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->nic, sizeof(t->nic), "none");
	snprintf(t->proc_cpuset, sizeof(t->proc_cpuset), "unknown");
	hwloc_topology_t topo;
	if (hwloc_topology_init(&topo))
		return 0; /* placement is an optimisation: run without it */
	hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
	if (hwloc_topology_load(topo)) {
		hwloc_topology_destroy(topo);
		return 0;
	}
	t->topology = topo;
	hwloc_bitmap_t set = hwloc_bitmap_alloc();
	if (set && hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) == 0)
		hwloc_bitmap_list_snprintf(t->proc_cpuset, sizeof(t->proc_cpuset), set);
	/* The NIC whose locality covers our binding: an OpenFabrics device
	 * first, then any network device. */
	hwloc_obj_t os = NULL, best = NULL;
	while ((os = hwloc_get_next_osdev(topo, os))) {
		if (os->attr->osdev.type != HWLOC_OBJ_OSDEV_OPENFABRICS &&
		    os->attr->osdev.type != HWLOC_OBJ_OSDEV_NETWORK)
			continue;
		hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, os);
		int near = !set || !anc || hwloc_bitmap_intersects(anc->cpuset, set);
		if (!near)
			continue;
		if (!best || (os->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS &&
			      best->attr->osdev.type != HWLOC_OBJ_OSDEV_OPENFABRICS))
			best = os;
	}
	if (best)
		snprintf(t->nic, sizeof(t->nic), "%s", best->name);
	if (set)
		hwloc_bitmap_free(set);
	return 0;
}

void pc_topo_bind_progress(pc_topo_t *t, char *out, unsigned len)
{
	snprintf(out, len, "unbound");
	if (!t->topology)
		return;
	hwloc_topology_t topo = t->topology;
	hwloc_bitmap_t set = hwloc_bitmap_alloc();
	if (!set)
		return;
	if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) != 0 ||
	    hwloc_bitmap_isequal(set, hwloc_topology_get_topology_cpuset(topo))) {
		/* The process is not bound: the scheduler places the (mostly
		 * sleeping) thread best. Pinning it would pile every process's
		 * thread on one core when there are more processes than cores. */
		hwloc_bitmap_list_snprintf(out, len, hwloc_topology_get_topology_cpuset(topo));
		snprintf(out + strlen(out), len - strlen(out), " (unbound)");
		hwloc_bitmap_free(set);
		return;
	}
	/* Bound process: prefer an SMT sibling of its core, else share its cpuset. */
	hwloc_obj_t core =
	    hwloc_get_next_obj_covering_cpuset_by_type(topo, set, HWLOC_OBJ_CORE, NULL);
	hwloc_bitmap_t target = hwloc_bitmap_dup(set);
	if (core && hwloc_bitmap_weight(core->cpuset) > 1) {
		hwloc_bitmap_copy(target, core->cpuset);
		hwloc_bitmap_andnot(target, target, set);
		if (hwloc_bitmap_iszero(target))
			hwloc_bitmap_copy(target, set);
		else
			hwloc_bitmap_singlify(target);
	}
	if (hwloc_set_cpubind(topo, target, HWLOC_CPUBIND_THREAD) == 0)
		hwloc_bitmap_list_snprintf(out, len, target);
	hwloc_bitmap_free(target);
	hwloc_bitmap_free(set);
}

void pc_topo_fini(pc_topo_t *t)
{
	if (t->topology)
		hwloc_topology_destroy((hwloc_topology_t)t->topology);
	t->topology = NULL;
}
