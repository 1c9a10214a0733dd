#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing (Debian packages), starts
# RabbitMQ and Redis when they are not running, then runs every test with cargo nextest.
# Usage: ops/test.sh [extra nextest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v rabbitmq-server >/dev/null || need+=(rabbitmq-server)
command -v redis-server >/dev/null || need+=(redis-server)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  echo "ops/test.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The Kubernetes schema check of ops/k8s (PyPI's kubernetes-validate bundles the schemas).
command -v kubernetes-validate >/dev/null || python3 -m pip install -q kubernetes-validate || python3 -m pip install -q --break-system-packages kubernetes-validate

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 6379; then
  echo "ops/test.sh: starting Redis on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! port_open 5672; then
  echo "ops/test.sh: starting RabbitMQ on 127.0.0.1:5672"
  rabbitmq-server -detached
fi
for _ in $(seq 1 60); do
  port_open 6379 && port_open 5672 && break
  sleep 1
done
port_open 6379 || { echo "ops/test.sh: Redis did not come up" >&2; exit 1; }
port_open 5672 || { echo "ops/test.sh: RabbitMQ did not come up" >&2; exit 1; }

# Supply chain: licenses, bans and sources (deny.toml). cargo-deny builds in about 4 minutes
# the first time on a fresh machine.
command -v cargo-deny >/dev/null || cargo install --locked cargo-deny
cargo deny --log-level error check licenses bans sources
# Advisories need a local copy of the RustSec database (`cargo deny fetch db` where github.com is
# reachable; it is not from these machines): checked, offline, whenever one is present.
if compgen -G "${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/*/crates" >/dev/null; then
  cargo deny --offline --log-level error check advisories
fi

# The worker binaries, for the tests that run them as processes (SIGTERM, restarts).
cargo build --workspace --bins

if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  echo "ops/test.sh: cargo-nextest not found; using cargo test"
  cargo test --workspace --no-fail-fast "$@"
fi
