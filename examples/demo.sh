#!/usr/bin/env bash
# The whole flow of the seed article against a local AWS endpoint (a moto
# server on loopback): train, build the deps layer, publish the model, deploy,
# run a Kinesis event through the handler on the real layer files, publish a
# second model, compare it with the first and relink, then roll back to version 1.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

PORT=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python ../scripts/moto_server.py -H 127.0.0.1 -p "$PORT" >moto.log 2>&1 &  # moto, mappings keeping their alias (see the script)
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=testing \
       AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=eu-west-1
python - <<'PY'
import os, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/")
        break
    except OSError:
        time.sleep(0.1)
PY

step "local AWS endpoint at $AWS_ENDPOINT_URL; role, stream and bucket as a real account has them"
python setup_aws.py

step "$(python -V): the model is trained here; mlayer takes the Lambda runtime from it (its runtime: line)"

step "train model v1 (two pre-processors and a classifier)"
python train.py --version 1 --out model/v1
V1=(model/v1/1_vectorizer.joblib model/v1/2_tfidf.joblib model/v1/3_classifier.joblib)

step "mlayer build-deps --publish (numpy, scipy, scikit-learn for that runtime, x86_64)"
mlayer build-deps --publish

step "mlayer publish-model (v1)"
mlayer publish-model "${V1[@]}" --label v1

step "mlayer deploy --dry-run, then deploy"
mlayer deploy --dry-run
mlayer deploy

step "mlayer invoke --local: a Kinesis event through the handler on the real layer files"
mlayer invoke --local --event event.json

step "mlayer deploy again: nothing changed"
mlayer deploy

step "train model v2, publish it and relink (deps layer untouched)"
python train.py --version 2 --out model/v2
mlayer publish-model model/v2/1_vectorizer.joblib model/v2/2_tfidf.joblib model/v2/3_classifier.joblib --label v2
mlayer compare 1 2 --event event.json   # how v2 agrees with v1 on the same records
mlayer deploy                           # a new function version; alias live moves to it
mlayer invoke --local --event event.json
mlayer status

step "mlayer rollback --version 1: one alias update back to the version that served v1"
mlayer rollback --version 1
mlayer versions
mlayer status
