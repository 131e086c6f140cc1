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
COPY gateway.yaml /etc/portcullis/gateway.yaml
# 8080/8443 inside the container (no root needed); the Service maps 80/443.
EXPOSE 8080 8443 15021 15090
# Readiness: GET :15021/healthz/ready (use it as the Kubernetes readinessProbe).
ENTRYPOINT ["/nodejs/bin/node", "--max-old-space-size=384", "dist/main.js"]
CMD ["run", "-c", "/etc/portcullis/gateway.yaml"]
