"""Outbound gRPC adapters: the other wio services as the indexer's rules see them."""
