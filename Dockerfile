# tke-apiserver: compiled with tsc (npm run build) in a build stage; the image runs the JavaScript in
# dist/ on plain node, with the production dependencies only (no TypeScript, no tsx).

# Build: every dependency (typescript is a dev one), then dist/.
FROM node:20-slim AS build
WORKDIR /app
# No install scripts: compiling needs none of the native parts (embedded PostgreSQL, ssh2's addon).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY hack/build.js ./hack/build.js
COPY cmd ./cmd
COPY pkg ./pkg
COPY api ./api
COPY migrations ./migrations
RUN npm run build

# Run: production dependencies first, for layer caching (mocha, typescript, tsx and biome are
# dev), then the compiled server with its migrations and predefined files.
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY --from=build /app/dist ./dist

# The data dir holds the generated PKI, the bootstrap admin token/kubeconfig and (without
# --database-url) the embedded PostgreSQL. Run as the image's unprivileged "node" user (uid 1000).
RUN mkdir -p /var/lib/tke-apiserver && chown node:node /var/lib/tke-apiserver
USER node
VOLUME ["/var/lib/tke-apiserver"]
EXPOSE 9443

ENTRYPOINT ["node", "dist/cmd/tke-apiserver/main.js"]
CMD ["--data-dir", "/var/lib/tke-apiserver", "--secure-port", "9443", "--bind-address", "0.0.0.0"]
