/*
 * model_report.h -- the three commands of pcoll_model (fit, predict,
 * validate): what they read, print, write and plot.
 */
#ifndef PCOLL_MODEL_REPORT_H
#define PCOLL_MODEL_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "model_run.h"

#define MODEL_MAX_PROCS 32
#define MODEL_MAX_MODES 8

struct model_opts {
	const char *cmd; /**< fit, predict, validate */
	char **files;	 /**< the CSV files to read */
	int nfiles;
	const char *params;   /**< --params */
	const char *csv;      /**< -c */
	const char *plot;     /**< --plot */
	const char *measured; /**< --measured (a validate -c file) */
	const char *provider; /**< -p */
	int procs[MODEL_MAX_PROCS], nprocs;
	char modes[MODEL_MAX_MODES][24];
	int nmodes;
	int staleness, quorum;
	size_t size, dtsize; /**< -m MAX: predict's buffer, fit's largest size */
	size_t size_min;     /**< -m MIN: fit's smallest size */
	int size_set;
	double base_ms;
	uint64_t rounds, seed;
	int seeds; /**< predict: mean over seeds seed .. seed + seeds - 1 */
	const char *patterns;
	double split; /**< < 0: default (fit) or the file's */
	int zero, full;
	int best; /**< fit: each size's smallest latency over the files */
};

int model_cmd_fit(const struct model_opts *o);
int model_cmd_predict(const struct model_opts *o);
int model_cmd_validate(const struct model_opts *o);

/** Render o->csv (a predict file) to o->plot with plot_model.gp. */
int model_plot(const struct model_opts *o);

#endif
