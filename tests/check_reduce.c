/*
 * check_reduce.c -- unit tests of the SUM reduction kernels (lib/reduce.c).
 *
 * The expected values come from references that share no code with the
 * library: float16/bfloat16 values are decoded with ldexp, sums are formed in
 * double and rounded with rint() at the target precision (exact -> double ->
 * target is innocuous since 53 >= 2p+2), float32 sums are rounded from double.
 */
#include <check.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcoll.h"
#include "reduce.h"

#define SEED UINT64_C(0x5eed0f9c011ec71e)

/* ------------------------------------------------------------- utilities */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void rng_seed(uint64_t s)
{
	rng_state = s;
}

static uint32_t f2u(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

static float u2f(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

static uint64_t d2u(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static double u2d(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

static int half_is_nan(uint16_t h)
{
	return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
}

static int bf16_is_nan(uint16_t h)
{
	return (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0;
}

/* ------------------------------------------------------------ references */

#define HALF_MAX 65504.0
#define BF16_MAX 0x1.fep127 /* (2 - 2^-7) * 2^127 */

/* Value of a float16 bit pattern (any but NaN), by its definition. */
static double ref_half_value(uint16_t h)
{
	int e = (h >> 10) & 0x1f, m = h & 0x3ff;
	double v;
	if (e == 0x1f)
		v = m ? NAN : INFINITY;
	else if (e == 0)
		v = ldexp(m, -24);
	else
		v = ldexp(1024 + m, e - 25);
	return (h & 0x8000u) ? -v : v;
}

/* Value of a bfloat16 bit pattern (any but NaN), by its definition. */
static double ref_bf16_value(uint16_t h)
{
	int e = (h >> 7) & 0xff, m = h & 0x7f;
	double v;
	if (e == 0xff)
		v = m ? NAN : INFINITY;
	else if (e == 0)
		v = ldexp(m, -133);
	else
		v = ldexp(128 + m, e - 134);
	return (h & 0x8000u) ? -v : v;
}

/*
 * Round v to a binary format of p significand bits, minimum normal exponent
 * emin and largest finite value maxf, to nearest even (rint in the default
 * rounding mode). Overflow gives +-Inf, underflow keeps the sign of v.
 */
static double ref_round(double v, int p, int emin, double maxf)
{
	if (isnan(v) || isinf(v) || v == 0)
		return v;
	int e;
	(void)frexp(v, &e); /* |v| in [2^(e-1), 2^e) */
	int E = e - 1 < emin ? emin : e - 1;
	int q = E - (p - 1); /* the quantum at v is 2^q */
	double r = ldexp(rint(ldexp(v, -q)), q);
	if (fabs(r) > maxf)
		return copysign(INFINITY, v);
	return r;
}

/* Bit pattern of a float16 value (exactly representable, or +-Inf). */
static uint16_t ref_half_bits(double r)
{
	uint16_t s = signbit(r) ? 0x8000u : 0;
	double a = fabs(r);
	if (isinf(a))
		return s | 0x7c00u;
	if (a < 0x1p-14)
		return (uint16_t)(s | (uint16_t)ldexp(a, 24));
	int e;
	(void)frexp(a, &e);
	int E = e - 1;
	uint16_t m = (uint16_t)(ldexp(a, 10 - E) - 1024);
	return (uint16_t)(s | (uint16_t)((E + 15) << 10) | m);
}

/* Bit pattern of a bfloat16 value (exactly representable, or +-Inf). */
static uint16_t ref_bf16_bits(double r)
{
	uint16_t s = signbit(r) ? 0x8000u : 0;
	double a = fabs(r);
	if (isinf(a))
		return s | 0x7f80u;
	if (a < 0x1p-126)
		return (uint16_t)(s | (uint16_t)ldexp(a, 133));
	int e;
	(void)frexp(a, &e);
	int E = e - 1;
	uint16_t m = (uint16_t)(ldexp(a, 7 - E) - 128);
	return (uint16_t)(s | (uint16_t)((E + 127) << 7) | m);
}

static uint16_t ref_float_to_half(double v)
{
	return ref_half_bits(ref_round(v, 11, -14, HALF_MAX));
}

static uint16_t ref_float_to_bf16(double v)
{
	return ref_bf16_bits(ref_round(v, 8, -126, BF16_MAX));
}

/* Expected sum of element i, written to out[i]; NaN sums are canonical. */
static void ref_sum_elem(pcoll_datatype_t dt, void *out, const void *a, const void *b, size_t i)
{
	switch (dt) {
	case PCOLL_FLOAT32: {
		double d = (double)((const float *)a)[i] + (double)((const float *)b)[i];
		((float *)out)[i] = isnan(d) ? u2f(0x7fc00000u) : (float)d;
		break;
	}
	case PCOLL_FLOAT64: {
		double d = ((const double *)a)[i] + ((const double *)b)[i];
		((double *)out)[i] = isnan(d) ? u2d(UINT64_C(0x7ff8000000000000)) : d;
		break;
	}
	case PCOLL_FLOAT16: {
		uint16_t x = ((const uint16_t *)a)[i], y = ((const uint16_t *)b)[i];
		double d = ref_half_value(x) + ref_half_value(y); /* exact */
		((uint16_t *)out)[i] =
		    (half_is_nan(x) || half_is_nan(y) || isnan(d)) ? 0x7e00u : ref_float_to_half(d);
		break;
	}
	case PCOLL_BFLOAT16: {
		uint16_t x = ((const uint16_t *)a)[i], y = ((const uint16_t *)b)[i];
		double d = ref_bf16_value(x) + ref_bf16_value(y);
		((uint16_t *)out)[i] =
		    (bf16_is_nan(x) || bf16_is_nan(y) || isnan(d)) ? 0x7fc0u : ref_float_to_bf16(d);
		break;
	}
	case PCOLL_INT32: {
		int64_t s = (int64_t)((const int32_t *)a)[i] + ((const int32_t *)b)[i];
		uint32_t w = (uint32_t)(uint64_t)s; /* modulo 2^32 */
		memcpy((char *)out + 4 * i, &w, 4);
		break;
	}
	case PCOLL_INT64: {
		int64_t x = ((const int64_t *)a)[i], y = ((const int64_t *)b)[i];
		uint64_t w;
#ifdef __SIZEOF_INT128__
		w = (uint64_t)(unsigned __int128)((__int128)x + y);
#else
		w = (uint64_t)x + (uint64_t)y;
#endif
		memcpy((char *)out + 8 * i, &w, 8);
		break;
	}
	default:
		break;
	}
}

/* ------------------------------------------------------- random operands */

static const uint32_t f32_special[] = {
    0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u,
    0x7f800001u, 0x7fa5a5a5u, 0xffd00001u, 0x7f7fffffu, 0xff7fffffu, 0x00000001u,
    0x80000001u, 0x007fffffu, 0x00800000u, 0x3f800000u, 0xbf800000u, 0x4b800000u,
};

static const uint64_t f64_special[] = {
    UINT64_C(0x0000000000000000), UINT64_C(0x8000000000000000), UINT64_C(0x7ff0000000000000),
    UINT64_C(0xfff0000000000000), UINT64_C(0x7ff8000000000000), UINT64_C(0xfff8000000000000),
    UINT64_C(0x7ff0000000000001), UINT64_C(0x7ffa5a5a5a5a5a5a), UINT64_C(0xfff4000000000003),
    UINT64_C(0x7fefffffffffffff), UINT64_C(0xffefffffffffffff), UINT64_C(0x0000000000000001),
    UINT64_C(0x000fffffffffffff), UINT64_C(0x3ff0000000000000), UINT64_C(0xbff0000000000000),
};

static const uint16_t f16_special[] = {0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c01,
				       0x7d55, 0xfe01, 0x7bff, 0xfbff, 0x0001, 0x8001, 0x03ff,
				       0x0400, 0x3c00, 0xbc00, 0x5000, 0x7a00};

static const uint16_t bf16_special[] = {0x0000, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0xffc0,
					0x7f81, 0x7fa5, 0xffc1, 0x7f7f, 0xff7f, 0x0001,
					0x8001, 0x007f, 0x0080, 0x3f80, 0xbf80, 0x4b80};

#define NELEM(x) (sizeof(x) / sizeof((x)[0]))

/*
 * Random element for index i of a, given the matching element of the other
 * operand (other, may be NULL): a mix of special values (NaNs with payloads,
 * infinities, zeros, extremes), raw random bits, values with the same
 * exponent as the other operand (cancellation, ties) and small integers.
 */
static void gen_elem(pcoll_datatype_t dt, void *buf, size_t i, const void *other)
{
	uint64_t r = rng_next();
	unsigned kind = (unsigned)(r & 7);
	uint64_t bits = rng_next();
	switch (dt) {
	case PCOLL_FLOAT32: {
		uint32_t v = (uint32_t)bits;
		if (kind == 0)
			v = f32_special[(r >> 8) % NELEM(f32_special)];
		else if (kind == 1)
			v = 0x7f800000u | (v & 0x807fffffu) | 1u; /* NaN */
		else if (kind == 2 && other)
			v = (f2u(((const float *)other)[i]) & 0xff800000u) ^ (v & 0x807fffffu);
		else if (kind == 3)
			v = f2u((float)((int32_t)(v % 201u) - 100));
		((float *)buf)[i] = u2f(v);
		break;
	}
	case PCOLL_FLOAT64: {
		uint64_t v = bits;
		if (kind == 0)
			v = f64_special[(r >> 8) % NELEM(f64_special)];
		else if (kind == 1)
			v = UINT64_C(0x7ff0000000000000) | (v & UINT64_C(0x800fffffffffffff)) | 1u;
		else if (kind == 2 && other)
			v = (d2u(((const double *)other)[i]) & UINT64_C(0xfff0000000000000)) ^
			    (v & UINT64_C(0x800fffffffffffff));
		else if (kind == 3)
			v = d2u((double)((int64_t)(v % 201u) - 100));
		((double *)buf)[i] = u2d(v);
		break;
	}
	case PCOLL_FLOAT16:
	case PCOLL_BFLOAT16: {
		uint16_t v = (uint16_t)bits;
		int half = dt == PCOLL_FLOAT16;
		uint16_t expmask = half ? 0x7c00u : 0x7f80u;
		if (kind == 0)
			v = half ? f16_special[(r >> 8) % NELEM(f16_special)]
				 : bf16_special[(r >> 8) % NELEM(bf16_special)];
		else if (kind == 1)
			v = (uint16_t)(expmask | v | 1u); /* NaN */
		else if (kind == 2 && other)
			v = (uint16_t)((((const uint16_t *)other)[i] & expmask) ^
				       (v & (uint16_t)~expmask));
		((uint16_t *)buf)[i] = v;
		break;
	}
	case PCOLL_INT32: {
		uint32_t v = (uint32_t)bits;
		if (kind == 0)
			v = (r & 256) ? 0x7fffffffu - (uint32_t)(r >> 9 & 3)
				      : 0x80000000u + (uint32_t)(r >> 9 & 3);
		memcpy((char *)buf + 4 * i, &v, 4);
		break;
	}
	case PCOLL_INT64: {
		uint64_t v = bits;
		if (kind == 0)
			v = (r & 256) ? UINT64_C(0x7fffffffffffffff) - (r >> 9 & 3)
				      : UINT64_C(0x8000000000000000) + (r >> 9 & 3);
		memcpy((char *)buf + 8 * i, &v, 8);
		break;
	}
	default:
		break;
	}
}

static void gen(pcoll_datatype_t dt, void *a, void *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		gen_elem(dt, a, i, NULL);
		gen_elem(dt, b, i, a);
	}
}

static void *xmalloc(size_t sz)
{
	void *p = malloc(sz ? sz : 1);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* First differing element index, or n. */
static size_t first_diff(const void *x, const void *y, size_t n, size_t es)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp((const char *)x + i * es, (const char *)y + i * es, es) != 0)
			return i;
	return n;
}

static uint64_t elem_bits(const void *p, size_t i, size_t es)
{
	uint64_t v = 0;
	switch (es) {
	case 2: {
		uint16_t t;
		memcpy(&t, (const char *)p + i * es, 2);
		v = t;
		break;
	}
	case 4: {
		uint32_t t;
		memcpy(&t, (const char *)p + i * es, 4);
		v = t;
		break;
	}
	default:
		memcpy(&v, (const char *)p + i * es, 8);
		break;
	}
	return v;
}

static const pcoll_datatype_t all_dts[] = {PCOLL_FLOAT32,  PCOLL_FLOAT64, PCOLL_FLOAT16,
					   PCOLL_BFLOAT16, PCOLL_INT32,	  PCOLL_INT64};

/* ------------------------------------------------------------------ tests */

START_TEST(test_dt_size)
{
	ck_assert_uint_eq(pc_dt_size(PCOLL_FLOAT32), 4);
	ck_assert_uint_eq(pc_dt_size(PCOLL_FLOAT64), 8);
	ck_assert_uint_eq(pc_dt_size(PCOLL_FLOAT16), 2);
	ck_assert_uint_eq(pc_dt_size(PCOLL_BFLOAT16), 2);
	ck_assert_uint_eq(pc_dt_size(PCOLL_INT32), 4);
	ck_assert_uint_eq(pc_dt_size(PCOLL_INT64), 8);
	ck_assert_uint_eq(pc_dt_size(PCOLL_DATATYPE_COUNT), 0);
	ck_assert_uint_eq(pc_dt_size((pcoll_datatype_t)-1), 0);
	ck_assert_uint_eq(pc_dt_size((pcoll_datatype_t)1000), 0);
}
END_TEST

/* n == 0 writes nothing (and takes NULL); an invalid datatype writes nothing. */
START_TEST(test_n0_and_invalid)
{
	unsigned char out[64], a[64], b[64], before[64];
	for (size_t i = 0; i < sizeof(a); i++) {
		a[i] = (unsigned char)(i + 1);
		b[i] = (unsigned char)(2 * i + 3);
		out[i] = 0xa5;
	}
	memcpy(before, out, sizeof(out));
	for (size_t k = 0; k < NELEM(all_dts); k++) {
		pc_reduce_sum(all_dts[k], out, a, b, 0);
		ck_assert_mem_eq(out, before, sizeof(out));
		pc_reduce_sum(all_dts[k], NULL, NULL, NULL, 0);
	}
	pc_reduce_sum(PCOLL_DATATYPE_COUNT, out, a, b, 8);
	ck_assert_mem_eq(out, before, sizeof(out));
	pc_reduce_sum((pcoll_datatype_t)-1, out, a, b, 8);
	ck_assert_mem_eq(out, before, sizeof(out));
}
END_TEST

START_TEST(test_int32_wrap)
{
	const int32_t a[] = {INT32_MAX, INT32_MIN, -1, 0, INT32_MAX, INT32_MIN, 123456789, -5};
	const int32_t b[] = {1, -1, -1, 0, INT32_MAX, INT32_MIN, 987654321, 3};
	const int32_t want[] = {INT32_MIN, INT32_MAX, -2, 0, -2, 0, 1111111110, -2};
	int32_t out[8], io[8];
	pc_reduce_sum(PCOLL_INT32, out, a, b, 8);
	ck_assert_mem_eq(out, want, sizeof(want));
	memcpy(io, b, sizeof(io));
	pc_reduce_sum(PCOLL_INT32, io, a, io, 8);
	ck_assert_mem_eq(io, want, sizeof(want));
	/* 17 elements: crosses a vector block, with a scalar tail */
	int32_t x[17], y[17], z[17];
	for (int i = 0; i < 17; i++) {
		x[i] = INT32_MAX - i;
		y[i] = i + 1;
	}
	pc_reduce_sum(PCOLL_INT32, z, x, y, 17);
	for (int i = 0; i < 17; i++)
		ck_assert_int_eq(z[i], INT32_MIN);
}
END_TEST

START_TEST(test_int64_wrap)
{
	const int64_t a[] = {INT64_MAX, INT64_MIN, -1, INT64_MAX, INT64_MIN, INT64_C(1) << 40, 7};
	const int64_t b[] = {1, -1, -1, INT64_MAX, INT64_MIN, INT64_C(1) << 40, -9};
	const int64_t want[] = {INT64_MIN, INT64_MAX, -2, -2, 0, INT64_C(1) << 41, -2};
	int64_t out[7], io[7];
	pc_reduce_sum(PCOLL_INT64, out, a, b, 7);
	ck_assert_mem_eq(out, want, sizeof(want));
	memcpy(io, a, sizeof(io));
	pc_reduce_sum(PCOLL_INT64, io, io, b, 7);
	ck_assert_mem_eq(io, want, sizeof(want));
}
END_TEST

START_TEST(test_f32_values)
{
	const uint32_t a[] = {
	    0x3fc00000u, /* 1.5 */
	    0x3dcccccdu, /* 0.1f */
	    0x80000000u, /* -0 */
	    0x00000000u, /* +0 */
	    0x7f800000u, /* +Inf */
	    0x7f800000u, /* +Inf */
	    0x7f7fffffu, /* FLT_MAX */
	    0x00000001u, /* smallest subnormal */
	    0x7fc00001u, /* qNaN payload 1 */
	    0x3f800000u, /* 1 */
	    0x4b800000u, /* 2^24 */
	    0x4b800000u, /* 2^24 */
	};
	const uint32_t b[] = {
	    0x40100000u, /* 2.25 */
	    0x3e4ccccdu, /* 0.2f */
	    0x80000000u, /* -0 */
	    0x80000000u, /* -0 */
	    0x3f800000u, /* 1 */
	    0xff800000u, /* -Inf */
	    0x7f7fffffu, /* FLT_MAX */
	    0x00000001u, /* smallest subnormal */
	    0x7fc00002u, /* qNaN payload 2 */
	    0x33800000u, /* 2^-24: tie, stays 1 */
	    0x3f800000u, /* 1: tie at 2^24 + 1, to even 2^24 */
	    0x40400000u, /* 3: tie at 2^24 + 3, to even 2^24 + 4 */
	};
	const uint32_t want[] = {
	    0x40700000u,	      /* 3.75 */
	    0x3e99999au,	      /* 0.3f rounded up */
	    0x80000000u,	      /* -0 */
	    0x00000000u,	      /* +0 */
	    0x7f800000u, 0x7fc00000u, /* Inf - Inf: canonical NaN */
	    0x7f800000u, 0x00000002u, 0x7fc00000u, 0x3f800000u, 0x4b800000u, 0x4b800002u,
	};
	size_t n = NELEM(a);
	float fa[NELEM(a)], fb[NELEM(a)], out[NELEM(a)];
	for (size_t i = 0; i < n; i++) {
		fa[i] = u2f(a[i]);
		fb[i] = u2f(b[i]);
	}
	pc_reduce_sum(PCOLL_FLOAT32, out, fa, fb, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(f2u(out[i]) == want[i], "f32 %zu: %08x + %08x = %08x, want %08x", i,
			      a[i], b[i], f2u(out[i]), want[i]);
	pc_reduce_sum(PCOLL_FLOAT32, out, fb, fa, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(f2u(out[i]) == want[i], "f32 swapped %zu: %08x, want %08x", i,
			      f2u(out[i]), want[i]);
}
END_TEST

START_TEST(test_f64_values)
{
	const uint64_t a[] = {UINT64_C(0x3fb999999999999a), /* 0.1 */
			      UINT64_C(0x8000000000000000), UINT64_C(0x7ff0000000000000),
			      UINT64_C(0x7fefffffffffffff), UINT64_C(0x7ff8000000000001),
			      UINT64_C(0x4340000000000000), /* 2^53 */
			      UINT64_C(0x0000000000000001)};
	const uint64_t b[] = {UINT64_C(0x3fc999999999999a), /* 0.2 */
			      UINT64_C(0x0000000000000000), UINT64_C(0xfff0000000000000),
			      UINT64_C(0x7fefffffffffffff), UINT64_C(0xfff8000000000002),
			      UINT64_C(0x3ff0000000000000), /* 1: tie, to even 2^53 */
			      UINT64_C(0x8000000000000001)};
	const uint64_t want[] = {UINT64_C(0x3fd3333333333334), /* 0.30000000000000004 */
				 UINT64_C(0x0000000000000000), UINT64_C(0x7ff8000000000000),
				 UINT64_C(0x7ff0000000000000), UINT64_C(0x7ff8000000000000),
				 UINT64_C(0x4340000000000000), UINT64_C(0x0000000000000000)};
	size_t n = NELEM(a);
	double da[NELEM(a)], db[NELEM(a)], out[NELEM(a)];
	for (size_t i = 0; i < n; i++) {
		da[i] = u2d(a[i]);
		db[i] = u2d(b[i]);
	}
	pc_reduce_sum(PCOLL_FLOAT64, out, da, db, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(d2u(out[i]) == want[i], "f64 %zu: %016" PRIx64 ", want %016" PRIx64,
			      i, d2u(out[i]), want[i]);
	pc_reduce_sum(PCOLL_FLOAT64, db, da, db, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(d2u(db[i]) == want[i], "f64 in place %zu: %016" PRIx64, i,
			      d2u(db[i]));
}
END_TEST

static void check_pairs16(pcoll_datatype_t dt, const uint16_t (*t)[3], size_t n, const char *what)
{
	uint16_t *a = xmalloc(n * 2), *b = xmalloc(n * 2), *out = xmalloc(n * 2);
	for (size_t i = 0; i < n; i++) {
		a[i] = t[i][0];
		b[i] = t[i][1];
	}
	pc_reduce_sum(dt, out, a, b, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(out[i] == t[i][2], "%s %zu: %04x + %04x = %04x, want %04x", what, i,
			      a[i], b[i], out[i], t[i][2]);
	pc_reduce_sum(dt, out, b, a, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(out[i] == t[i][2], "%s swapped %zu: %04x, want %04x", what, i, out[i],
			      t[i][2]);
	free(a);
	free(b);
	free(out);
}

START_TEST(test_f16_values)
{
	static const uint16_t t[][3] = {
	    {0x3c00, 0x3c00, 0x4000}, /* 1 + 1 = 2 */
	    {0x3e00, 0x4080, 0x4380}, /* 1.5 + 2.25 = 3.75 */
	    {0x7bff, 0x5000, 0x7c00}, /* 65504 + 32: overflow to +Inf */
	    {0xfbff, 0xd000, 0xfc00}, /* -65504 - 32: -Inf */
	    {0x7bff, 0x4c00, 0x7c00}, /* 65504 + 16 = 65520: tie, to even = Inf */
	    {0x7bff, 0x4bfe, 0x7bff}, /* 65504 + 15.97: stays 65504 */
	    {0x7bff, 0x4800, 0x7bff}, /* 65504 + 8 */
	    {0x7bff, 0x7bff, 0x7c00}, /* max + max */
	    {0x7c00, 0x3c00, 0x7c00}, /* Inf + 1 */
	    {0x7c00, 0xfc00, 0x7e00}, /* Inf - Inf: canonical NaN */
	    {0x7e01, 0x3c00, 0x7e00}, /* NaN + 1 */
	    {0x7c01, 0xfe55, 0x7e00}, /* sNaN + -qNaN */
	    {0x0001, 0x0001, 0x0002}, /* subnormals */
	    {0x03ff, 0x0001, 0x0400}, /* largest subnormal + min = min normal */
	    {0x0200, 0x0200, 0x0400}, /* 2^-15 + 2^-15 */
	    {0x0401, 0x8400, 0x0001}, /* normal - normal = subnormal */
	    {0x8001, 0x0001, 0x0000}, /* x - x = +0 */
	    {0x8000, 0x8000, 0x8000}, /* -0 + -0 = -0 */
	    {0x0000, 0x8000, 0x0000}, /* +0 + -0 = +0 */
	    {0x3c00, 0x1000, 0x3c00}, /* 1 + 2^-11: tie, to even 1 */
	    {0x3c01, 0x1000, 0x3c02}, /* (1 + 2^-10) + 2^-11: tie, to even */
	    {0x3c00, 0x1001, 0x3c01}, /* 1 + just over half an ulp: up */
	    {0x6800, 0x3c00, 0x6800}, /* 2048 + 1: tie at 2049, to even 2048 */
	    {0x6800, 0x4000, 0x6801}, /* 2048 + 2 */
	    {0x6800, 0x4200, 0x6802}, /* 2048 + 3: tie at 2051, to even 2052 */
	};
	check_pairs16(PCOLL_FLOAT16, t, NELEM(t), "f16");
}
END_TEST

START_TEST(test_bf16_values)
{
	static const uint16_t t[][3] = {
	    {0x3f80, 0x3f80, 0x4000}, /* 1 + 1 */
	    {0x3fc0, 0x4010, 0x4070}, /* 1.5 + 2.25 */
	    {0x7f7f, 0x7f7f, 0x7f80}, /* max + max: +Inf */
	    {0xff7f, 0xff7f, 0xff80}, /* -Inf */
	    {0x7f7f, 0x7b00, 0x7f80}, /* max + half an ulp (2^119): tie, to even = Inf */
	    {0x7f7f, 0x7aff, 0x7f7f}, /* max + a bit less: stays max */
	    {0x7f80, 0xff80, 0x7fc0}, /* Inf - Inf */
	    {0x7f81, 0x3f80, 0x7fc0}, /* sNaN + 1 */
	    {0xffc1, 0x7fc2, 0x7fc0}, /* NaN + NaN */
	    {0x0001, 0x0001, 0x0002}, /* subnormals */
	    {0x007f, 0x0001, 0x0080}, /* to min normal */
	    {0x8001, 0x0001, 0x0000}, /* +0 */
	    {0x8000, 0x8000, 0x8000}, /* -0 */
	    {0x3f80, 0x3b80, 0x3f80}, /* 1 + 2^-8: tie, to even 1 */
	    {0x3f81, 0x3b80, 0x3f82}, /* (1 + 2^-7) + 2^-8: tie, to even */
	    {0x3f80, 0x3b81, 0x3f81}, /* just over: up */
	    {0x4380, 0x3f80, 0x4380}, /* 256 + 1: tie at 257, to even 256 */
	    {0x4380, 0x4040, 0x4382}, /* 256 + 3: tie at 259, to even 260 */
	};
	check_pairs16(PCOLL_BFLOAT16, t, NELEM(t), "bf16");
}
END_TEST

/* Every float16 value through float and back: exact, NaNs stay quiet NaNs. */
START_TEST(test_half_roundtrip_exhaustive)
{
	for (uint32_t h = 0; h <= 0xffff; h++) {
		float f = pc_half_to_float((uint16_t)h);
		uint16_t back = pc_float_to_half(f);
		if (half_is_nan((uint16_t)h)) {
			ck_assert_msg(isnan(f), "half %04x -> not NaN", h);
			ck_assert_msg(f2u(f) & 0x00400000u, "half %04x -> signaling float", h);
			ck_assert_msg(half_is_nan(back) && (back & 0x0200u),
				      "half %04x -> %04x, not a quiet NaN", h, back);
			ck_assert_msg((back & 0x8000u) == (h & 0x8000u), "NaN %04x lost sign", h);
			ck_assert_msg((back & 0x1ffu) == (h & 0x1ffu), "NaN %04x lost payload", h);
		} else {
			double v = ref_half_value((uint16_t)h);
			ck_assert_msg(f2u(f) == f2u((float)v), "half %04x -> %08x, want %08x", h,
				      f2u(f), f2u((float)v));
			ck_assert_msg(back == h, "half %04x -> %a -> %04x", h, (double)f, back);
		}
	}
}
END_TEST

START_TEST(test_bf16_roundtrip_exhaustive)
{
	for (uint32_t h = 0; h <= 0xffff; h++) {
		float f = pc_bf16_to_float((uint16_t)h);
		uint16_t back = pc_float_to_bf16(f);
		if (bf16_is_nan((uint16_t)h)) {
			ck_assert_msg(isnan(f), "bf16 %04x -> not NaN", h);
			ck_assert_msg(f2u(f) & 0x00400000u, "bf16 %04x -> signaling float", h);
			ck_assert_msg(bf16_is_nan(back) && (back & 0x0040u),
				      "bf16 %04x -> %04x, not a quiet NaN", h, back);
			ck_assert_msg((back & 0x803fu) == (h & 0x803fu), "NaN %04x lost bits", h);
		} else {
			double v = ref_bf16_value((uint16_t)h);
			ck_assert_msg(f2u(f) == f2u((float)v), "bf16 %04x -> %08x, want %08x", h,
				      f2u(f), f2u((float)v));
			ck_assert_msg(back == h, "bf16 %04x -> %04x", h, back);
		}
	}
}
END_TEST

/*
 * Every pair of adjacent finite float16 values (both signs, subnormals
 * included, and the pair max/"next" whose upper end is Inf): the float exactly
 * halfway goes to the one with an even significand; one float ulp below and
 * above go to the nearer one. Also, through pc_reduce_sum, lo + (hi - lo) / 2
 * where that is representable as a sum of two halves.
 */
static void check_ties(int half)
{
	uint16_t top = half ? 0x7bff : 0x7f7f; /* largest finite */
	uint16_t inf = half ? 0x7c00 : 0x7f80;
	for (uint32_t s = 0; s <= 0x8000u; s += 0x8000u) {
		for (uint32_t lo = 0; lo <= top; lo++) {
			uint16_t hlo = (uint16_t)(s | lo), hhi = (uint16_t)(s | (lo + 1));
			double vlo = half ? ref_half_value(hlo) : ref_bf16_value(hlo);
			double vhi;
			if (lo == top) /* the next value with unbounded exponent */
				vhi = half ? (s ? -65536.0 : 65536.0) : (s ? -0x1p128 : 0x1p128);
			else
				vhi = half ? ref_half_value(hhi) : ref_bf16_value(hhi);
			double mid = (vlo + vhi) / 2; /* exact, and exact in float */
			float fm = (float)mid;
			ck_assert(fm == mid);
			uint16_t even = (lo & 1) ? hhi : hlo;
			if (lo == top)
				even = (uint16_t)(s | inf); /* top is odd: ties go to Inf */
			uint16_t got = half ? pc_float_to_half(fm) : pc_float_to_bf16(fm);
			ck_assert_msg(got == even, "%s tie %a: got %04x, want %04x",
				      half ? "half" : "bf16", mid, got, even);
			/* one float ulp toward lo and toward hi */
			uint32_t mb = f2u(fm);
			float below = u2f(mb - 1), above = u2f(mb + 1); /* |mid| > 0 */
			uint16_t glo = half ? pc_float_to_half(below) : pc_float_to_bf16(below);
			uint16_t ghi = half ? pc_float_to_half(above) : pc_float_to_bf16(above);
			uint16_t want_hi = lo == top ? (uint16_t)(s | inf) : hhi;
			ck_assert_msg(glo == hlo, "%s below tie %a: got %04x, want %04x",
				      half ? "half" : "bf16", (double)below, glo, hlo);
			ck_assert_msg(ghi == want_hi, "%s above tie %a: got %04x, want %04x",
				      half ? "half" : "bf16", (double)above, ghi, want_hi);
		}
	}
}

START_TEST(test_half_ties_exhaustive)
{
	check_ties(1);
}
END_TEST

START_TEST(test_bf16_ties_exhaustive)
{
	check_ties(0);
}
END_TEST

/* Random floats of every magnitude, against the rint-based reference. */
START_TEST(test_float_to_16_random)
{
	rng_seed(SEED ^ 0x16);
	for (int k = 0; k < 2000000; k++) {
		uint32_t x = (uint32_t)rng_next();
		if (k & 1) /* concentrate on the float16 range and just around it */
			x = (x & 0x807fffffu) | ((0x60u + (uint32_t)(rng_next() % 0x32u)) << 23);
		float f = u2f(x);
		if (isnan(f))
			continue;
		uint16_t h = pc_float_to_half(f), wh = ref_float_to_half(f);
		ck_assert_msg(h == wh, "float %08x -> half %04x, want %04x", x, h, wh);
		uint16_t g = pc_float_to_bf16(f), wg = ref_float_to_bf16(f);
		ck_assert_msg(g == wg, "float %08x -> bf16 %04x, want %04x", x, g, wg);
	}
	/* specific points */
	ck_assert_uint_eq(pc_float_to_half(65519.996f), 0x7bff);
	ck_assert_uint_eq(pc_float_to_half(65520.0f), 0x7c00);
	ck_assert_uint_eq(pc_float_to_half(1e10f), 0x7c00);
	ck_assert_uint_eq(pc_float_to_half(-1e10f), 0xfc00);
	ck_assert_uint_eq(pc_float_to_half(0x1p-25f), 0x0000);	      /* tie to even 0 */
	ck_assert_uint_eq(pc_float_to_half(-0x1p-25f), 0x8000);	      /* -0 */
	ck_assert_uint_eq(pc_float_to_half(0x1.000002p-25f), 0x0001); /* above the tie */
	ck_assert_uint_eq(pc_float_to_half(0x1.8p-24f), 0x0002);      /* 1.5 ulp: to even 2 */
	ck_assert_uint_eq(pc_float_to_half(0x1p-26f), 0x0000);
	ck_assert_uint_eq(pc_float_to_half(u2f(0x00000001u)), 0x0000); /* float subnormal */
	ck_assert_uint_eq(pc_float_to_half(u2f(0x80000001u)), 0x8000);
	ck_assert_uint_eq(pc_float_to_half(0x1.ffcp-15f), 0x0400); /* rounds up to normal */
	ck_assert_uint_eq(pc_float_to_half(-0.0f), 0x8000);
	ck_assert_uint_eq(pc_float_to_half(u2f(0x7f800000u)), 0x7c00);
	ck_assert_uint_eq(pc_float_to_half(u2f(0xff800000u)), 0xfc00);
	ck_assert_uint_eq(pc_float_to_half(u2f(0x7f800001u)) & 0x7e00u, 0x7e00); /* sNaN: quiet */
	ck_assert_uint_eq(pc_float_to_half(u2f(0xffc00000u)), 0xfe00);
	ck_assert_uint_eq(pc_float_to_bf16(u2f(0x7f7fffffu)), 0x7f80); /* FLT_MAX rounds up */
	ck_assert_uint_eq(pc_float_to_bf16(u2f(0x7f7f7fffu)), 0x7f7f);
	ck_assert_uint_eq(pc_float_to_bf16(u2f(0x00008000u)), 0x0000); /* subnormal tie */
	ck_assert_uint_eq(pc_float_to_bf16(u2f(0x00018000u)), 0x0002);
	ck_assert_uint_eq(pc_float_to_bf16(u2f(0x7f800001u)), 0x7fc0); /* sNaN: quiet */
	ck_assert_uint_eq(pc_float_to_bf16(u2f(0xff800000u)), 0xff80);
	ck_assert_uint_eq(pc_float_to_bf16(-0.0f), 0x8000);
}
END_TEST

/* Every float16 a plus a spread of b values, against the reference. */
START_TEST(test_f16_sum_sweep)
{
	const pcoll_datatype_t dt = (pcoll_datatype_t)(_i == 0 ? PCOLL_FLOAT16 : PCOLL_BFLOAT16);
	enum { NB = 48 };
	uint16_t *a = xmalloc(65536 * 2), *b = xmalloc(65536 * 2);
	uint16_t *out = xmalloc(65536 * 2), *want = xmalloc(65536 * 2);
	rng_seed(SEED ^ (uint64_t)(0x20 + _i));
	for (uint32_t i = 0; i < 65536; i++)
		a[i] = (uint16_t)i;
	for (int k = 0; k < NB; k++) {
		uint16_t bv;
		if (k < 16)
			bv = dt == PCOLL_FLOAT16 ? f16_special[k] : bf16_special[k];
		else
			bv = (uint16_t)rng_next();
		for (uint32_t i = 0; i < 65536; i++) {
			b[i] = (k & 1) ? (uint16_t)(bv ^ (i & 0x3ff)) : bv;
			ref_sum_elem(dt, want, a, b, i);
		}
		pc_reduce_sum(dt, out, a, b, 65536);
		size_t d = first_diff(out, want, 65536, 2);
		ck_assert_msg(d == 65536, "dt %d: %04x + %04x = %04x, want %04x", (int)dt, a[d],
			      b[d], out[d], want[d]);
	}
	free(a);
	free(b);
	free(out);
	free(want);
}
END_TEST

enum alias_mode { AL_NONE, AL_OUT_A, AL_OUT_B, AL_OUT_AB, AL_A_B, AL_COUNT };

static const char *alias_name[] = {"out,a,b", "out==a", "out==b", "out==a==b", "a==b"};

/*
 * For each datatype (_i), each length (0, 1, odd, around the vector block)
 * and each aliasing mode: random operands against the element reference,
 * with guard elements before and after out that must stay untouched.
 */
START_TEST(test_lengths_and_aliasing)
{
	static const size_t lengths[] = {0,  1,	 2,  3,	 5,  7,	 8,   9,   15,	16,  17,   31,
					 32, 33, 47, 63, 64, 65, 100, 127, 255, 257, 1000, 1023};
	const pcoll_datatype_t dt = all_dts[_i];
	const size_t es = pc_dt_size(dt);
	const size_t G = 4; /* guard elements */
	rng_seed(SEED ^ (uint64_t)(0x100 + _i));
	for (size_t li = 0; li < NELEM(lengths); li++) {
		size_t n = lengths[li];
		for (int mode = 0; mode < AL_COUNT; mode++) {
			for (int rep = 0; rep < 4; rep++) {
				unsigned char *buf = xmalloc((n + 2 * G) * es);
				unsigned char *a = xmalloc((n + 1) * es),
					      *b = xmalloc((n + 1) * es);
				unsigned char *want = xmalloc((n + 1) * es);
				unsigned char *out = buf + G * es;
				gen(dt, a, b, n);
				if (mode == AL_OUT_AB || mode == AL_A_B)
					memcpy(b, a, n * es);
				for (size_t i = 0; i < n; i++)
					ref_sum_elem(dt, want, a, b, i);
				memset(buf, 0x5a, (n + 2 * G) * es);
				const void *pa = a, *pb = b;
				switch (mode) {
				case AL_OUT_A:
					memcpy(out, a, n * es);
					pa = out;
					break;
				case AL_OUT_B:
					memcpy(out, b, n * es);
					pb = out;
					break;
				case AL_OUT_AB:
					memcpy(out, a, n * es);
					pa = pb = out;
					break;
				case AL_A_B:
					pb = pa;
					break;
				default:
					break;
				}
				pc_reduce_sum(dt, out, pa, pb, n);
				size_t d = first_diff(out, want, n, es);
				ck_assert_msg(d == n,
					      "dt %d n %zu %s: element %zu = %" PRIx64
					      ", want %" PRIx64,
					      (int)dt, n, alias_name[mode], d,
					      elem_bits(out, d, es), elem_bits(want, d, es));
				for (size_t i = 0; i < G * es; i++) {
					ck_assert_msg(buf[i] == 0x5a,
						      "dt %d n %zu %s: wrote before", (int)dt, n,
						      alias_name[mode]);
					ck_assert_msg(out[n * es + i] == 0x5a,
						      "dt %d n %zu %s: wrote past the end", (int)dt,
						      n, alias_name[mode]);
				}
				free(buf);
				free(a);
				free(b);
				free(want);
			}
		}
	}
}
END_TEST

/*
 * sum(a, b) and sum(b, a) are identical bytes, for out distinct and in place,
 * over many random values with many NaN/NaN pairs of different payloads.
 */
START_TEST(test_commutative)
{
	const pcoll_datatype_t dt = all_dts[_i];
	const size_t es = pc_dt_size(dt);
	const size_t n = 200003;
	unsigned char *a = xmalloc(n * es), *b = xmalloc(n * es);
	unsigned char *ab = xmalloc(n * es), *ba = xmalloc(n * es), *io = xmalloc(n * es);
	rng_seed(SEED ^ (uint64_t)(0x200 + _i));
	gen(dt, a, b, n);
	pc_reduce_sum(dt, ab, a, b, n);
	pc_reduce_sum(dt, ba, b, a, n);
	size_t d = first_diff(ab, ba, n, es);
	ck_assert_msg(
	    d == n, "dt %d: a+b != b+a at %zu: %" PRIx64 " + %" PRIx64 ": %" PRIx64 " vs %" PRIx64,
	    (int)dt, d, elem_bits(a, d, es), elem_bits(b, d, es), elem_bits(ab, d, es),
	    elem_bits(ba, d, es));
	memcpy(io, b, n * es); /* io = b; io += a */
	pc_reduce_sum(dt, io, io, a, n);
	d = first_diff(ab, io, n, es);
	ck_assert_msg(d == n, "dt %d: in place b+a differs at %zu", (int)dt, d);
	memcpy(io, a, n * es); /* io = a; io = b + io */
	pc_reduce_sum(dt, io, b, io, n);
	d = first_diff(ab, io, n, es);
	ck_assert_msg(d == n, "dt %d: in place (out==b) differs at %zu", (int)dt, d);
	free(a);
	free(b);
	free(ab);
	free(ba);
	free(io);
}
END_TEST

static Suite *reduce_suite(void)
{
	Suite *s = suite_create("reduce");
	TCase *tc = tcase_create("values");
	tcase_add_test(tc, test_dt_size);
	tcase_add_test(tc, test_n0_and_invalid);
	tcase_add_test(tc, test_int32_wrap);
	tcase_add_test(tc, test_int64_wrap);
	tcase_add_test(tc, test_f32_values);
	tcase_add_test(tc, test_f64_values);
	tcase_add_test(tc, test_f16_values);
	tcase_add_test(tc, test_bf16_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("conversions");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_half_roundtrip_exhaustive);
	tcase_add_test(tc, test_bf16_roundtrip_exhaustive);
	tcase_add_test(tc, test_half_ties_exhaustive);
	tcase_add_test(tc, test_bf16_ties_exhaustive);
	tcase_add_test(tc, test_float_to_16_random);
	tcase_add_loop_test(tc, test_f16_sum_sweep, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("kernels");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_lengths_and_aliasing, 0, (int)NELEM(all_dts));
	tcase_add_loop_test(tc, test_commutative, 0, (int)NELEM(all_dts));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(reduce_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
