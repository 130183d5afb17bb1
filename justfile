# clawbake's everyday commands. `just --list` shows them.

# Build the built-in example site into dist/.
build:
    cargo run --release -- build

# Format, lint and test, as CI does (CI also installs the checkers first).
test:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo test --workspace

# The man page, from the same definitions as `--help`: target/man/clawbake.1.
man:
    cargo build --release
    mkdir -p target/man
    target/release/clawbake man > target/man/clawbake.1
    @echo "target/man/clawbake.1 (read it with: man -l target/man/clawbake.1)"

# Re-record the golden bundles after an intended change; review the diff.
snapshots:
    INSTA_UPDATE=always cargo test --test bundle golden_bundles

# Wall time (hyperfine) and peak memory (GNU time) of `clawbake build` on the example site.
bench:
    cargo build --release
    rm -rf target/bench && mkdir -p target/bench
    hyperfine --warmup 5 --runs 50 'target/release/clawbake build --out target/bench/dist'
    /usr/bin/time -o target/bench/time.txt -f 'peak RSS %M KiB, %e s wall' target/release/clawbake build --out target/bench/dist > /dev/null 2>&1
    cat target/bench/time.txt

# Upload throughput of 50 MiB over loopback to a test sshd, next to scp.
bench-upload:
    cargo test --release --test transport -- --ignored --nocapture upload_throughput

# Time of a no-op provision (the host already runs the release) against a local sshd.
bench-noop:
    cargo test --release --test host -- --ignored --nocapture no_op_provision_time

# User-data sizes of the example, the two variant sites and a ten-model site.
bench-userdata:
    cargo test --release --test bundle -- --ignored --nocapture user_data_sizes

# `images save` of a 100 MB image from a loopback registry, next to curl of the same blobs.
bench-images:
    cargo test --release --test pin -- --ignored --nocapture images_save_throughput

# Gateway downtime in a stack release next to one `docker restart` in the same VM (the rebuild scenario, ~17 min).
bench-downtime:
    just vm-test rebuild

# The VM tests (vm-tests/): each scenario in a fresh 4 vCPU / 8 GB QEMU VM.
# `just vm-test cloud-init` runs one; CLAWBAKE_VM_KEEP=1 keeps a failed VM.
# The debug build: the test build's artifacts serve, and nothing here is
# bound by clawbake's own speed.
vm-test *ARGS:
    cargo build -p clawbake -p clawbake-vm-tests
    target/debug/vm-test {{ARGS}}
