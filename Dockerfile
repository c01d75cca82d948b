# syntax=docker/dockerfile:1
# edgecache's container image. Build: docker build -t edgecache .
# Run:   docker run -p 8000:8000 -v edgecache-cache:/var/cache/edgecache \
#          -e EDGECACHE_UPSTREAM=http://backend:8080 edgecache
# deploy/README.md says how to reach /metrics and which parts of this file are checked
# without a Docker engine (test/deploy/dockerfile.test.ts).

# Build: the TypeScript compiler and the other dev dependencies stay in this stage.
FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No scripts: `prepare` would build before the sources are here; the build is the next step.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies only. lmdb's binary comes prebuilt in its platform package, so
# no install script (and no compiler) is needed.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-slim
ENV NODE_ENV=production \
    EDGECACHE_LISTEN=0.0.0.0:8000 \
    EDGECACHE_STORAGE__LOCAL__PATH=/var/cache/edgecache
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# dist/main.js reads its version from ../package.json.
COPY package.json ./
COPY bin ./bin
COPY deploy/healthcheck.mjs ./deploy/healthcheck.mjs
# The cache directory belongs to the image's unprivileged `node` user (uid 1000), so a
# named volume mounted there starts out writable by it.
RUN mkdir -p /var/cache/edgecache && chown node:node /var/cache/edgecache
VOLUME ["/var/cache/edgecache"]
USER node
# The proxy. The admin listener (/health, /ready, /metrics, /status) stays on
# 127.0.0.1:9091 inside the container unless EDGECACHE_ADMIN__LISTEN says otherwise, so it
# is not exposed here; see deploy/README.md to scrape it.
EXPOSE 8000
# Runs inside the container, so loopback reaches the admin listener.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "/app/deploy/healthcheck.mjs"]
# SIGTERM (docker stop) finishes requests in flight within server.shutdownTimeout (10s by
# default, the same as docker stop's grace period: raise both together).
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["serve"]
