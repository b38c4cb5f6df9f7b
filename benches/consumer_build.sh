#!/usr/bin/env bash
# What a consumer pays to compile customer-data: builds a throwaway crate that depends on this
# repository with one feature, and a throwaway crate with only the same dependency stack (the
# crates customer-data depends on, with the same features), each cold in a fresh target
# directory, and prints the ratio. Run on demand (it takes minutes), not in the test suite:
#
#   bash benches/consumer_build.sh                      # consumer-intelligence accountsiq-v2-0
#   bash benches/consumer_build.sh carmachain biq       # any features
#
# Prints `figure consumer_build_ratio_<feature> <x>` (targets: <= 1.15 for
# consumer-intelligence, <= 1.6 for accountsiq-v2-0), plus the seconds behind each ratio.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
features=("$@")
[ ${#features[@]} -gt 0 ] || features=(consumer-intelligence accountsiq-v2-0)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CARGO_TERM_COLOR=never

# The dependency stack of customer-data's [dependencies] (non-optional, same features), plus
# the SOAP crates for the SOAP features; kept in step with Cargo.toml by hand (a new dependency
# there belongs here too, or the ratio flatters us).
stack='
progenitor-client = "0.15.1"
reqwest = { version = "0.13", default-features = false, features = ["json", "form", "query", "stream", "rustls-no-provider", "http2", "charset", "system-proxy"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
chrono = { version = "0.4", default-features = false, features = ["serde", "std", "clock"] }
regress = "0.12"
uuid = { version = "1", features = ["serde", "v4"] }
secrecy = "0.10"
tokio = { version = "1", default-features = false, features = ["sync", "time", "rt"] }
rand = "0.9"
base64 = "0.22"
bytes = "1"
http = "1"
http-body-util = "0.1"
tracing = { version = "0.1", default-features = false, features = ["std"] }
serde_path_to_error = "0.1"
futures-core = "0.3"
futures-util = { version = "0.3", default-features = false, features = ["std"] }
hmac = "0.12"
sha2 = "0.10"
rustls = { version = "0.23", default-features = false, features = ["ring", "std", "tls12"] }
'
soap_stack='
quick-xml = { version = "0.42", features = ["serialize"] }
rust_decimal = { version = "1", default-features = false, features = ["std"] }
'

# Builds the crate in $1 cold (its own target dir) and prints the seconds it took.
cold_build() {
  local dir=$1
  local start end
  start=$(date +%s.%N)
  cargo build --quiet --manifest-path "$dir/Cargo.toml" --target-dir "$dir/target" >&2
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }' 
}

# A crate at $1 named $2 with the dependencies in $3.
make_crate() {
  mkdir -p "$1/src"
  printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n[dependencies]\n%s\n' \
    "$2" "$3" > "$1/Cargo.toml"
  echo 'fn main() {}' > "$1/src/main.rs"
  # Same dependency versions as this repository.
  cp "$repo/Cargo.lock" "$1/Cargo.lock"
}

for feature in "${features[@]}"; do
  name=${feature//-/_}
  deps=$stack
  case $feature in accountsiq*) deps="$stack$soap_stack" ;; esac

  make_crate "$work/bare_$name" "bare_$name" "$deps"
  bare=$(cold_build "$work/bare_$name")

  make_crate "$work/consumer_$name" "consumer_$name" \
    "customer-data = { path = \"$repo\", default-features = false, features = [\"$feature\"] }"
  consumer=$(cold_build "$work/consumer_$name")

  echo "figure bare_stack_build_seconds_$name $bare"
  echo "figure consumer_build_seconds_$name $consumer"
  echo "figure consumer_build_ratio_$name $(awk -v c="$consumer" -v b="$bare" 'BEGIN { printf "%.3f", c / b }')"
done
