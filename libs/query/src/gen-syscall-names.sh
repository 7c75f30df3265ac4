#!/bin/sh
# Turns the kernel's <asm/unistd_64.h> into C initializers {nr, "name"},.
# Usage: gen-syscall-names.sh UNISTD_64_H OUTPUT
set -e
sed -n 's/^#define __NR_\([a-z0-9_]*\)[[:space:]]*\([0-9][0-9]*\)$/{\2, "\1"},/p' "$1" > "$2.tmp"
test -s "$2.tmp"
mv "$2.tmp" "$2"
