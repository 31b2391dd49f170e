/*
 * check_shm_region.c -- unit tests of providers/shm_region.c: the names of
 * shm regions and the sweep of those whose process is gone. The sweep runs
 * on a scratch directory standing in for /dev/shm, with the regions of a
 * child process while it lives and after it exited, of another pid
 * namespace, of an earlier process under our pid, and names not ours.
 */
#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "liveness.h"
#include "shm_region.h"

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/pcoll-check-shm.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
}

static void touch(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static int exists(const char *name)
{
	char path[256];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

/* A child process's region name, from the child itself; the child lives
 * until child_end. */
static int child_out[2], child_in[2];

static pid_t child_start(char *name, size_t len)
{
	ck_assert_int_eq(pipe(child_out), 0);
	ck_assert_int_eq(pipe(child_in), 0);
	pid_t p = fork();
	ck_assert_int_ge(p, 0);
	if (p == 0) {
		char n[96] = "";
		int ok = pc_shm_region_name(n, sizeof(n)) == 0;
		ok = ok && write(child_out[1], n, sizeof(n)) == (ssize_t)sizeof(n);
		char c;
		ok = ok && read(child_in[0], &c, 1) >= 0; /* until the parent says */
		_exit(ok ? 0 : 1);
	}
	char n[96];
	ck_assert_int_eq(read(child_out[0], n, sizeof(n)), (ssize_t)sizeof(n));
	snprintf(name, len, "%s", n);
	ck_assert_msg(name[0], "the child could not name its region");
	return p;
}

static void child_end(pid_t p)
{
	int status;
	ck_assert_int_eq(write(child_in[1], "x", 1), 1);
	ck_assert_int_eq(waitpid(p, &status, 0), p); /* reaped: no zombie left */
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (int i = 0; i < 2; i++) {
		close(child_out[i]);
		close(child_in[i]);
	}
}

/* name with its first field (the kernel) or its third (the start time)
 * changed: another namespace's region, or one of an earlier process with
 * this pid. */
static void variant(char *out, size_t len, const char *name, int field)
{
	uint64_t kernel, start;
	int pid;
	ck_assert_int_eq(sscanf(name, "pcoll_%" SCNx64 "_%d_%" SCNu64 "_", &kernel, &pid, &start),
			 3);
	if (field == 1)
		kernel ^= 1;
	else
		start += 1;
	snprintf(out, len, "pcoll_%016" PRIx64 "_%d_%" PRIu64 "_0", kernel, pid, start);
}

START_TEST(test_name_form)
{
	char a[96], b[96], pre[64];
	pc_proc_id_t me;
	pc_liveness_self(&me);
	ck_assert_int_eq(pc_shm_region_name(a, sizeof(a)), 0);
	ck_assert_int_eq(pc_shm_region_name(b, sizeof(b)), 0);
	ck_assert_str_ne(a, b); /* one per endpoint, even within one process */
	snprintf(pre, sizeof(pre), "pcoll_%016" PRIx64 "_%d_%" PRIu64 "_", me.kernel, (int)getpid(),
		 me.start);
	ck_assert_msg(!strncmp(a, pre, strlen(pre)), "%s does not start with %s", a, pre);
	ck_assert_int_eq(pc_shm_region_name(a, 12), -1); /* too short: no silent cut */
}
END_TEST

START_TEST(test_sweep_gone_only)
{
	char child[96], other_ns[96], ours_now[96], reused[96];
	pid_t p = child_start(child, sizeof(child));
	variant(other_ns, sizeof(other_ns), child, 1);
	ck_assert_int_eq(pc_shm_region_name(ours_now, sizeof(ours_now)), 0);
	variant(reused, sizeof(reused), ours_now, 3); /* our pid, an earlier start */
	const char *keep[] = {other_ns, ours_now,
			      /* not names pc_shm_region_name makes */
			      "pcoll_123_456", "fi_shm_region", "pcoll_x_1_2_3"};
	touch(child);
	touch(reused);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		touch(keep[i]);
	ck_assert_int_eq(pc_shm_sweep(dir), 1); /* the reused pid's only */
	ck_assert_msg(exists(child), "a live process's region was removed");
	ck_assert_msg(!exists(reused), "an earlier process's region under our pid stayed");
	child_end(p);
	ck_assert_int_eq(pc_shm_sweep(dir), 1);
	ck_assert_msg(!exists(child), "a dead process's region stayed");
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		ck_assert_msg(exists(keep[i]), "%s was removed", keep[i]);
	ck_assert_int_eq(pc_shm_sweep(dir), 0); /* nothing left to sweep */
}
END_TEST

START_TEST(test_sweep_other_owner)
{
	if (geteuid() != 0)
		return; /* only root can make a file another user owns */
	char name[96], path[256];
	child_end(child_start(name, sizeof(name)));
	touch(name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_int_eq(pc_shm_sweep(dir), 0);
	ck_assert(exists(name));
}
END_TEST

START_TEST(test_sweep_no_dir)
{
	ck_assert_int_eq(pc_shm_sweep("/nonexistent/pcoll"), 0);
}
END_TEST

static Suite *shm_region_suite(void)
{
	Suite *s = suite_create("shm_region");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_name_form);
	tcase_add_test(tc, test_sweep_gone_only);
	tcase_add_test(tc, test_sweep_other_owner);
	tcase_add_test(tc, test_sweep_no_dir);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(shm_region_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
