#!/bin/sh
# Compares the dynamic symbols libedgecore-1.so exports with the committed
# list. A difference is an ABI change: update the list on purpose (and the
# ABI version, see docs/plugin-abi.md), never by accident.
#   check-symbols.sh LIBRARY LIST
set -eu
lib=$1 list=$2
actual=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDRB]$/ {print $3}' | sed 's/@.*//' | sort -u)
if ! printf '%s\n' "$actual" | diff -u "$list" - ; then
  echo "exported symbols of $lib differ from $list (lines with + are new, - are gone)" >&2
  exit 1
fi
bad=$(printf '%s\n' "$actual" | grep -v -E '^(ec_|Ec|EC_)' || true)
if [ -n "$bad" ]; then
  echo "symbols without the ec_/Ec/EC_ prefix are exported: $bad" >&2
  exit 1
fi
echo "ok: $(printf '%s\n' "$actual" | wc -l) symbols, all in the committed list"
