# syntax=docker/dockerfile:1
# One image, one binary: `protus`, its role chosen by argument (central by default; e.g.
# `docker run IMAGE sidecar ...` once the sidecar exists). Build: `docker build -t protus .`

# ---- build ---------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /build

# Dependencies first, against stub crate roots, so this layer is reused until Cargo.toml,
# Cargo.lock or benches/ change (the manifest names the benches, so they must exist).
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin protus \
    && rm -rf src

# The real sources. Touch the crate roots so cargo rebuilds them over the stubs' artefacts.
COPY . .
RUN touch src/lib.rs src/main.rs \
    && cargo build --release --locked --bin protus \
    && install -m 0755 target/release/protus /usr/local/bin/protus

# ---- run -----------------------------------------------------------------------------------
FROM debian:bookworm-slim

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 protus \
    && useradd --uid 10001 --gid protus --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin protus \
    && mkdir /data \
    && chown protus:protus /data \
    && chmod 0700 /data

COPY --from=builder /usr/local/bin/protus /usr/local/bin/protus

# The `protus` user, by number so that the runtime need not resolve the name.
USER 10001:10001
WORKDIR /data

# 8080: central (HTTP API, web UI, sync endpoint); 7070: sidecar. Behind a proxy or on another
# host, set PROTUS_PUBLIC_URL to the address clients use (it is the token issuer).
EXPOSE 8080 7070

ENTRYPOINT ["protus"]
CMD ["central", "--listen", "0.0.0.0:8080", "--data-dir", "/data"]
