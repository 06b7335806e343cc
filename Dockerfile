# syntax=docker/dockerfile:1
# Switchyard image: the gateway (`node dist/src/main.js`, the default command) and the sample backends
# (`node dist/examples/legacy-chat/server.js`, `node dist/examples/hub/server.js`) — the same commands the
# tests start (test/integration/compose.test.ts checks docker-compose.yml against them). Multi-stage:
# TypeScript is compiled with the dev dependencies; the runtime stage holds only dist/, the sample chat
# page and the production dependencies, owned by root and run as the unprivileged `node` user.

ARG NODE_IMAGE=node:20-alpine

# ---- build: every dependency, compile src/ and examples/ to dist/ -----------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY examples ./examples
RUN npx tsc -p tsconfig.json

# ---- deps: production dependencies only ----------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY deploy/install-runtime-deps.sh ./deploy/
# `npm ci --omit=dev`, plus socket.io (the sample legacy server's) while it is listed as a dev dependency.
RUN sh deploy/install-runtime-deps.sh

# ---- runtime ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/examples ./dist/examples
COPY examples/public ./examples/public
# Files stay owned by root (read-only for the process): the gateway writes nothing to disk.
USER node
# 3000: clients (Socket.IO and pass-through). 9464: operations (/metrics, /healthz, /readyz, /admin).
# No HEALTHCHECK here: the image runs three different services; docker-compose.yml gives each its own.
EXPOSE 3000 9464
CMD ["node", "dist/src/main.js"]
