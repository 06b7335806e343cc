#!/bin/sh
# The production dependencies of the runtime image (run by the Dockerfile's `deps` stage in /app):
# package.json's dependencies (socket.io among them: it runs the sample legacy chat server), as the
# lockfile pins them.
set -eu

npm ci --omit=dev --no-audit --no-fund

# Fail the build, not the container, if a runtime module is missing.
node -e 'for (const m of ["socket.io", "engine.io", "http-proxy-3", "ioredis", "pino", "prom-client", "ws", "yaml"]) require.resolve(m)'
npm cache clean --force
