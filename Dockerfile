# copydesk's image: the binaries built from this workspace, on a small non-root runtime.
# Build: docker build -t copydesk:dev .   (docker-compose.yml builds it for the stack)

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The whole workspace, members included, so that Cargo.lock resolves exactly as in CI.
COPY Cargo.toml Cargo.lock ./
COPY shared shared
COPY workers workers
COPY tests tests
RUN cargo build --release --locked -p copydesk \
    && strip target/release/copydesk

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --create-home --home-dir /home/copydesk copydesk \
    && mkdir -p /data && chown copydesk /data
COPY --from=build /src/target/release/copydesk /usr/local/bin/copydesk
USER copydesk
WORKDIR /data
ENTRYPOINT ["copydesk"]
CMD ["--help"]
