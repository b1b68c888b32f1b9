"""Column lists shared by the adapters: each record type is read in this order, so
``Record(*row)`` works on either database."""

from __future__ import annotations

CONFIG_COLUMNS = (
    "id, product_id, tag, name, description, selector, expiry, period, refresh_expiry, "
    "refresh_period, idle_timeout, refresh_grace_seconds, json_schema, token_format, "
    "created_at, updated_at"
)
SESSION_COLUMNS = (
    "id, product_id, env, config_id, identifier, user_id, details, started_at, expires_at, "
    "refresh_expires_at, last_seen_at, last_refresh_at, revoked_at, revoked_reason, "
    "refresh_generation, refresh_hash, refresh_salt, rotated_at"
)
KEY_COLUMNS = "kid, product_id, env, alg, state, wrapped, created_at"
API_KEY_COLUMNS = (
    "id, name, key_hash, product_id, envs, is_admin, created_at, last_used_at, revoked_at"
)
# API keys are read with their product's tag, so scope checks need no second query.
API_KEY_SELECT = (
    "SELECT k.id, k.name, k.key_hash, k.product_id, k.envs, k.is_admin, k.created_at, "
    "k.last_used_at, k.revoked_at, p.tag FROM api_keys k LEFT JOIN products p "
    "ON p.id = k.product_id"
)
