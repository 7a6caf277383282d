# eventbase-server on Debian 12, built from this repository.
#   docker build -t eventbase .
# It serves on every interface, so it starts only with TLS (--tls-cert, --tls-key, --tls-ca;
# see docker-compose.yml) or with --insecure (README "Security"). curl is for healthchecks of
# the HTTP endpoint (--http=127.0.0.1:9333, GET /healthz).
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN scripts/setup.sh && BUILD_DIR=/build BUILD_TYPE=Release scripts/build.sh

FROM debian:12
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      libcaf-core0.17 libcaf-io0.17 libcaf-openssl0.17 libssl3 libnats3.4 librocksdb7.8 \
      libpcre2-8-0 libcpp-httplib0.11 nats-server curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/apps/eventbase-server /build/apps/eventbase /usr/local/bin/
COPY configs/eventbase-server.ini /etc/eventbase/eventbase-server.ini
VOLUME /data
EXPOSE 4333
ENTRYPOINT ["eventbase-server", "--config-file=/etc/eventbase/eventbase-server.ini", "--db=/data", "--bind=0.0.0.0"]
