// engine/timer.h — monotonic wall-clock time and peak resident memory.
#ifndef UG_TIMER_H
#define UG_TIMER_H

#include <stddef.h>

double ug_now_ms(void);         // CLOCK_MONOTONIC, milliseconds
double ug_cpu_ms(void);         // CPU time of the process (all threads), milliseconds
size_t ug_peak_rss_bytes(void); // high-water resident set size of this process (0 if unknown)

#endif
