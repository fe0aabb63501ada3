#!/bin/sh
# help-zh.sh EDGECORE [LOCALEDIR]
#
# Runs `edgecore --help` in Simplified Chinese, with the translations of the
# build tree (EDGECORE_LOCALEDIR, by default the po/ directory next to the
# binary's kernel/ directory: build/po/zh_CN/LC_MESSAGES/edgecore.mo), and
# checks that the host's own strings come out translated: the summary and
# every option description that zh_CN.po translates, the --version one in
# particular. Needs the zh_CN.UTF-8 locale.
set -eu

fail () { echo "help-zh: FAIL: $*" >&2; exit 1; }

[ $# -ge 1 ] || { echo "usage: $0 EDGECORE [LOCALEDIR]" >&2; exit 2; }
edgecore=$1
[ -x "$edgecore" ] || fail "$edgecore is not an executable"
localedir=${2:-$(cd "$(dirname "$edgecore")/.." && pwd)/po}
mo="$localedir/zh_CN/LC_MESSAGES/edgecore.mo"
[ -f "$mo" ] || fail "$mo not found; build the translations first (ninja -C BUILDDIR)"

# The locale must exist, or setlocale() falls back to C and nothing is translated.
if ! locale -a 2>/dev/null | grep -qiE '^zh_CN\.utf-?8$'; then
  fail "the zh_CN.UTF-8 locale is not installed (locale -a lacks zh_CN.utf8).
Generate it as root:
    sed -i 's/^# *zh_CN.UTF-8/zh_CN.UTF-8/' /etc/locale.gen && locale-gen
(on Debian/Ubuntu the locales package provides locale-gen; the project's setup script does this)."
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

unset LC_MESSAGES LC_CTYPE
# English reference output.
env -u LANGUAGE LC_ALL=C.UTF-8 LANG=C.UTF-8 EDGECORE_LOCALEDIR="$localedir" \
  "$edgecore" --help >"$tmp/en.txt" 2>&1 || fail "edgecore --help failed: $(cat "$tmp/en.txt")"
# Chinese output.
LC_ALL=zh_CN.UTF-8 LANG=zh_CN.UTF-8 LANGUAGE=zh_CN EDGECORE_LOCALEDIR="$localedir" \
  "$edgecore" --help >"$tmp/zh.txt" 2>&1 || fail "edgecore --help failed in zh_CN: $(cat "$tmp/zh.txt")"

# What zh_CN.po says a string is, through gettext(1) and the same .mo file.
tr_zh () {
  LC_ALL=zh_CN.UTF-8 LANG=zh_CN.UTF-8 LANGUAGE=zh_CN TEXTDOMAINDIR="$localedir" \
    gettext -d edgecore -- "$1"
}

# The option lines of the English help: "  -V, --version   Description".
grep -E '^  +-' "$tmp/en.txt" | sed -E 's/^ +-[^ ]*( -[^ ]*)? {2,}//' >"$tmp/descs.txt"
grep -q 'KubeEdge' "$tmp/descs.txt" || fail "unexpected English --help output:
$(cat "$tmp/en.txt")"

checked=0
version_desc=
while IFS= read -r desc; do
  zh=$(tr_zh "$desc")
  [ "$zh" != "$desc" ] || continue          # GLib's own (-h) or untranslated
  grep -qF -- "$zh" "$tmp/zh.txt" || fail "translation of \"$desc\" (\"$zh\") missing from the Chinese --help:
$(cat "$tmp/zh.txt")"
  if grep -qF -- "$desc" "$tmp/zh.txt"; then
    fail "English \"$desc\" still in the Chinese --help"
  fi
  checked=$((checked + 1))
done <"$tmp/descs.txt"

# The known one: the description of --version must be translated.
version_desc=$(grep -E '^ +-V, --version ' "$tmp/en.txt" | sed -E 's/^ +-V, --version +//')
[ -n "$version_desc" ] || fail "no -V, --version line in --help"
version_zh=$(tr_zh "$version_desc")
[ "$version_zh" != "$version_desc" ] || fail "zh_CN.po does not translate \"$version_desc\""
grep -qF -- "  -V, --version" "$tmp/zh.txt" || fail "no --version line in the Chinese --help"
grep -F -- "--version" "$tmp/zh.txt" | grep -qF -- "$version_zh" || fail "--version is not described in Chinese"

# The summary (g_option_context_set_summary) is the host's too.
summary=$(sed -n '4p' "$tmp/en.txt")
summary_zh=$(tr_zh "$summary")
[ "$summary_zh" != "$summary" ] || fail "zh_CN.po does not translate the summary \"$summary\""
grep -qF -- "$summary_zh" "$tmp/zh.txt" || fail "Chinese summary missing"

# And it is really Chinese (CJK Unified Ideographs, U+4E00..U+9FFF, are
# E4 B8 80 .. E9 BF BF in UTF-8).
LC_ALL=C grep -q "$(printf '[\344-\351][\200-\277][\200-\277]')" "$tmp/zh.txt" || fail "no Chinese text in --help"

[ "$checked" -ge 3 ] || fail "only $checked option descriptions are translated"
echo "help-zh: ok: $checked option descriptions, the --version one and the summary are in Chinese"
