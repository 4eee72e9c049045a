#!/bin/sh
# Runs a root script under a supported toolchain.
# When the Node on PATH is older than 22.19, Node 24 and pnpm are installed from the npm
# registry into ./.tools (git-ignored); on a machine with a current Node and pnpm nothing
# extra happens. Dependencies are installed from the frozen lock file, then `pnpm run <script>`.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"
NODE_VERSION=24.21.0
PNPM_VERSION=12.21.0
tools="$root/.tools"

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)'
}

if ! node_ok || ! command -v pnpm >/dev/null 2>&1; then
  if [ ! -x "$tools/node_modules/.bin/node" ] || [ ! -x "$tools/node_modules/.bin/pnpm" ]; then
    echo "bootstrap: installing node@$NODE_VERSION and pnpm@$PNPM_VERSION into .tools/ (once; about 30 s)" >&2
    mkdir -p "$tools"
    npm install --loglevel=http --no-save --no-package-lock --no-audit --no-fund --prefix "$tools" \
      "node@$NODE_VERSION" "pnpm@$PNPM_VERSION" >&2
    echo "bootstrap: node@$NODE_VERSION and pnpm@$PNPM_VERSION installed" >&2
  fi
  PATH="$tools/node_modules/.bin:$PATH"
  export PATH
fi

# The operator console's browser test drives Debian's Chromium (Playwright's own browser download
# is not used). As root, `npm test` installs it when it is missing; otherwise the test says how.
if [ "${1:-}" = check ] && [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/bin/chromium ] \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "bootstrap: installing chromium for the console's browser test" >&2
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2 \
    || echo "bootstrap: chromium could not be installed; the console's browser test will fail saying how to get it" >&2
fi

# The first install downloads the dependencies (about 20 s) and shows its progress; later ones are quiet.
if [ -d node_modules/.pnpm ]; then reporter=silent; else reporter=default; echo "bootstrap: installing dependencies" >&2; fi
if ! pnpm install --frozen-lockfile --prefer-offline --reporter=$reporter >&2; then
  echo "bootstrap: pnpm install failed" >&2
  exit 1
fi
exec pnpm run --silent "$@"
