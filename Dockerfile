# Production image: built on Node 22 (Node 20 is end-of-life and has no maintained images),
# served from distroless as a non-root user. The code runs on Node >= 20.19.
FROM node:22-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM gcr.io/distroless/nodejs22-debian13:nonroot
WORKDIR /opt/portcullis
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY deploy/container/healthcheck.mjs ./healthcheck.mjs
# A production starting point (0.0.0.0, 8080, readiness 15021, no routes), not the repository's
# demo gateway.yaml. Mount your own config directory over /etc/portcullis/config/ and TLS Secrets
# at /etc/portcullis/certs/NAME/. Nothing else is written: the root filesystem can be read-only.
COPY deploy/container/gateway.yaml /etc/portcullis/config/gateway.yaml
USER 65532:65532
# 8080/8443 inside the container (no root needed); the Service maps 80/443.
EXPOSE 8080 8443 15021 15090
# Readiness: GET :15021/healthz/ready (also the Kubernetes readinessProbe).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 CMD ["/nodejs/bin/node", "/opt/portcullis/healthcheck.mjs"]
# SIGTERM drains for GatewayConfig drainTimeout (25s here), then exits: keep the pod's
# terminationGracePeriodSeconds above it.
ENTRYPOINT ["/nodejs/bin/node", "--max-old-space-size=384", "dist/main.js"]
CMD ["run", "-c", "/etc/portcullis/config/gateway.yaml"]
