/*
 * reduce.h -- SUM reduction kernels of the allreduce.
 *
 * pc_reduce_sum() is commutative bit for bit: sum(a, b) and sum(b, a) give the
 * same bytes for every input, NaNs included, so every process of an allreduce
 * ends with bit-identical data whatever order it combined the operands in.
 * To get there a floating-point sum that is NaN is written as the canonical
 * positive quiet NaN (float32 0x7fc00000, float64 0x7ff8000000000000, float16
 * 0x7e00, bfloat16 0x7fc0): the payload the hardware would keep depends on
 * operand order (x86 keeps the first operand's), so it cannot be kept.
 *
 * float16 and bfloat16 are summed in float and rounded to nearest even once;
 * float carries at least 2p+2 significand bits for both (p = 11 and 8), so the
 * double rounding never changes the result: it is the correctly rounded sum.
 *
 * Buffers hold n elements, aligned for the element type; out may be the same
 * pointer as a and/or b, but must not overlap them otherwise.
 */
#ifndef PCOLL_REDUCE_H
#define PCOLL_REDUCE_H

#include <stddef.h>
#include <stdint.h>

#include "pcoll.h"

/** Size in bytes of one element of dt, or 0 for an invalid datatype. */
size_t pc_dt_size(pcoll_datatype_t dt);

/**
 * out[i] = a[i] + b[i] for i in [0, n), elements of type dt. Integers wrap on
 * overflow. Does nothing for n == 0 or an invalid datatype.
 */
void pc_reduce_sum(pcoll_datatype_t dt, void *out, const void *a, const void *b, size_t n);

/** IEEE binary16 to float (exact; a NaN stays NaN, made quiet, payload kept). */
float pc_half_to_float(uint16_t h);

/**
 * float to IEEE binary16, rounded to nearest even: overflow gives +-Inf,
 * small values give subnormals or +-0; a NaN stays a quiet NaN with the top
 * of its payload kept.
 */
uint16_t pc_float_to_half(float f);

/** bfloat16 to float (exact; a NaN stays NaN, made quiet, payload kept). */
float pc_bf16_to_float(uint16_t h);

/** float to bfloat16, rounded to nearest even; NaN handled as for half. */
uint16_t pc_float_to_bf16(float f);

#endif /* PCOLL_REDUCE_H */
