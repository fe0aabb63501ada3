#!/bin/sh
# check-po.sh SOURCEDIR
#
# Fails when a translatable string of the host has no up-to-date
# translation in a po/*.po file. It extracts a fresh template from the files
# in po/POTFILES (with the xgettext arguments of meson's i18n 'glib' preset,
# the ones `ninja edgecore-pot` uses, but into a temporary directory so the
# source tree is left alone), merges every language of po/LINGUAS into it
# and requires 0 untranslated and 0 fuzzy messages, and `msgfmt -c` to pass
# (c-format placeholders that match the msgid).
#
# It also fails when a kernel/*.c file uses _() or N_() but is not listed in
# po/POTFILES, or when POTFILES names a file that does not exist.
#
# To fix a failure: ninja -C BUILDDIR edgecore-update-po, translate the new
# or fuzzy entries in po/LANG.po, remove the "#, fuzzy" marks.
set -eu

fail=0
err () { echo "check-po: $*" >&2; fail=1; }

[ $# -ge 1 ] || { echo "usage: $0 SOURCEDIR" >&2; exit 2; }
src=$(cd "$1" && pwd)
po="$src/po"
for tool in xgettext msgmerge msgfmt; do
  command -v "$tool" >/dev/null || { echo "check-po: $tool not found (install gettext)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# POTFILES without comments and blank lines.
sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$po/POTFILES" >"$tmp/potfiles"
while IFS= read -r f; do
  [ -f "$src/$f" ] || err "po/POTFILES lists $f, which does not exist"
done <"$tmp/potfiles"
for f in "$src"/kernel/*.c; do
  [ -e "$f" ] || continue
  rel=${f#"$src"/}
  if grep -qE '(^|[^A-Za-z0-9_])N?_ *\(' "$f" && ! grep -qxF "$rel" "$tmp/potfiles"; then
    err "$rel has translatable strings but is not in po/POTFILES"
  fi
done
[ $fail -eq 0 ] || exit 1

# A fresh template; the arguments are meson's i18n preset 'glib'
# (mesonbuild/modules/i18n.py PRESET_ARGS).
(cd "$src" && xgettext --package-name=edgecore -f "$tmp/potfiles" -D "$src" -o "$tmp/edgecore.pot" \
  --from-code=UTF-8 --add-comments \
  --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 \
  --keyword=g_dcgettext:2 --keyword=g_dngettext:2,3 --keyword=g_dpgettext2:2c,3 \
  --flag=N_:1:pass-c-format --flag=C_:2:pass-c-format --flag=NC_:2:pass-c-format \
  --flag=g_dngettext:2:pass-c-format --flag=g_strdup_printf:1:c-format \
  --flag=g_string_printf:2:c-format --flag=g_string_append_printf:2:c-format \
  --flag=g_error_new:3:c-format --flag=g_set_error:4:c-format \
  --flag=g_markup_printf_escaped:1:c-format --flag=g_log:3:c-format \
  --flag=g_print:1:c-format --flag=g_printerr:1:c-format --flag=g_printf:1:c-format \
  --flag=g_fprintf:2:c-format --flag=g_sprintf:2:c-format --flag=g_snprintf:3:c-format)
[ -f "$tmp/edgecore.pot" ] || { echo "check-po: xgettext found no strings" >&2; exit 1; }
total=$(grep -c '^msgid ' "$tmp/edgecore.pot")
total=$((total - 1))

langs=$(sed -e 's/#.*//' "$po/LINGUAS" | tr -s ' \t' '\n\n' | sed '/^$/d')
[ -n "$langs" ] || { echo "check-po: po/LINGUAS lists no language" >&2; exit 1; }
for lang in $langs; do
  file="$po/$lang.po"
  if [ ! -f "$file" ]; then
    err "$lang: po/$lang.po does not exist"
    continue
  fi
  if ! msgfmt -c -o /dev/null "$file" 2>"$tmp/$lang.check"; then
    err "$lang: msgfmt -c po/$lang.po failed:"
    cat "$tmp/$lang.check" >&2
  fi
  # Merge without fuzzy matching: a changed msgid must be translated anew.
  msgmerge --quiet --no-fuzzy-matching --no-location --no-wrap "$file" "$tmp/edgecore.pot" -o "$tmp/$lang.po"
  if ! msgfmt -c --statistics -o /dev/null "$tmp/$lang.po" 2>"$tmp/$lang.stats"; then
    err "$lang: the merged catalogue fails msgfmt -c:"
    cat "$tmp/$lang.stats" >&2
    continue
  fi
  stats=$(cat "$tmp/$lang.stats")
  case "$stats" in
    *untranslated*|*fuzzy*)
      err "$lang: $stats (of $total strings in the sources)"
      # Name the strings: fuzzy ones and ones with an empty msgstr.
      msgattrib --only-fuzzy --no-obsolete "$tmp/$lang.po" 2>/dev/null | grep -A3 '^msgid' | sed 's/^/  fuzzy: /' >&2 || true
      msgattrib --untranslated --no-obsolete "$tmp/$lang.po" 2>/dev/null | grep '^msgid' | sed '1d; s/^/  untranslated: /' >&2 || true
      ;;
    *)
      echo "check-po: $lang: $stats ($total strings in the sources)"
      ;;
  esac
  obsolete=$(grep -c '^#~ msgid' "$tmp/$lang.po" || true)
  [ "$obsolete" -eq 0 ] || echo "check-po: $lang: note: $obsolete obsolete entries in po/$lang.po (harmless)"
done
exit $fail
