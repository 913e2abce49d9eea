/* Denormal floats flushed to zero (the x86 MXCSR's FTZ and DAZ bits).
 * A head whose outputs collapse to one class drives softmax probabilities
 * and their gradients into the denormal range, where every multiply takes
 * microcode assists: such a run (Table 3's row with positives only) slowed
 * from 2 s to 16 s an epoch. Flushed, values below 1.2e-38 become 0, which
 * changes no result a metric can see. */
#ifndef UNIC_FPENV_H
#define UNIC_FPENV_H

/* On the calling thread and every thread of OpenMP's pool (threads created
 * later inherit the calling thread's setting). Idempotent. */
void unic_flush_denormals(void);

#endif
