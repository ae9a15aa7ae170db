#!/usr/bin/env bash
# The package as a user gets it: npm pack, the tarball installed into a new project, a sample that
# imports every entry point type-checked under moduleResolution node16, nodenext and bundler, every
# entry point loaded by import and require(), then `npx portcullis createsuperuser` and
# `npx portcullis serve` there and a login over HTTP. A file, export or type missing from the package
# fails one of these steps.
#
# Installs prefer npm's cache (~/.npm), so a second run needs no network. better-sqlite3's native
# build is copied from this repository's install when it is the same version for the same Node,
# instead of compiling SQLite again.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-packed.XXXXXX")"
trap 'rm -rf "$work"' EXIT
step() { echo "packed: $*"; }

step "npm pack"
tarball="$(cd "$repo" && npm pack --silent --pack-destination "$work" | tail -n 1)"
mkdir "$work/app"
cd "$work/app"
cp "$repo"/test/packed/{sample.ts,imports.mjs,login.mjs} .
# A new ESM project (the package is ESM-only; README "Install").
cat > package.json <<'JSON'
{ "name": "packed-app", "version": "1.0.0", "private": true, "type": "module" }
JSON

# The sample's own dependencies at the versions this repository tests with. @types/redis-errors:
# ioredis 6's .d.ts import redis-errors, whose types ioredis lists only as a devDependency, so with
# skipLibCheck false (as here) an app needs them itself (README "Install").
locked() { node -p "require('$repo/package-lock.json').packages['node_modules/$1'].version"; }
step "npm install $tarball"
npm install --no-audit --no-fund --prefer-offline --ignore-scripts --loglevel=error \
  "$work/$tarball" "typescript@$(locked typescript)" "@types/node@$(locked @types/node)" \
  "express@$(locked express)" "@types/express@$(locked @types/express)" \
  "@types/redis-errors@^1.2.1"

sqlite_built="$repo/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
if [ -f "$sqlite_built" ] && [ "$(locked better-sqlite3)" = "$(node -p "require('./node_modules/better-sqlite3/package.json').version")" ]; then
  mkdir -p node_modules/better-sqlite3/build/Release
  cp "$sqlite_built" node_modules/better-sqlite3/build/Release/
else
  npm rebuild better-sqlite3 --loglevel=error
fi

for resolution in node16 nodenext bundler; do
  case "$resolution" in
    bundler) module=preserve ;;
    *) module="$resolution" ;;
  esac
  cat > "tsconfig.$resolution.json" <<JSON
{ "compilerOptions": { "module": "$module", "moduleResolution": "$resolution", "target": "ES2022",
  "strict": true, "noEmit": true, "skipLibCheck": false, "types": ["node"] }, "files": ["sample.ts"] }
JSON
  step "tsc moduleResolution $resolution"
  npx --no-install tsc -p "tsconfig.$resolution.json"
done

node imports.mjs
password="packed-$RANDOM-$RANDOM-passphrase"
PORTCULLIS_SUPERUSER_PASSWORD="$password" npx --no-install portcullis createsuperuser --username admin --email admin@example.com --noinput
node login.mjs admin "$password"
step "ok"
