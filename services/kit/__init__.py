"""The shared runtime kit: settings, logging, trace ids, metrics, tracing, gRPC and HTTP
bootstrap. Every service builds on it; nothing here is specific to one service."""
