/* The SDK's vectorisable exp and erf (fastmath.h): accurate over the range
 * softmax and GELU use, and defined for NaN (a NaN once reached undefined
 * behaviour through a float-to-int conversion; UBSan builds check that). */
#include <criterion/criterion.h>
#include <math.h>

#include "unic/fastmath.h"

Test(fastmath, expf_matches_libm)
{
    double worst = 0;
    for (float x = -80.0f; x <= 80.0f; x += 0.0137f) {
        double want = exp((double)x), got = unic_expf(x);
        double rel = fabs(got - want) / want;
        if (rel > worst) worst = rel;
    }
    cr_expect_lt(worst, 4e-7, "worst relative error %g", worst);
}

Test(fastmath, expf_edges)
{
    cr_expect(isnan(unic_expf(NAN)));
    cr_expect(isnan(unic_expf(-NAN)));
    cr_expect_lt(unic_expf(-INFINITY), 1e-37f);
    cr_expect(isfinite(unic_expf(INFINITY)) && unic_expf(INFINITY) > 1e38f);
    cr_expect(isnan(unic_erff(NAN)));
}
