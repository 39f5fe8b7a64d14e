#!/bin/sh
# Every file with translatable strings is listed in po/POTFILES.in, every
# listed file exists, and xgettext can read them all.
set -eu
top=$1
cd "$top"
status=0
listed=$(grep -v '^#' po/POTFILES.in | sed '/^$/d')
for f in $listed; do
  [ -f "$f" ] || { echo "po/POTFILES.in lists $f, which does not exist"; status=1; }
done
marked=$( (grep -rlE '(^|[^a-zA-Z_])N?_\(' src --include='*.c'; \
           grep -rl 'translatable="yes"' ui; \
           ls data/*.desktop.in.in data/*.metainfo.xml.in.in data/*.gschema.xml) | sort -u)
for f in $marked; do
  echo "$listed" | grep -qx "$f" || { echo "$f has translatable strings but is not in po/POTFILES.in"; status=1; }
done
if command -v xgettext >/dev/null; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  xgettext --from-code=UTF-8 --keyword=_ --keyword=N_ --keyword=g_dngettext:2,3 \
    --files-from=po/POTFILES.in --output="$tmp/lathe.pot" 2>"$tmp/err" || { cat "$tmp/err"; status=1; }
  n=$(grep -c '^msgid ' "$tmp/lathe.pot" || true)
  [ "$n" -gt 50 ] || { echo "only $n strings extracted"; status=1; }
  echo "$n translatable strings"
fi
exit $status
