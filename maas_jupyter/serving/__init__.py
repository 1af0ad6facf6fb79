"""Serving: named endpoints over ONNX Runtime behind the Open Inference Protocol (KServe V2).

Core (no tornado, no gRPC):
  types.py        Tensor, RequestedOutput, InferenceRequest, InferenceResponse; V2 <-> numpy datatypes
  runtime.py      ModelRuntime: one loaded, warmed ONNX Runtime session; validation; draining
  batcher.py      Batcher: concurrent requests merged into one run and split back
  endpoint.py     Endpoint + Routes: which runtimes take an endpoint's traffic (primary, canary, previous)
  deployments.py  Deployments: deploy/swap, canary, promote, rollback, undeploy, update (Platform.deployments)
  reconcile.py    bringing endpoints up from stored desired state; repository index/load/unload
  tables.py       EndpointState, the desired state row (migration 0002_serving)
  dataplane.py    DataPlane: health, metadata, infer, repository; what every transport calls
  codec_rest.py   V2 JSON and binary tensor extension <-> types
Transports and process:
  rest.py         tornado handlers of /v2/... and the bearer-token face of `maas serve`
  grpc_*.py       gRPC transport (inference.GRPCInferenceService)
  app.py          the `maas serve` process: REST, management API under /api/, gRPC hook, reconcile
  supervisor.py   ServingProcess: `maas serve` as a supervised loopback child (Jupyter extension, magics)
  client.py       ServingClient: HTTP client with the Deployments method names, plus predict()
"""
