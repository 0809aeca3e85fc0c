# syntax=docker/dockerfile:1
#
# aios for a server: `aios serve` headless, state, audit log and logs in /var/lib/aios.
#   docker build -t aios .
#   docker run -d -v aios-data:/var/lib/aios -e AIOS_BUS_URL=redis://redis:6379 aios
# docker-compose.yml runs it next to Redis, Qdrant, Ollama and Prometheus.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# mimalloc and aws-lc (rustls' crypto) compile C; the slim image has gcc but not g++/make.
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ make \
    && rm -rf /var/lib/apt/lists/*
# Only what the build reads: the README, tests and deployment files do not invalidate it.
# benches/ is listed because Cargo.toml names its targets.
COPY Cargo.toml Cargo.lock config.toml ./
COPY src src
COPY themes themes
COPY benches benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin aios \
    && cp target/release/aios /usr/local/bin/aios

FROM debian:bookworm-slim
# ca-certificates: rustls verifies https model servers, rediss:// and OIDC issuers.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 aios \
    && useradd --system --uid 10001 --gid aios --home-dir /var/lib/aios \
        --shell /usr/sbin/nologin aios \
    && mkdir -p /var/lib/aios \
    && chown aios:aios /var/lib/aios
COPY --from=build /usr/local/bin/aios /usr/local/bin/aios

# Every config key is also an AIOS_<SECTION>_<KEY> variable; mount a config.toml and set
# AIOS_CONFIG=/path/to/it for the rest.
ENV AIOS_RUNTIME_DATA_DIR=/var/lib/aios
USER aios
WORKDIR /var/lib/aios
VOLUME /var/lib/aios
# MCP Streamable HTTP (/mcp) and Prometheus /metrics.
EXPOSE 8765 9464

# `aios health` asks the running server over its control socket in the data dir; it never
# opens the data dir itself, so it cannot race `aios serve` while that starts.
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 \
    CMD ["aios", "health"]

ENTRYPOINT ["aios"]
CMD ["serve"]
