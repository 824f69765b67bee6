# syntax=docker/dockerfile:1
# One image with every Herald binary, built once: herald-users, herald-notifications,
# herald-recommendations, herald-router and the `herald` launcher. docker-compose.yml runs each
# service from it with a different command.

# The exact toolchain of rust-toolchain.toml, so rustup has nothing to download.
FROM rust:1.95.0-slim-bookworm AS build
# A C toolchain and cmake for the few crates with C parts (aws-lc-sys, the bundled SQLite).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cache mounts keep the registry and the target directory between builds; the binaries are
# copied out of the mount in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
    && mkdir -p /out \
    && cp target/release/herald target/release/herald-users target/release/herald-notifications \
          target/release/herald-recommendations target/release/herald-router /out/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin herald
WORKDIR /app
COPY --from=build /out/ /usr/local/bin/
# What the services read at start-up: the router's composition inputs and engine config, and
# the sample catalog the recommendations service loads.
COPY supergraph.yaml ./
COPY router/router.yaml router/
COPY subgraphs/users/schema.graphql subgraphs/users/
COPY subgraphs/notifications/schema.graphql subgraphs/notifications/
COPY subgraphs/recommendations/schema.graphql subgraphs/recommendations/
COPY subgraphs/recommendations/catalog/products.jsonl subgraphs/recommendations/catalog/
RUN mkdir -p /app/data && chown herald /app/data
USER herald
ENV HERALD_ENV=production \
    HERALD_LOG_FORMAT=json
VOLUME ["/app/data"]
CMD ["herald-users"]
