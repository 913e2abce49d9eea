/* Progress lines of long passes: on a terminal the live line is for the
 * eye, and the log gets a plain line every UNIC_PROGRESS_LOG_EVERY seconds
 * and one at the end; off a terminal the same plain lines go to stderr
 * too. Never a line per update in the log. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "helpers.h"

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *s = text; (s = strstr(s, needle)); s++) n++;
    return n;
}

static void plain_lines(int tty)
{
    unic_log_set_quiet(1); /* keeps the live line off the test's stderr */
    test_log_capture_start();
    unic_progress p;
    unic_progress_start(&p, "mining", 1000);
    p.tty = tty;
    p.unit = "rows";
    for (int i = 1; i <= 300; i++) unic_progress_update(&p, i); /* quick updates: nothing logged */
    char *quiet_part = test_log_capture_end();
    cr_expect_eq(count(quiet_part, "mining:"), 0, "tty %d: %s", tty, quiet_part);
    free(quiet_part);
    test_log_capture_start();
    p.last_log -= UNIC_PROGRESS_LOG_EVERY + 1; /* as if the interval had passed */
    unic_progress_update(&p, 500);
    unic_progress_update(&p, 501);
    unic_progress_end(&p);
    char *text = test_log_capture_end();
    unic_log_set_quiet(0);
    cr_expect_eq(count(text, "mining: 500/1000 "), 1, "tty %d: one periodic line: %s", tty, text);
    cr_expect(strstr(text, "rows/s ETA "), "the rate and the ETA: %s", text);
    cr_expect_eq(count(text, "mining: 501/1000"), 0, "no line before the next interval: %s", text);
    cr_expect_eq(count(text, "mining: 1000/1000 "), 1, "a line at the end: %s", text);
    cr_expect(strstr(text, " took "), "the end says how long it took: %s", text);
    free(text);
}

Test(progress, a_log_gets_periodic_plain_lines_off_a_terminal) { plain_lines(0); }
Test(progress, a_log_gets_periodic_plain_lines_under_a_live_terminal_line) { plain_lines(1); }
