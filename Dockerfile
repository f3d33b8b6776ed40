# Multi-stage build: compile in the Rust image, ship the binary alone in a small non-root image.
#   docker build -t mcpgw .
#   docker run --rm -p 4444:4444 -v "$PWD/config:/etc/mcpgw:ro" mcpgw     (gateway.yaml in ./config)
# The config is read from /etc/mcpgw/gateway.yaml (mount a file or a Kubernetes ConfigMap there;
# mcpgw watches the directory and reloads on change). Inside the container mcpgw listens on
# 0.0.0.0:4444 (MCPGW_LISTEN), since loopback would be unreachable from outside it.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests/fixtures/upstreams ./tests/fixtures/upstreams
COPY benches ./benches
RUN cargo build --release --locked --bin mcpgw && strip target/release/mcpgw

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && useradd --system --no-log-init --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin mcpgw \
 && mkdir -p /etc/mcpgw
COPY --from=build /src/target/release/mcpgw /usr/local/bin/mcpgw
COPY gateway.yaml /etc/mcpgw/gateway.yaml
USER 10001
ENV MCPGW_CONFIG=/etc/mcpgw/gateway.yaml \
    MCPGW_LISTEN=0.0.0.0:4444
# Orchestrators probe GET /healthz (process up) and GET /readyz (upstreams connected).
EXPOSE 4444
ENTRYPOINT ["mcpgw"]
CMD ["serve"]
