# Multi-stage build of the `sipas` server. Runs as a non-root user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sipas-server

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/sipas sipas
COPY --from=build /src/target/release/sipas /usr/local/bin/sipas
USER sipas
WORKDIR /var/lib/sipas
ENV SIPAS_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sipas"]
CMD ["serve"]
