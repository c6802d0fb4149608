#!/usr/bin/env bash
# The README's "Run on a cluster" commands, end to end on this machine: `jdnas local-cluster` stands in
# for `ray up cluster.yaml` (a head and a worker node, token auth on), loopback stands in for the
# port-forwarding of `ray dashboard` / `ray attach -p 5000`. Run from the repository root after `make install`.
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH"
work=$(mktemp -d /tmp/jdnas-cluster-XXXX)
export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=${RAY_AUTH_TOKEN:-$(python -c 'import secrets; print(secrets.token_hex(32))')}
# the tracking server asks for a user (docs/security.md); here the admin is also the client
export MLFLOW_AUTH_ADMIN_USERNAME=admin MLFLOW_AUTH_ADMIN_PASSWORD=$(python -c 'import secrets; print(secrets.token_urlsafe(18))')
export MLFLOW_TRACKING_USERNAME=$MLFLOW_AUTH_ADMIN_USERNAME MLFLOW_TRACKING_PASSWORD=$MLFLOW_AUTH_ADMIN_PASSWORD
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; echo "left in $work"' EXIT

jdnas local-cluster --nodes 2 --cpus-per-node 1 --dashboard-port 8265 --logs "$work/ray" > "$work/cluster.log" 2>&1 &
pids+=($!)
jdnas tracking-server --auth --auth-dir "$work/auth" --backend-store-uri "sqlite:///$work/mlflow.db" \
    --artifacts-destination "$work/mlartifacts" --port 5000 > "$work/tracking.log" 2>&1 &
pids+=($!)
until curl -sf http://127.0.0.1:5000/health > /dev/null && grep -q "Ctrl-C" "$work/cluster.log"; do sleep 1; done

jdnas submit unet-width --preset quick --address http://127.0.0.1:8265 --tracking-uri http://127.0.0.1:5000 \
    --remote-workdir "$work/head" --set base_width=4,8 --set seeds=1 --set epochs=1 --set train_size=1000 --set cpus_per_trial=1 --wait \
    | tee "$work/submit.log"
job=$(sed -n 's/.* as job \([^ ]*\)$/\1/p' "$work/submit.log")
ray job status --address http://127.0.0.1:8265 "$job"
ray job logs --address http://127.0.0.1:8265 "$job" | tail -5
jdnas sync-mlflow unet-width --preset quick --set base_width=4,8 --set seeds=1 --set epochs=1 --set train_size=1000 \
    --set cpus_per_trial=1 \
    --tracking-uri http://127.0.0.1:5000 --storage "$work/head/results"
echo "MLflow UI: http://127.0.0.1:5000 (experiment unet-width, user admin: \$MLFLOW_TRACKING_PASSWORD of this shell); report: $(ls "$work"/head/reports/*/report.md)"
