#!/usr/bin/env bash
# `npm run generate:check`: fails unless src/gen is exactly what
# `npm run generate` makes from proto/ (buf + ts-proto + embed-descriptors),
# i.e. nobody edited generated code or forgot to regenerate after a .proto change.
set -euo pipefail
cd "$(dirname "$0")/.."

npm run -s generate

if ! git diff --exit-code -- src/gen; then
  echo "generate:check: src/gen differs from what 'npm run generate' makes (diff above); run it and commit src/gen" >&2
  exit 1
fi
left=$(git status --porcelain --untracked-files=all -- src/gen)
if [ -n "$left" ]; then
  printf '%s\n' "$left" >&2
  echo "generate:check: src/gen is not as committed (above: new, deleted or staged files); commit what generate makes, or stop generating it" >&2
  exit 1
fi
echo "generate:check: src/gen matches proto/"
