/*
 * pcoll_info: what pcoll chose on this process, like fi_info: the provider,
 * its completion path, the endpoint and NIC, and where the progress thread
 * runs. Under a launcher every rank prints one block, in rank order.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pcoll.h"

static void usage(const char *prog)
{
	printf("usage: %s [-p provider] [-n cntr|cqdata] [-a] [-h] [-V]\n"
	       "  -p NAME  libfabric provider (default: PCOLL_PROVIDER, FI_PROVIDER, or "
	       "libfabric's choice)\n"
	       "  -n PATH  notification path: cntr (remote counters) or cqdata (remote CQ "
	       "data)\n"
	       "  -a       all ranks print (default: rank 0 only)\n"
	       "  -h, --help     this help\n"
	       "  -V, --version  print the version and exit\n",
	       prog);
}

static const char *notify_name(pcoll_notify_t n)
{
	return n == PCOLL_NOTIFY_CNTR	  ? "remote counters (FI_RMA_EVENT)"
	       : n == PCOLL_NOTIFY_CQDATA ? "remote CQ data (fi_writedata)"
					  : "auto";
}

int main(int argc, char **argv)
{
	pcoll_config_t cfg;
	pcoll_config_init(&cfg);
	int all = 0, opt;
	static const struct option longopts[] = {
	    {"provider", required_argument, NULL, 'p'},
	    {"notify", required_argument, NULL, 'n'},
	    {"all", no_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	while ((opt = getopt_long(argc, argv, "p:n:ahV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			cfg.provider = optarg;
			break;
		case 'n':
			if (!strcmp(optarg, "cntr"))
				cfg.notify = PCOLL_NOTIFY_CNTR;
			else if (!strcmp(optarg, "cqdata"))
				cfg.notify = PCOLL_NOTIFY_CQDATA;
			else {
				fprintf(stderr, "pcoll_info: -n takes cntr or cqdata\n");
				return 2;
			}
			break;
		case 'a':
			all = 1;
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		case 'V':
			printf("pcoll_info (%s) %s\n", PACKAGE, PACKAGE_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'pcoll_info --help'.\n");
			return 2;
		}
	}
	pcoll_ctx_t *ctx;
	int rc = pcoll_init(&cfg, &ctx);
	if (rc) {
		fprintf(stderr, "pcoll_info: pcoll_init: %s: %s\n", pcoll_strerror(rc),
			pcoll_last_error());
		return 1;
	}
	/* Let the progress thread report where it was placed. */
	usleep(20000);
	pcoll_ctx_info_t in;
	rc = pcoll_ctx_query(ctx, &in);
	if (rc) {
		fprintf(stderr, "pcoll_info: %s\n", pcoll_last_error());
		pcoll_finalize(ctx);
		return 1;
	}
	int me = pcoll_rank(ctx), np = pcoll_size(ctx);
	if (all || me == 0) {
		printf("pcoll %d.%d: rank %d of %d\n", PCOLL_VERSION_MAJOR, PCOLL_VERSION_MINOR, me,
		       np);
		printf("    wireup:          %s\n", in.wireup);
		printf("    provider:        %s\n", in.provider);
		printf("    fabric:          %s\n", in.fabric);
		printf("    domain:          %s\n", in.domain);
		printf("    endpoint:        %s\n", in.endpoint);
		printf("    completion path: %s\n", notify_name(in.notify));
		printf("    remote counters: %s\n", in.rma_event ? "offered" : "not offered");
		printf("    remote CQ data:  %s\n", in.cq_data ? "offered" : "not offered");
		printf("    data progress:   %s\n", in.manual_progress ? "manual" : "auto");
		printf("    idle wait:       %s%s\n", in.wait,
		       strcmp(in.wait, "sleep") ? " (poll on the fabric's fd)"
						: " (backoff, nanosleep)");
		printf("    idle sleep max:  %u us\n", in.idle_sleep_max_us);
		printf("    NIC (hwloc):     %s\n", in.nic);
		printf("    progress thread: %s, cpuset %s\n", in.progress_thread ? "on" : "off",
		       in.progress_cpuset);
		printf("    timeout:         %d ms\n", in.timeout_ms);
		fflush(stdout);
	}
	rc = pcoll_finalize(ctx);
	if (rc) {
		fprintf(stderr, "pcoll_info: pcoll_finalize: %s\n", pcoll_last_error());
		return 1;
	}
	return 0;
}
