"""Legacy stack demo agent: a short plan loop over the gateway (gRPC), sandbox and memory."""
