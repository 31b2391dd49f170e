/*
 * reduce.c -- SUM reduction kernels of the allreduce (see reduce.h).
 *
 * The float32/float64/int kernels come in three restrict-qualified variants
 * (distinct out, out aliasing one operand, out aliasing both) so that gcc
 * vectorizes them at -O2 without runtime alias checks. The NaN test of the
 * float kernels becomes a vector compare and blend.
 */
#include "reduce.h"

#include <string.h>

#define F32_QNAN  UINT32_C(0x7fc00000)
#define F64_QNAN  UINT64_C(0x7ff8000000000000)
#define HALF_QNAN 0x7e00u
#define BF16_QNAN 0x7fc0u

static inline uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

static inline float f32_from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

static inline double f64_from_bits(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

size_t pc_dt_size(pcoll_datatype_t dt)
{
	switch (dt) {
	case PCOLL_FLOAT32:
		return sizeof(float);
	case PCOLL_FLOAT64:
		return sizeof(double);
	case PCOLL_FLOAT16:
	case PCOLL_BFLOAT16:
		return sizeof(uint16_t);
	case PCOLL_INT32:
		return sizeof(int32_t);
	case PCOLL_INT64:
		return sizeof(int64_t);
	default:
		return 0;
	}
}

/* ------------------------------------------------------------ conversions */

static inline float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu;
	uint32_t man = h & 0x3ffu;

	if (exp == 0x1f) /* Inf, or NaN made quiet with its payload kept */
		return f32_from_bits(sign | 0x7f800000u | (man ? 0x00400000u | (man << 13) : 0));
	if (exp == 0) { /* zero or subnormal: man * 2^-24, exact in float */
		float f = (float)man * 0x1p-24f;
		return f32_from_bits(sign | f32_bits(f));
	}
	return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t float_to_half(float f)
{
	uint32_t x = f32_bits(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);

	x &= 0x7fffffffu;
	if (x > 0x7f800000u) /* NaN: quiet, top of the payload kept */
		return (uint16_t)(sign | 0x7e00u | ((x >> 13) & 0x3ffu));
	if (x >= 0x477ff000u) /* >= 65520 = 65504 + half an ulp (a tie to even): Inf */
		return (uint16_t)(sign | 0x7c00u);
	if (x >= 0x38800000u) {			      /* >= 2^-14: normal half */
		uint32_t h = (x - 0x38000000u) >> 13; /* rebias exponent 127 -> 15 */
		uint32_t rem = x & 0x1fffu;
		if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
			h++; /* a carry into the exponent is right */
		return (uint16_t)(sign | h);
	}
	/* Below 2^-14: a subnormal half m * 2^-24 with m in [0, 1024]. */
	uint32_t exp = x >> 23;
	if (exp < 102) /* below 2^-25 (float subnormals too): rounds to 0 */
		return sign;
	uint32_t man = (x & 0x7fffffu) | 0x800000u;
	uint32_t shift = 126u - exp; /* value = man * 2^-shift half ulps; 14..24 */
	uint32_t m = man >> shift;
	uint32_t rem = man & ((UINT32_C(1) << shift) - 1u);
	uint32_t halfway = UINT32_C(1) << (shift - 1u);
	if (rem > halfway || (rem == halfway && (m & 1u)))
		m++; /* m == 1024 is the smallest normal, encoded right */
	return (uint16_t)(sign | m);
}

static inline float bf16_to_float(uint16_t h)
{
	uint32_t x = (uint32_t)h << 16;
	if ((x & 0x7fffffffu) > 0x7f800000u)
		x |= 0x00400000u; /* NaN: make it quiet */
	return f32_from_bits(x);
}

static inline uint16_t float_to_bf16(float f)
{
	uint32_t x = f32_bits(f);
	if ((x & 0x7fffffffu) > 0x7f800000u) /* NaN: quiet, top of the payload kept */
		return (uint16_t)((x >> 16) | 0x0040u);
	/* Round to nearest even; a carry into the exponent is right, up to Inf. */
	x += 0x7fffu + ((x >> 16) & 1u);
	return (uint16_t)(x >> 16);
}

float pc_half_to_float(uint16_t h)
{
	return half_to_float(h);
}

uint16_t pc_float_to_half(float f)
{
	return float_to_half(f);
}

float pc_bf16_to_float(uint16_t h)
{
	return bf16_to_float(h);
}

uint16_t pc_float_to_bf16(float f)
{
	return float_to_bf16(f);
}

/* ---------------------------------------------------------------- kernels */

/*
 * For each type T: name_3 (o = a + b, three distinct buffers, a == b is fine
 * since neither is written), name_io (io += b), name_self (io += io).
 * OP(x, y) is the element sum. The body runs in blocks of PC_BLOCK elements
 * whose inner loop has a constant trip count: gcc's default -O2 cost model
 * ("very-cheap") vectorizes only loops that need no scalar epilogue, so a
 * plain loop over n would stay scalar at -O2.
 */
#define PC_BLOCK 16

#define PC_LOOP(n, STMT)                                                                           \
	do {                                                                                       \
		size_t i_ = 0, n_ = (n);                                                           \
		for (; n_ - i_ >= PC_BLOCK; i_ += PC_BLOCK)                                        \
			for (size_t j_ = 0; j_ < PC_BLOCK; j_++) {                                 \
				size_t i = i_ + j_;                                                \
				STMT;                                                              \
			}                                                                          \
		for (size_t i = i_; i < n_; i++) {                                                 \
			STMT;                                                                      \
		}                                                                                  \
	} while (0)

#define DEFINE_KERNELS(name, T, OP)                                                                \
	static void name##_3(T *restrict o, const T *restrict a, const T *restrict b, size_t n)    \
	{                                                                                          \
		PC_LOOP(n, o[i] = OP(a[i], b[i]));                                                 \
	}                                                                                          \
	static void name##_io(T *restrict io, const T *restrict b, size_t n)                       \
	{                                                                                          \
		PC_LOOP(n, io[i] = OP(io[i], b[i]));                                               \
	}                                                                                          \
	static void name##_self(T *restrict io, size_t n)                                          \
	{                                                                                          \
		PC_LOOP(n, io[i] = OP(io[i], io[i]));                                              \
	}                                                                                          \
	static void name(void *out, const void *a, const void *b, size_t n)                        \
	{                                                                                          \
		if (out == a && out == b)                                                          \
			name##_self((T *)out, n);                                                  \
		else if (out == a)                                                                 \
			name##_io((T *)out, (const T *)b, n);                                      \
		else if (out == b)                                                                 \
			name##_io((T *)out, (const T *)a, n);                                      \
		else                                                                               \
			name##_3((T *)out, (const T *)a, (const T *)b, n);                         \
	}

static inline float add_f32(float x, float y)
{
	float r = x + y;
	return r == r ? r : f32_from_bits(F32_QNAN);
}

static inline double add_f64(double x, double y)
{
	double r = x + y;
	return r == r ? r : f64_from_bits(F64_QNAN);
}

/* Integers are summed as their unsigned counterparts (same representation,
 * may alias), which wrap without undefined behaviour. */
static inline uint32_t add_u32(uint32_t x, uint32_t y)
{
	return x + y;
}

static inline uint64_t add_u64(uint64_t x, uint64_t y)
{
	return x + y;
}

static inline uint16_t add_half(uint16_t x, uint16_t y)
{
	float r = half_to_float(x) + half_to_float(y);
	return r == r ? float_to_half(r) : (uint16_t)HALF_QNAN;
}

static inline uint16_t add_bf16(uint16_t x, uint16_t y)
{
	float r = bf16_to_float(x) + bf16_to_float(y);
	return r == r ? float_to_bf16(r) : (uint16_t)BF16_QNAN;
}

DEFINE_KERNELS(sum_f32, float, add_f32)
DEFINE_KERNELS(sum_f64, double, add_f64)
DEFINE_KERNELS(sum_u32, uint32_t, add_u32)
DEFINE_KERNELS(sum_u64, uint64_t, add_u64)
DEFINE_KERNELS(sum_half, uint16_t, add_half)
DEFINE_KERNELS(sum_bf16, uint16_t, add_bf16)

void pc_reduce_sum(pcoll_datatype_t dt, void *out, const void *a, const void *b, size_t n)
{
	if (n == 0)
		return;
	switch (dt) {
	case PCOLL_FLOAT32:
		sum_f32(out, a, b, n);
		break;
	case PCOLL_FLOAT64:
		sum_f64(out, a, b, n);
		break;
	case PCOLL_FLOAT16:
		sum_half(out, a, b, n);
		break;
	case PCOLL_BFLOAT16:
		sum_bf16(out, a, b, n);
		break;
	case PCOLL_INT32:
		sum_u32(out, a, b, n);
		break;
	case PCOLL_INT64:
		sum_u64(out, a, b, n);
		break;
	default:
		break;
	}
}
