#!/usr/bin/env bash
# Run THERE (the GPU machine), from the repository root: runs the named fixture scripts (default: all) with the
# reference stack and packs each area's output as $OUT/fixtures-<name>.tgz (relative to tests/fixtures) for
# unpacking here. A failing script is reported and the others still run.
#   scripts/gpu/make_fixtures.sh [core qwen2_vl tokenizer template image ...]
set -u
source scripts/gpu/env.sh
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(core qwen2_vl tokenizer template image)
for name in "${names[@]}"; do
  script=scripts/fixtures/make_${name}_fixtures.py
  [ -f "$script" ] || { echo "make_fixtures: no $script"; continue; }
  before=$(mktemp); sleep 1
  echo "== $script"
  case "$name" in
    tokenizer) dest=tests/fixtures/tokenizers ;;
    template) dest=tests/fixtures/templates ;;
    image) dest=tests/fixtures/images ;;
    *) dest=tests/fixtures ;;
  esac
  mkdir -p "$dest"
  if timeout 900 python3 "$script" "$dest" > "/tmp/fixtures-$name.log" 2>&1; then
    (cd tests/fixtures && find . -type f -newer "$before" -print0 | tar czf "$OUT/fixtures-$name.tgz" --null -T -)
    tail -3 "/tmp/fixtures-$name.log"
  else
    echo "make_fixtures: $script FAILED"; tail -25 "/tmp/fixtures-$name.log"
  fi
  { echo "== $name"; cat "/tmp/fixtures-$name.log"; } >> "$OUT/fixtures.log"
done
