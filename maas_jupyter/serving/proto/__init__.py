"""Open Inference Protocol gRPC definitions: grpc_predict_v2.proto and its generated stubs (scripts/gen_proto.sh)."""
