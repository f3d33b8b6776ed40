# Two images from one file, both non-root, both reading /etc/mcpgw/gateway.yaml (mcpgw watches the
# directory and reloads on change) and listening on 0.0.0.0:4444 (MCPGW_LISTEN), where callers
# must authenticate: each baked config takes an API key whose hash is MCPGW_API_KEY_HASH.
#
#   docker build -t mcpgw .                        mcpgw alone, with examples/container/default.yaml
#                                                  (a REST API and room for remote MCP servers)
#   docker build --target stdio -t mcpgw:stdio .   plus Node.js (npx) and uv (uvx) for local stdio
#                                                  servers, with examples/container/stdio.yaml
#
#   docker run --rm mcpgw auth hash-key --subject me             a new key and its hash
#   docker run -p 4444:4444 -e MCPGW_API_KEY_HASH=sha256:… mcpgw
#   docker run -p 4444:4444 -v "$PWD/config:/etc/mcpgw:ro" mcpgw   your own gateway.yaml in ./config
#
# examples/container/compose.yaml runs the stdio image with a mounted config directory.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests/fixtures/upstreams ./tests/fixtures/upstreams
COPY benches ./benches
RUN cargo build --release --locked --bin mcpgw && strip target/release/mcpgw

# For local stdio servers: Node.js 22 from its official image, uv from PyPI (pinned).
FROM node:22-bookworm-slim AS stdio
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
 && python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir uv==0.13.9 \
 && ln -s /opt/uv/bin/uv /opt/uv/bin/uvx /usr/local/bin/ \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && useradd --system --no-log-init --uid 10001 --create-home --home-dir /home/mcpgw --shell /usr/sbin/nologin mcpgw \
 && mkdir -p /etc/mcpgw
COPY --from=build /src/target/release/mcpgw /usr/local/bin/mcpgw
COPY examples/container/stdio.yaml /etc/mcpgw/gateway.yaml
# npx and uvx cache what they fetch in the user's home.
USER 10001
ENV HOME=/home/mcpgw \
    MCPGW_CONFIG=/etc/mcpgw/gateway.yaml \
    MCPGW_LISTEN=0.0.0.0:4444
EXPOSE 4444
ENTRYPOINT ["mcpgw"]
CMD ["serve"]

# The default image (the last stage): mcpgw alone.
FROM debian:bookworm-slim AS default
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && useradd --system --no-log-init --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin mcpgw \
 && mkdir -p /etc/mcpgw
COPY --from=build /src/target/release/mcpgw /usr/local/bin/mcpgw
COPY examples/container/default.yaml /etc/mcpgw/gateway.yaml
USER 10001
ENV MCPGW_CONFIG=/etc/mcpgw/gateway.yaml \
    MCPGW_LISTEN=0.0.0.0:4444
# Orchestrators probe GET /healthz (process up) and GET /readyz (upstreams connected).
EXPOSE 4444
ENTRYPOINT ["mcpgw"]
CMD ["serve"]
