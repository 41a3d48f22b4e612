#!/usr/bin/env bash
# The locked install, as CI and the workflows run it: `npm ci --strict-allow-scripts` with the npm
# that package.json's `packageManager` names, so a dependency whose install script `allowScripts`
# has not reviewed fails the install, naming it, instead of being skipped with a warning. npm runs
# on the Node.js of the `node` devDependency, so its engine checks see the runtime the project
# runs on, whatever the machine's own Node.
set -euo pipefail
cd "$(dirname "$0")/.."

read -r node_version npm_spec < <(node -p '
  const pkg = require("./package.json");
  `${pkg.devDependencies.node} ${pkg.packageManager}`')
exec npx --yes --package="node@${node_version}" --package="${npm_spec}" \
  --call 'npm ci --strict-allow-scripts --no-audit --no-fund'
