#!/bin/sh
# Runs every Check suite given on the command line and prints one closing line with the
# totals. Check prints "NN%: Checks: C, Failures: F, Errors: E" per suite.
passed=0
failed=0
bad_suites=""
for t in "$@"; do
    out=$("$t" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: ' | tail -n 1)
    if [ -z "$line" ]; then
        failed=$((failed + 1))
        bad_suites="$bad_suites $t(no summary, exit $rc)"
        continue
    fi
    c=$(printf '%s' "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
    f=$(printf '%s' "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
    e=$(printf '%s' "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
    passed=$((passed + c - f - e))
    failed=$((failed + f + e))
    [ "$rc" -ne 0 ] && [ $((f + e)) -eq 0 ] && { failed=$((failed + 1)); bad_suites="$bad_suites $t(exit $rc)"; }
    [ $((f + e)) -ne 0 ] && bad_suites="$bad_suites $t"
done
[ -n "$bad_suites" ] && echo "failing suites:$bad_suites"
echo "checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
