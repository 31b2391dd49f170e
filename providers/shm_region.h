/*
 * Names of the shm provider's regions in /dev/shm, and the sweep of regions
 * that killed processes left there. A process killed by SIGKILL (or by a
 * launcher's timeout) cannot unlink its region: without the sweep, each kill
 * left about 4 MiB of a node's memory in /dev/shm until reboot.
 */
#ifndef PCOLL_SHM_REGION_H
#define PCOLL_SHM_REGION_H

#include <stddef.h>

/* Writes a name unique to this endpoint: pcoll_<kernel>_<pid>_<start>_<n>,
 * the process's identity as lib/liveness.h has it (kernel: boot id and pid
 * namespace; start: its start time) and a count. Returns 0, or -1 when len
 * is too short. */
int pc_shm_region_name(char *buf, size_t len);

/* Unlinks the regions in dir (/dev/shm) named by pc_shm_region_name, owned
 * by this user, whose process pc_liveness_gone says is gone (same kernel and
 * pid namespace; no such pid, a zombie, or another process under it). Returns how
 * many it removed. Processes that still map one keep it: unlinking only frees
 * the name, and the memory once the last mapping goes. */
int pc_shm_sweep(const char *dir);

#endif
