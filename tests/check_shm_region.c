/*
 * check_shm_region.c -- unit tests of providers/shm_region.c: the names of
 * shm regions and the sweep of those whose process died. The sweep runs on
 * a scratch directory standing in for /dev/shm, with regions named for a
 * dead pid, a live one, another pid namespace, and names that are not ours.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

static unsigned long my_pidns(void)
{
	struct stat st;
	ck_assert_int_eq(stat("/proc/self/ns/pid", &st), 0);
	return (unsigned long)st.st_ino;
}

/* A pid that was ours and has exited (and been reaped): dead unless reused
 * in the microseconds since, which the test checks. */
static pid_t dead_pid(void)
{
	pid_t p = fork();
	ck_assert_int_ge(p, 0);
	if (p == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(p, NULL, 0), p);
	return p;
}

START_TEST(test_name_form)
{
	char a[96], b[96], pre[64];
	ck_assert_int_eq(pc_shm_region_name(a, sizeof(a)), 0);
	ck_assert_int_eq(pc_shm_region_name(b, sizeof(b)), 0);
	ck_assert_str_ne(a, b); /* one per endpoint, even within one process */
	snprintf(pre, sizeof(pre), "pcoll_%lu_%d_", my_pidns(), (int)getpid());
	ck_assert_msg(!strncmp(a, pre, strlen(pre)), "%s does not start with %s", a, pre);
	ck_assert_int_eq(pc_shm_region_name(a, 12), -1); /* too short: no silent cut */
}
END_TEST

START_TEST(test_sweep_dead_only)
{
	unsigned long ns = my_pidns();
	pid_t dead = dead_pid();
	char dead1[96], dead2[96], live[96], other_ns[96], ours_now[96];
	snprintf(dead1, sizeof(dead1), "pcoll_%lu_%d_1a2b_0", ns, (int)dead);
	snprintf(dead2, sizeof(dead2), "pcoll_%lu_%d_ff_7", ns, (int)dead);
	snprintf(live, sizeof(live), "pcoll_%lu_%d_1a2b_0", ns, (int)getppid());
	snprintf(other_ns, sizeof(other_ns), "pcoll_%lu_%d_1a2b_0", ns + 1, (int)dead);
	ck_assert_int_eq(pc_shm_region_name(ours_now, sizeof(ours_now)), 0);
	const char *keep[] = {live, other_ns, ours_now,
			      /* not names pc_shm_region_name makes */
			      "pcoll_123_456", "fi_shm_region", "pcoll_x_1_2_3"};
	touch(dead1);
	touch(dead2);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		touch(keep[i]);
	if (kill(dead, 0) == 0)
		return; /* the pid was reused already: nothing to judge */
	ck_assert_int_eq(pc_shm_sweep(dir), 2);
	ck_assert_msg(!exists(dead1) && !exists(dead2), "a dead process's region stayed");
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		ck_assert_msg(exists(keep[i]), "%s was removed", keep[i]);
	ck_assert_int_eq(pc_shm_sweep(dir), 0); /* nothing left to sweep */
}
END_TEST

START_TEST(test_sweep_other_owner)
{
	if (geteuid() != 0)
		return; /* only root can make a file another user owns */
	pid_t dead = dead_pid();
	char name[96], path[256];
	snprintf(name, sizeof(name), "pcoll_%lu_%d_1_0", my_pidns(), (int)dead);
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
	tcase_add_test(tc, test_sweep_dead_only);
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
