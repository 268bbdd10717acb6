# tke-apiserver: runs the TypeScript sources with tsx (a runtime dependency); no build step.
FROM node:20-slim

ENV NODE_ENV=production
WORKDIR /app

# Dependencies first, for layer caching. Production only (mocha, typescript, client-node are dev).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY cmd ./cmd
COPY pkg ./pkg
COPY api ./api
COPY migrations ./migrations

# The data dir holds the generated PKI, the bootstrap admin token/kubeconfig and (without
# --database-url) the embedded PostgreSQL. Run as the image's unprivileged "node" user (uid 1000).
RUN mkdir -p /var/lib/tke-apiserver && chown node:node /var/lib/tke-apiserver
USER node
VOLUME ["/var/lib/tke-apiserver"]
EXPOSE 9443

ENTRYPOINT ["node", "cmd/tke-apiserver/bin.js"]
CMD ["--data-dir", "/var/lib/tke-apiserver", "--secure-port", "9443", "--bind-address", "0.0.0.0"]
