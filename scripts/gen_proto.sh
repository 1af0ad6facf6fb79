#!/usr/bin/env bash
# Regenerate the Open Inference Protocol gRPC stubs from maas_jupyter/serving/proto/grpc_predict_v2.proto.
# Usage: scripts/gen_proto.sh [OUT_DIR]   (default: next to the .proto; tests pass a temporary folder)
# Pinned grpcio-tools: stubs from grpcio-tools >= 1.82 need protobuf 7 at run time, and every current
# tritonclient (the standard V2 client; 2.41.1 to 2.73.0 checked) caps protobuf below 7.
set -euo pipefail
REQUIRED_GRPCIO_TOOLS="1.81.1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
PROTO_DIR="$ROOT/maas_jupyter/serving/proto"
OUT_DIR="$(mkdir -p "${1:-$PROTO_DIR}" && cd "${1:-$PROTO_DIR}" && pwd)"

installed="$("$PYTHON" -c 'from importlib.metadata import version; print(version("grpcio-tools"))')"
if [ "$installed" != "$REQUIRED_GRPCIO_TOOLS" ]; then
    echo "gen_proto.sh: need grpcio-tools==$REQUIRED_GRPCIO_TOOLS, found $installed" >&2
    exit 1
fi

cd "$PROTO_DIR"
"$PYTHON" -m grpc_tools.protoc -I. \
    --python_out="$OUT_DIR" --pyi_out="$OUT_DIR" --grpc_python_out="$OUT_DIR" \
    grpc_predict_v2.proto
cd "$OUT_DIR"

# protoc writes a top-level import; the stubs live inside the package.
sed -i 's/^import grpc_predict_v2_pb2 as /from . import grpc_predict_v2_pb2 as /' grpc_predict_v2_pb2_grpc.py

# Build the descriptors in a private pool rather than protobuf's default one: tritonclient.grpc
# registers the same `inference.*` names in the default pool, and two files defining one symbol
# there make the second import fail. A private pool lets both live in one process (a notebook).
sed -i 's/^DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(/DESCRIPTOR = _descriptor_pool.DescriptorPool().AddSerializedFile(/' grpc_predict_v2_pb2.py
grep -q '_descriptor_pool.DescriptorPool().AddSerializedFile' grpc_predict_v2_pb2.py
grep -q '^from . import grpc_predict_v2_pb2 as ' grpc_predict_v2_pb2_grpc.py
echo "regenerated stubs in $OUT_DIR"
