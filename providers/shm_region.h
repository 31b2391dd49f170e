/*
 * Names of the shm provider's regions in /dev/shm, and the sweep of regions
 * that killed processes left there. A process killed by SIGKILL (or by a
 * launcher's timeout) cannot unlink its region: without the sweep, each kill
 * left about 4 MiB of a node's memory in /dev/shm until reboot.
 */
#ifndef PCOLL_SHM_REGION_H
#define PCOLL_SHM_REGION_H

#include <stddef.h>

/* Writes a name unique to this endpoint: pcoll_<pid-namespace>_<pid>_<ns>_<n>.
 * Returns 0, or -1 when len is too short. */
int pc_shm_region_name(char *buf, size_t len);

/* Unlinks the regions in dir (/dev/shm) named by pc_shm_region_name in this
 * pid namespace, owned by this user, whose pid is no longer alive. Returns how
 * many it removed. Processes that still map one keep it: unlinking only frees
 * the name, and the memory once the last mapping goes. */
int pc_shm_sweep(const char *dir);

#endif
