"""Tessera's domain logic: plain Python, no GraphQL or HTTP."""
