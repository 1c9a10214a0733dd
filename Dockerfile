# copydesk's image: the binaries built from this workspace, on a small non-root runtime.
# Build: docker build -t copydesk:dev .   (docker-compose.yml builds it for the stack)

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The whole workspace, members included, so that Cargo.lock resolves exactly as in CI.
COPY Cargo.toml Cargo.lock ./
COPY shared shared
COPY workers workers
COPY tests tests
RUN cargo build --release --locked -p copydesk -p copydesk-fetch -p copydesk-clean -p copydesk-dedup \
    && strip target/release/copydesk target/release/copydesk-fetch target/release/copydesk-clean target/release/copydesk-dedup

FROM debian:bookworm-slim
# ca-certificates: the fetcher verifies TLS against the system's roots.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /home/copydesk copydesk \
    && mkdir -p /data && chown copydesk /data
COPY --from=build /src/target/release/copydesk /src/target/release/copydesk-fetch \
     /src/target/release/copydesk-clean /src/target/release/copydesk-dedup /usr/local/bin/
USER copydesk
WORKDIR /data
EXPOSE 9000
# The workers override the command (copydesk-fetch, copydesk-clean, copydesk-dedup).
CMD ["copydesk", "--help"]
