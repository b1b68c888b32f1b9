"""Every statement both adapters run, each written once.

The class attributes are the neutral text (``:name`` parameters, ``{word}`` markers; see
``store.dialects``); an instance, ``Statements(dialect)``, holds the same names rendered
for one dialect, made once per adapter class at import. A caller passes the arguments
in the order the parameters first appear in the text.

What only one dialect runs (PostgreSQL's data-modifying CTE, its migration lock,
SQLite's multi-statement product insert) stays in its adapter."""

from __future__ import annotations

from store.dialects import Dialect

_PRODUCT = "SELECT p.id, p.tag, p.name, p.created_at, {env_list} FROM products p"
_CONFIG = "SELECT {config_columns} FROM session_configs"
_INSERT_CONFIG = (
    "INSERT INTO session_configs (product_id, {config_fields}, created_at, updated_at) "
    "VALUES (:product_id, {config_params}, :now, :now)"
)
_KEY = "SELECT {key_columns} FROM signing_keys"
_LIVE = (
    "SELECT {session_columns} FROM sessions WHERE config_id = :config_id AND env = :env "
    "AND revoked_at IS NULL AND refresh_expires_at > :now"
)
_COUNT_LIVE = (
    "SELECT COUNT(*) FROM sessions WHERE config_id = :config_id AND env = :env "
    "AND revoked_at IS NULL AND refresh_expires_at > :now"
)
_OF_IDENTIFIER = " AND identifier = :identifier"
# (started_at, id) < (:after_started_at, :after_id), with a bound an index on
# started_at can use.
_AFTER = (
    " AND started_at <= :after_started_at"
    " AND (started_at < :after_started_at OR id{bytewise} < :after_id)"
)
_PAGE = " ORDER BY started_at DESC, id{bytewise} DESC LIMIT :limit"
_API_KEY = "SELECT {api_key_select} FROM api_keys k LEFT JOIN products p ON p.id = k.product_id"
_API_KEY_ORDER = " ORDER BY k.created_at, k.id{bytewise}"


class Statements:
    """The store's statements; an instance renders them all for one dialect."""

    # Migrations ----------------------------------------------------------------------
    CREATE_SCHEMA_MIGRATIONS = (
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at {float} NOT NULL)"
    )
    APPLIED_VERSIONS = "SELECT version FROM schema_migrations"
    SCHEMA_VERSION = "SELECT MAX(version) FROM schema_migrations"
    RECORD_MIGRATION = (
        "INSERT INTO schema_migrations (version, name, applied_at) "
        "VALUES (:version, :name, :applied_at)"
    )

    # Metadata ------------------------------------------------------------------------
    GET_META = "SELECT value FROM meta WHERE key = :key"
    REPLACE_META = "UPDATE meta SET value = :new WHERE key = :key AND value = :old"
    INSERT_META_IF_ABSENT = (
        "INSERT INTO meta (key, value) VALUES (:key, :value) ON CONFLICT (key) DO NOTHING "
        "RETURNING value"
    )

    # Products and environments -------------------------------------------------------
    PRODUCT_BY_TAG = _PRODUCT + " WHERE p.tag = :tag"
    PRODUCT_BY_ID = _PRODUCT + " WHERE p.id = :id"
    LIST_PRODUCTS = _PRODUCT + " ORDER BY p.tag{bytewise}"
    INSERT_ENV_IF_ABSENT = (
        "INSERT INTO environments (product_id, env, created_at) "
        "VALUES (:product_id, :env, :created_at) ON CONFLICT (product_id, env) DO NOTHING"
    )

    # Session configs -----------------------------------------------------------------
    CONFIG_BY_TAG = _CONFIG + " WHERE product_id = :product_id AND tag = :tag"
    LIST_CONFIGS = _CONFIG + " WHERE product_id = :product_id ORDER BY tag{bytewise}"
    INSERT_CONFIG = _INSERT_CONFIG + " RETURNING {config_columns}"
    INSERT_CONFIG_IF_ABSENT = (
        _INSERT_CONFIG + " ON CONFLICT (product_id, tag) DO NOTHING RETURNING {config_columns}"
    )
    UPDATE_CONFIG = (
        "UPDATE session_configs SET {config_assignments}, updated_at = :now WHERE id = :id "
        "RETURNING {config_columns}"
    )
    DELETE_CONFIG = "DELETE FROM session_configs WHERE id = :id"

    # Key rings -----------------------------------------------------------------------
    LIST_KEYS = _KEY + " WHERE product_id = :product_id AND env = :env ORDER BY created_at DESC"
    FIND_KEY = _KEY + " WHERE kid = :kid"
    ACTIVE_KEY = (
        _KEY + " WHERE product_id = :product_id AND env = :env AND alg = :alg AND state = 'active'"
    )
    # Arbitrated by the partial unique index signing_keys_one_active: of racing
    # instances exactly one inserts, the others read its key back.
    INSERT_ACTIVE_KEY = (
        "INSERT INTO signing_keys ({key_columns}) VALUES ({key_params}) "
        "ON CONFLICT (product_id, env, alg) WHERE state = 'active' DO NOTHING "
        "RETURNING {key_columns}"
    )
    # A rotation: the active keys become verify-only (until :retire_at), or every key
    # still usable is retired at once; then the new keys are inserted, in the same
    # transaction. Two rotations racing cannot leave two active keys of one algorithm:
    # the unique index refuses the later insert.
    INSERT_KEY = "INSERT INTO signing_keys ({key_columns}) VALUES ({key_params})"
    DEMOTE_ACTIVE_KEYS = (
        "UPDATE signing_keys SET state = 'verify_only', retire_at = :retire_at "
        "WHERE product_id = :product_id AND env = :env AND state = 'active' "
        "AND created_at < :before"
    )
    RETIRE_RING_KEYS = (
        "UPDATE signing_keys SET state = 'retired', wrapped = :erased, retire_at = :now "
        "WHERE product_id = :product_id AND env = :env AND state != 'retired'"
    )
    # Retired keys lose their material: nothing can make them verify again.
    RETIRE_EXPIRED_KEYS = (
        "UPDATE signing_keys SET state = 'retired', wrapped = :erased "
        "WHERE state = 'verify_only' AND retire_at <= :now"
    )
    LIVE_KEYS = _KEY + " WHERE state != 'retired' ORDER BY created_at, kid{bytewise}"
    REWRAP_KEY = "UPDATE signing_keys SET wrapped = :new WHERE kid = :kid AND wrapped = :old"
    RINGS_ACTIVE_SINCE_BEFORE = (
        "SELECT DISTINCT product_id, env FROM signing_keys "
        "WHERE state = 'active' AND created_at < :before"
    )

    # Sessions ------------------------------------------------------------------------
    # A new session was seen and refreshed at its start; the other columns start NULL.
    INSERT_SESSION = (
        "INSERT INTO sessions ({new_session_fields}, last_seen_at, last_refresh_at, "
        "refresh_generation) VALUES ({new_session_params}, :started_at, :started_at, 0)"
    )
    GET_SESSION = "SELECT {session_columns} FROM sessions WHERE id = :id"
    ROTATE_REFRESH = (
        "UPDATE sessions SET refresh_generation = refresh_generation + 1, "
        "refresh_hash = :refresh_hash, rotated_at = :now, last_refresh_at = :now, "
        "last_seen_at = :now, expires_at = :expires_at "
        "WHERE id = :id AND refresh_generation = :generation AND revoked_at IS NULL "
        "RETURNING {session_columns}"
    )
    REVOKE_SESSION = (
        "UPDATE sessions SET revoked_at = :now, revoked_reason = :reason "
        "WHERE id = :id AND config_id = :config_id AND env = :env AND revoked_at IS NULL"
    )
    REVOKE_IDENTIFIER = (
        "UPDATE sessions SET revoked_at = :now, revoked_reason = :reason "
        "WHERE config_id = :config_id AND env = :env AND identifier = :identifier "
        "AND revoked_at IS NULL AND refresh_expires_at > :now "
        "AND id {is_distinct_from} :except_session"
    )
    TOUCH_SESSION = (
        "UPDATE sessions SET last_seen_at = :now WHERE id = :id AND last_seen_at <= :seen_before"
    )
    LIVE_SESSIONS = _LIVE + _PAGE
    LIVE_SESSIONS_AFTER = _LIVE + _AFTER + _PAGE
    LIVE_SESSIONS_OF_IDENTIFIER = _LIVE + _OF_IDENTIFIER + _PAGE
    LIVE_SESSIONS_OF_IDENTIFIER_AFTER = _LIVE + _OF_IDENTIFIER + _AFTER + _PAGE
    COUNT_LIVE_SESSIONS = _COUNT_LIVE
    COUNT_LIVE_SESSIONS_OF_IDENTIFIER = _COUNT_LIVE + _OF_IDENTIFIER
    SESSION_DETAILS_WITH_PREFIX = (
        "SELECT id, details FROM sessions WHERE substr(details, 1, :length) = :prefix LIMIT :limit"
    )
    REPLACE_SESSION_DETAILS = "UPDATE sessions SET details = :new WHERE id = :id AND details = :old"
    DELETE_EXPIRED_SESSIONS = (
        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions "
        "WHERE refresh_expires_at < :before ORDER BY refresh_expires_at LIMIT :limit"
        "{skip_locked})"
    )

    # API keys ------------------------------------------------------------------------
    INSERT_API_KEY = "INSERT INTO api_keys ({api_key_columns}) VALUES ({api_key_params})"
    API_KEY_BY_HASH = _API_KEY + " WHERE k.key_hash = :key_hash"
    API_KEY_BY_ID = _API_KEY + " WHERE k.id = :id"
    LIST_API_KEYS = _API_KEY + _API_KEY_ORDER
    LIST_PRODUCT_API_KEYS = _API_KEY + " WHERE k.product_id = :product_id" + _API_KEY_ORDER
    REVOKE_API_KEY = "UPDATE api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL"
    TOUCH_API_KEY = (
        "UPDATE api_keys SET last_used_at = :now WHERE id = :id "
        "AND (last_used_at IS NULL OR last_used_at <= :used_before)"
    )
    COUNT_ADMIN_KEYS = "SELECT COUNT(*) FROM api_keys WHERE is_admin = 1 AND revoked_at IS NULL"

    # Persisted documents -------------------------------------------------------------
    PERSISTED_DOCUMENT = (
        "SELECT {persisted_document_columns} FROM persisted_documents WHERE hash = :hash"
    )
    # A hash names one text, so a document stored already is left as it is.
    INSERT_PERSISTED_DOCUMENT_IF_ABSENT = (
        "INSERT INTO persisted_documents ({persisted_document_columns}) "
        "VALUES ({persisted_document_params}) ON CONFLICT (hash) DO NOTHING"
    )
    # A client's registration of the same text becomes trusted; a trusted or built-in
    # document stays what it is.
    PUT_TRUSTED_DOCUMENT = (
        "INSERT INTO persisted_documents ({persisted_document_columns}) "
        "VALUES ({persisted_document_params}) ON CONFLICT (hash) DO UPDATE "
        "SET source = excluded.source WHERE persisted_documents.source = 'apq'"
    )
    # Every client-registered document but the newest :keep, newest by (created_at,
    # hash) so that equal times still order; the subquery is NULL while there are no
    # more than :keep, and then nothing matches.
    EVICT_APQ_DOCUMENTS = (
        "DELETE FROM persisted_documents WHERE source = 'apq' "
        "AND (created_at, hash{bytewise}) <= (SELECT created_at, hash{bytewise} "
        "FROM persisted_documents WHERE source = 'apq' "
        "ORDER BY created_at DESC, hash{bytewise} DESC LIMIT 1 OFFSET :keep)"
    )

    # Change version ------------------------------------------------------------------
    # One counter in meta for every table instances cache (products, environments,
    # session configs, API keys), advanced in the transaction of each change to them.
    BUMP_CHANGE_VERSION = (
        "INSERT INTO meta (key, value) VALUES (:key, '1') ON CONFLICT (key) "
        "DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT) RETURNING value"
    )

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        for name, text in vars(Statements).items():
            if name.isupper():
                setattr(self, name, dialect.render(text))
