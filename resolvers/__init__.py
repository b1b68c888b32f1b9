"""Thin resolvers: typed input in, one service call, schema type out."""
