# catbusd in a container: docker build -t catbus . && docker run -p 4433:4433 -p 4433:4433/udp \
#   -p 4434:4434 -v catbus-data:/data -e CATBUS_ADMIN_KEY=change-me catbus
# Stage 1 installs the dependencies (the pinned Deno comes with the `deno` package), type-checks
# the server and the CLI (part of `npm run check`, which CI runs), then drops the dev ones.
FROM node:20-bookworm-slim AS build
WORKDIR /opt/catbus
COPY package.json package-lock.json ./
RUN npm ci
COPY deno.json ./
COPY bin ./bin
COPY client ./client
COPY src ./src
RUN node bin/deno.mjs check src/server/main.ts src/cli/main.ts && npm prune --omit=dev

# Stage 2: the same files, run by an unprivileged user, data on a volume.
FROM node:20-bookworm-slim
WORKDIR /opt/catbus
RUN groupadd --system catbus && useradd --system --gid catbus --home-dir /data catbus \
  && mkdir -p /data && chown catbus:catbus /data
COPY --from=build /opt/catbus /opt/catbus
ENV CATBUS_DATA=/data \
    CATBUS_BIND=0.0.0.0:4433 \
    CATBUS_TCP_BIND=0.0.0.0:4434 \
    DENO_DIR=/data/.deno
VOLUME ["/data"]
# HTTP, WebSocket, SSE, /metrics, /console; WebTransport (UDP); the native TCP protocol.
EXPOSE 4433/tcp 4433/udp 4434/tcp
USER catbus
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:4433/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
# What `npm start` runs.
CMD ["node", "bin/catbusd.mjs"]
