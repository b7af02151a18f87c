# crproxy image: docker build -t crproxy .   (multi-arch: make docker;
# offline, with a base built from Debian and npm packages: make image)
# Node 20 is the major CI tests crproxy on; --build-arg NODE_VERSION=<major>
# picks another (npm ci and tsc run on it during the build).
ARG NODE_VERSION=20

# Build stage: compile TypeScript with the dev dependencies.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY lib ./lib
COPY registrymap.json ./
RUN npm run build

# Runtime stage: production dependencies only, non-root.
FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` runs tsc, which --omit=dev does not install.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY registrymap.json ./
RUN mkdir -p /cache && chown node:node /cache
USER node
EXPOSE 5000
# The volume is the blob cache; -e CRPROXY_CACHE_DIR= (empty) runs without one.
ENV CRPROXY_CACHE_DIR=/cache
VOLUME /cache
# Finds the port (and http/https) from crproxy's own command line or
# environment, so it holds for any -listen/--listen/CRPROXY_LISTEN given.
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["node", "/app/bin/healthcheck"]
ENTRYPOINT ["node", "/app/bin/crproxy"]
