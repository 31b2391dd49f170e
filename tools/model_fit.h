/*
 * model_fit.h -- LogGP parameters of a transport fitted to measured
 * allreduce latencies (pcoll_bench allreduce -c CSV files), and the
 * parameter file pcoll_model writes and reads.
 *
 * Every measured latency of PCOLL_SYNC in OSU's shape (all arrive together)
 * is one round: model_round() = a alpha + b G + c gamma with a, b, c from the
 * schedule (model_round_coef). Weighted least squares on the relative error,
 * with every parameter >= 0, gives alpha = L + 2o, G and gamma. In a round
 * every message pays L + 2o, so no allreduce latency tells L from o, and
 * none g (each process sends one message per step); the split is a stated
 * assumption: o = g = split * alpha / 2, L = alpha - 2o.
 */
#ifndef PCOLL_MODEL_FIT_H
#define PCOLL_MODEL_FIT_H

#include <stddef.h>

#include "model_cost.h"

#define MODEL_NAME_LEN 64

/** One measured latency. */
struct model_point {
	char provider[MODEL_NAME_LEN];
	int P;
	size_t size; /**< bytes */
	int algo;    /**< MODEL_RD, MODEL_RSAG, MODEL_RING, 0: the one pcoll picks */
	double us;   /**< average latency */
};

/** A growable list of points. */
struct model_points {
	struct model_point *v;
	int n, cap;
};

/** A transport's parameters and how well they fit. */
struct model_params {
	char provider[MODEL_NAME_LEN];
	struct loggp m;
	double alpha;	/**< L + 2o, as fitted */
	double split;	/**< 2o / alpha, as assumed */
	int points;	/**< latencies fitted (medians over the files) */
	double rms_rel; /**< root mean square of (model - measured) / measured */
	double max_rel; /**< largest |model - measured| / measured */
};

/**
 * Append the rows of a pcoll_bench allreduce CSV (impl pcoll, mode sync,
 * shape osu) to pts, with the algorithm of the row's last column where there
 * is one. Returns the number appended, or -1 with err set.
 */
int model_read_allreduce(const char *path, struct model_points *pts, char *err, size_t errlen);

/** Replace pts by the median latency per (provider, P, algorithm, size), sorted; with
 * best, by the smallest (the least disturbed run on a shared machine). */
void model_median(struct model_points *pts, int best);

/**
 * Fit the points of one provider (count = size / dtsize elements):
 * x[0] = alpha, x[1] = G, x[2] = gamma, all >= 0. Returns 0, or -1 when
 * there are fewer points than parameters.
 */
int model_fit(const struct model_points *pts, const char *provider, size_t dtsize, double x[3]);

/** The parameters of a fit: L, o, g from alpha and split; the errors. */
void model_params_of(const struct model_points *pts, const char *provider, size_t dtsize,
		     const double x[3], double split, struct model_params *mp);

/** Write params as CSV (with a header line). Returns 0 or -1 (errno set). */
int model_write_params(const char *path, const struct model_params *mp, int n);

/**
 * Read a parameter file into mp (at most cap rows). Returns the number of
 * rows, or -1 with err set.
 */
int model_read_params(const char *path, struct model_params *mp, int cap, char *err, size_t errlen);

/** 1 when a provider's name matches want: equal, or want is the part before ';'. */
int model_provider_match(const char *provider, const char *want);

#endif
