#!/usr/bin/env bash
# Installs the package into this example as a host would: packs the repository (its prepack
# builds), installs the tarball here, type-checks with skipLibCheck false, and runs the tests.
# The repository is packed from a copy, so that prepack's clean build leaves its dist/ alone.
set -euo pipefail
example=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$example/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir "$work/repo"
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/repo")
ln -s "$root/node_modules" "$work/repo/node_modules"
tarball=$(cd "$work/repo" && npm pack --silent --pack-destination "$work" | tail -n 1)
echo "packed $tarball"
# JavaScript, declarations, README, LICENSE and package.json: no source maps, benchmarks, tests or standalone server.
contents=$(tar -tzf "$work/$tarball")
if grep -E '\.map$|^package/dist/(bench|test|routes)/|^package/dist/(app|server)\.|^package/(test|bench|examples|standalone)/' <<<"$contents"; then
  echo "the tarball holds the files above, which a host does not run" >&2
  exit 1
fi
for file in package/LICENSE package/README.md package/dist/index.js package/dist/index.d.ts package/dist/cli/index.js; do
  grep -qx "$file" <<<"$contents" || { echo "the tarball lacks $file" >&2; exit 1; }
done

mkdir "$work/host"
cp -r "$example/package.json" "$example/tsconfig.json" "$example/tsconfig.test.json" "$example/app.ts" "$example/server.ts" "$example/test" "$work/host/"
cd "$work/host"
npm install --no-audit --no-fund --prefer-offline "$work/$tarball"
npm run typecheck
echo "type-checked: the service with skipLibCheck false, its tests too"
npx tap
