/* math.c -- jets for unsigned arithmetic: Hoon's section 1a (add, dec, div,
 * dvr, gte, gth, lte, lth, max, min, mod, mul, sub) and 2g (pow, sqt).
 *
 * Crashes the Nock reaches in a step or two (dec of 0, division by 0) are
 * declined, so the user sees Hoon's own trace ("decrement-underflow",
 * "divide-by-zero").  Subtraction underflow is declined only when the Nock
 * would get there quickly (it counts both operands down to zero first);
 * otherwise the jet crashes with the same words.
 */
#include "interp/jets/jet.h"

#include <gmp.h>
#include <string.h>

#include "interp/jets/atom.h"

/* An underflowing (sub a b) whose a has at most this many bits is left to
 * the Nock, which reaches Hoon's own crash in about a steps. */
#define MATH_NOCK_UNDERFLOW_MAX_BITS 16

static enum nock_jet_result jet_add(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_two_atoms(jets_sample(call), &a, &b))
        return NOCK_JET_DECLINED;
    *product = jets_atom_add(call->region, a, b);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_dec(struct jets_call *call, noun *product)
{
    noun a = jets_sample(call);
    if (!noun_is_atom(a) || a == 0)
        return NOCK_JET_DECLINED;
    *product = jets_atom_subtract(call->region, a, 1);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_div(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_two_atoms(jets_sample(call), &a, &b) || b == 0)
        return NOCK_JET_DECLINED;
    jets_atom_divide(call->region, a, b, product, NULL);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_dvr(struct jets_call *call, noun *product)
{
    noun a, b, quotient, remainder;
    if (!jets_two_atoms(jets_sample(call), &a, &b) || b == 0)
        return NOCK_JET_DECLINED;
    jets_atom_divide(call->region, a, b, &quotient, &remainder);
    *product = noun_cell_new(call->region, quotient, remainder);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_mod(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_two_atoms(jets_sample(call), &a, &b) || b == 0)
        return NOCK_JET_DECLINED;
    jets_atom_divide(call->region, a, b, NULL, product);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_mul(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_two_atoms(jets_sample(call), &a, &b))
        return NOCK_JET_DECLINED;
    *product = jets_atom_multiply(call->region, a, b);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_sub(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_two_atoms(jets_sample(call), &a, &b))
        return NOCK_JET_DECLINED;
    if (jets_atom_compare(a, b) < 0) {
        if (noun_atom_bit_length(a) <= MATH_NOCK_UNDERFLOW_MAX_BITS)
            return NOCK_JET_DECLINED;
        call->reason = "subtract-underflow";
        return NOCK_JET_CRASH;
    }
    *product = jets_atom_subtract(call->region, a, b);
    return NOCK_JET_DONE;
}

/* The comparisons share one shape: compare, then map the sign to & or |. */
static enum nock_jet_result compare_with(struct jets_call *call, noun *product, bool (*holds)(int sign))
{
    noun a, b;
    if (!jets_two_atoms(jets_sample(call), &a, &b))
        return NOCK_JET_DECLINED;
    *product = holds(jets_atom_compare(a, b)) ? JETS_YES : JETS_NO;
    return NOCK_JET_DONE;
}

static bool sign_greater(int sign) { return sign > 0; }
static bool sign_greater_or_equal(int sign) { return sign >= 0; }
static bool sign_less(int sign) { return sign < 0; }
static bool sign_less_or_equal(int sign) { return sign <= 0; }

static enum nock_jet_result jet_gth(struct jets_call *call, noun *product)
{
    return compare_with(call, product, sign_greater);
}

static enum nock_jet_result jet_gte(struct jets_call *call, noun *product)
{
    return compare_with(call, product, sign_greater_or_equal);
}

static enum nock_jet_result jet_lth(struct jets_call *call, noun *product)
{
    return compare_with(call, product, sign_less);
}

static enum nock_jet_result jet_lte(struct jets_call *call, noun *product)
{
    return compare_with(call, product, sign_less_or_equal);
}

static enum nock_jet_result jet_max(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_two_atoms(jets_sample(call), &a, &b))
        return NOCK_JET_DECLINED;
    *product = jets_atom_compare(a, b) > 0 ? a : b;
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_min(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_two_atoms(jets_sample(call), &a, &b))
        return NOCK_JET_DECLINED;
    *product = jets_atom_compare(a, b) < 0 ? a : b;
    return NOCK_JET_DONE;
}

/* (pow a b): square-and-multiply from the top bit of b down. */
static enum nock_jet_result jet_pow(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_two_atoms(jets_sample(call), &a, &b))
        return NOCK_JET_DECLINED;
    if (b == 0) {
        *product = 1;
        return NOCK_JET_DONE;
    }
    if (a == 0 || a == 1) {
        *product = a;
        return NOCK_JET_DONE;
    }
    uint64_t exponent;
    /* anything above 1 to an exponent of 2^64 has more bits than memory */
    if (!jets_atom_to_u64(b, &exponent))
        return NOCK_JET_DECLINED;
    noun result = 1;
    for (int bit = 63 - __builtin_clzll(exponent); bit >= 0; bit--) {
        result = jets_atom_multiply(call->region, result, result);
        if ((exponent >> bit) & 1)
            result = jets_atom_multiply(call->region, result, a);
    }
    *product = result;
    return NOCK_JET_DONE;
}

/* (sqt a): [p q] with p the integer square root and q = a - p*p. */
static enum nock_jet_result jet_sqt(struct jets_call *call, noun *product)
{
    noun a = jets_sample(call);
    if (!noun_is_atom(a))
        return NOCK_JET_DECLINED;
    if (a == 0) {
        *product = noun_cell_new(call->region, 0, 0);
        return NOCK_JET_DONE;
    }
    uint64_t single;
    size_t count;
    const uint64_t *words = noun_atom_words(a, &single, &count);
    uint64_t copy = single;
    if (words == &single)
        words = &copy;
    struct noun_atom *root = noun_atom_alloc(call->region, (count + 1) / 2);
    struct noun_atom *rest = noun_atom_alloc(call->region, count);
    memset(rest->words, 0, count * sizeof(uint64_t));
    mp_size_t rest_count = mpn_sqrtrem((mp_limb_t *)root->words, (mp_limb_t *)rest->words,
                                       (const mp_limb_t *)words, (mp_size_t)count);
    (void)rest_count;
    *product = noun_cell_new(call->region, noun_atom_normalize(root), noun_atom_normalize(rest));
    return NOCK_JET_DONE;
}

static const struct jets_arm math_arms[] = {
    { "one/add", 2, jet_add }, { "one/dec", 2, jet_dec }, { "one/div", 2, jet_div },
    { "one/dvr", 2, jet_dvr }, { "one/gte", 2, jet_gte }, { "one/gth", 2, jet_gth },
    { "one/lte", 2, jet_lte }, { "one/lth", 2, jet_lth }, { "one/max", 2, jet_max },
    { "one/min", 2, jet_min }, { "one/mod", 2, jet_mod }, { "one/mul", 2, jet_mul },
    { "one/sub", 2, jet_sub }, { "one/two/pow", 2, jet_pow }, { "one/two/sqt", 2, jet_sqt },
};

const struct jets_family jets_family_math = { "math", math_arms, sizeof math_arms / sizeof math_arms[0] };
