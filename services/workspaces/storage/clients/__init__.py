"""Outbound gRPC adapters: the other wio services as this service's rules see them."""
