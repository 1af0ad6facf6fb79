"""Who may call a maas server and from where: the request policy (Host, Origin, content types), the
server's own token, and inference-only keys. Transport-free: the REST and gRPC faces apply it."""
