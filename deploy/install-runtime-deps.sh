#!/bin/sh
# The production dependencies of the runtime image (run by the Dockerfile's `deps` stage in /app).
# socket.io runs the sample legacy chat server, so the image needs it at run time. While package.json
# lists it under devDependencies, it is moved to dependencies here (same range; the lockfile pins the
# version) and installed with `npm install --omit=dev`, which `npm ci` would refuse (package.json and the
# lockfile would disagree). Once socket.io is a dependency, this is a plain `npm ci --omit=dev`.
set -eu

if node -e 'process.exit((require("./package.json").dependencies || {})["socket.io"] ? 0 : 1)'; then
  npm ci --omit=dev --no-audit --no-fund
else
  node -e '
    const fs = require("fs");
    const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
    pkg.dependencies = { ...pkg.dependencies, "socket.io": pkg.devDependencies["socket.io"] };
    delete pkg.devDependencies["socket.io"];
    fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2));
  '
  npm install --omit=dev --no-audit --no-fund
fi

# Fail the build, not the container, if a runtime module is missing.
node -e 'for (const m of ["socket.io", "engine.io", "http-proxy-3", "ioredis", "pino", "prom-client", "ws", "yaml"]) require.resolve(m)'
npm cache clean --force
