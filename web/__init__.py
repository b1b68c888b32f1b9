"""The HTTP edge: the ``/graphql`` endpoint, the request-shape middlewares in front of
it, the refusals of requests no operation ran for, GraphiQL and the health probes.

It sits between ``server`` (the app factory) and ``schema``, which never imports it."""
