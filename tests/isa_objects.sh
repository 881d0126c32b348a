#!/usr/bin/env bash
# The per-ISA kernel objects (tensor/isa.hpp) may define global symbols only inside their own
# namespace. An inline function or template instance (say std::min<long>, or a helper from a
# header) compiled for AVX-512 is a weak symbol that the linker may pick for every caller, and
# the program would then die with SIGILL on a CPU without AVX-512.
# Usage: isa_objects.sh OBJECT... (lists may also come ';'-separated, as CMake passes them)
set -euo pipefail
status=0
checked=0
for arg in "$@"; do
    IFS=';' read -ra objects <<< "$arg"
    for obj in "${objects[@]}"; do
        ns=$(grep -o 'samkernels_v[0-9]' <<< "$obj" | sed 's/samkernels_/isa_/') || {
            echo "isa_objects.sh: cannot tell the level of $obj" >&2; exit 2; }
        # Global (upper-case type) and weak definitions; local symbols (t, d, b, r) cannot leak.
        # DW.ref.__gxx_personality_v0 is a pointer for exception unwinding, not code;
        # __odr_asan.* are AddressSanitizer's one-definition markers (sanitizer build), not code.
        bad=$(nm --defined-only -C "$obj" | awk '$2 ~ /^[A-Z]$/ || $2 ~ /^[uvw]$/ {$1=""; $2=""; print}' |
              sed 's/^ *//' | grep -v -e "^sam::$ns::" -e '^DW.ref.__gxx_personality_v0$' -e '^__odr_asan\.' || true)
        if [ -n "$bad" ]; then
            echo "$obj defines symbols outside sam::$ns:" >&2
            echo "$bad" | sed 's/^/    /' >&2
            status=1
        fi
        checked=$((checked + 1))
    done
done
if [ "$checked" -eq 0 ]; then echo "isa_objects.sh: no objects given" >&2; exit 2; fi
echo "isa_objects.sh: $checked objects checked"
exit "$status"
