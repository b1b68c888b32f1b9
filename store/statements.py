"""Every statement both adapters run, each written once.

The class attributes are the neutral text (``:name`` parameters, ``{word}`` markers; see
``store.dialects``); an instance, ``Statements(dialect)``, holds the same names rendered
for one dialect, made once per adapter class at import. A caller passes the arguments
in the order the parameters first appear in the text.

What only one dialect runs (PostgreSQL's data-modifying CTE, its migration lock,
SQLite's multi-statement product insert) stays in its adapter."""

from __future__ import annotations

from collections.abc import Mapping

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
# A person's row with what is worked out on reading it: their live sessions (counted
# through the sessions_by_identifier index, per session config they used) and tags.
_SESSION_USER = (
    "SELECT {session_user_select}, (SELECT COUNT(*) FROM session_user_tags t "
    "JOIN sessions s ON s.config_id = t.config_id AND s.env = t.env "
    "AND s.identifier = t.identifier WHERE t.product_id = u.product_id AND t.env = u.env "
    "AND t.identifier = u.identifier AND s.revoked_at IS NULL "
    "AND s.refresh_expires_at > :now), {user_tags} FROM session_users u"
)
# session_users' identifiers are keyed and ordered bytewise, so every comparison of
# u.identifier says so (on PostgreSQL an index serves only its own collation).
_USERS_OF_ENV = " WHERE u.product_id = :product_id AND u.env = :env"
# Through session_user_tags (g), whose last_seen_at follows its user's.
_USERS_OF_TAG = (
    " JOIN session_user_tags g ON u.product_id = g.product_id AND u.env = g.env "
    "AND u.identifier{bytewise} = g.identifier WHERE g.config_id = :config_id AND g.env = :env"
)
# identifier starts with the prefix: a range an index can serve (:below is the prefix
# followed by enough U+10FFFF to exceed every identifier starting with it).
_USERS_WITH_PREFIX = (
    " AND {alias}.identifier{bytewise} >= :prefix AND {alias}.identifier{bytewise} < :below"
)
# (last_seen_at, identifier) < (:after_seen_at, :after_identifier), as _AFTER.
_USERS_AFTER = (
    " AND {alias}.last_seen_at <= :after_seen_at AND ({alias}.last_seen_at < :after_seen_at "
    "OR {alias}.identifier{bytewise} < :after_identifier)"
)
_USERS_PAGE = " ORDER BY {alias}.last_seen_at DESC, {alias}.identifier{bytewise} DESC LIMIT :limit"


def _users(*, tag: bool, prefix: bool, after: bool) -> str:
    """A page of session users, newest last seen first."""
    alias = "g" if tag else "u"
    text = _SESSION_USER + (_USERS_OF_TAG if tag else _USERS_OF_ENV)
    text += (_USERS_WITH_PREFIX if prefix else "") + (_USERS_AFTER if after else "")
    # {alias} is filled here; every other marker is the dialect's.
    return (text + _USERS_PAGE).replace("{alias}", alias)


# One (product, env)'s events, optionally narrowed; NULL leaves a filter out.
# :types is ",a,b," (event types contain no comma).
_EVENTS = (
    "SELECT {event_columns} FROM events WHERE product = :product AND env = :env "
    "AND (CAST(:tag AS TEXT) IS NULL OR tag = :tag) "
    "AND (CAST(:identifier AS TEXT) IS NULL OR identifier = :identifier) "
    "AND (CAST(:session_id AS TEXT) IS NULL OR session_id = :session_id) "
    "AND (CAST(:types AS TEXT) IS NULL OR {strpos}(:types, ',' || type || ',') > 0) "
    "AND (CAST(:since AS {float}) IS NULL OR at >= :since) "
    "AND (CAST(:until AS {float}) IS NULL OR at < :until) "
    "AND {event_horizon}"
)


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

    # Session events and verification counters --------------------------------------
    INSERT_EVENT = "INSERT INTO events ({new_event_fields}) VALUES ({new_event_params})"
    # The changes an event is recorded with, returning what each event needs of the
    # session rows they touched: id and identifier.
    INSERT_SESSION_LOGGED = INSERT_SESSION + " RETURNING id, identifier"
    REVOKE_SESSION_LOGGED = REVOKE_SESSION + " RETURNING id, identifier"
    REVOKE_IDENTIFIER_LOGGED = REVOKE_IDENTIFIER + " RETURNING id, identifier"
    DELETE_EXPIRED_SESSIONS_RETURNING = (
        DELETE_EXPIRED_SESSIONS + " RETURNING id, identifier, product_id, env, config_id"
    )
    # The whole log in position order from a position, up to the horizon (every row
    # before it is final; see store.dialects).
    EVENTS_AFTER = (
        "SELECT {event_columns} FROM events WHERE (tx, id) > (:tx, :id) "
        "AND {event_horizon} ORDER BY tx, id LIMIT :limit"
    )
    EVENTS_HEAD = (
        "SELECT tx, id FROM events WHERE {event_horizon} ORDER BY tx DESC, id DESC LIMIT 1"
    )
    EVENTS_NEWEST = (
        _EVENTS
        + " AND (CAST(:before_tx AS BIGINT) IS NULL OR (tx, id) < (:before_tx, :before_id)) "
        "ORDER BY tx DESC, id DESC LIMIT :limit"
    )
    EVENTS_BETWEEN = (
        _EVENTS + " AND (tx, id) > (:after_tx, :after_id) "
        "AND (tx, id) <= (:upto_tx, :upto_id) ORDER BY tx, id LIMIT :limit"
    )
    PRUNE_EVENTS = (
        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < :before "
        "ORDER BY at LIMIT :limit)"
    )
    ADD_VERIFICATION_COUNT = (
        "INSERT INTO verification_counts (product, env, tag, minute, outcome, count) "
        "VALUES (:product, :env, :tag, :minute, :outcome, :count) "
        "ON CONFLICT (product, env, tag, minute, outcome) "
        "DO UPDATE SET count = verification_counts.count + excluded.count"
    )
    VERIFICATION_COUNTS = (
        "SELECT product, env, tag, minute, outcome, count FROM verification_counts "
        "WHERE product = :product AND env = :env AND minute >= :since AND minute < :until "
        "ORDER BY minute, tag{bytewise}, outcome{bytewise}"
    )
    PRUNE_VERIFICATION_COUNTS = "DELETE FROM verification_counts WHERE minute < :before"

    # Session users ---------------------------------------------------------------------
    # Run with INSERT_SESSION, in its transaction, with the session's values: one
    # conditional statement each, so concurrent creates for one person all count.
    USER_OF_NEW_SESSION = (
        "INSERT INTO session_users ({session_user_columns}) VALUES (:product_id, :env, "
        ":identifier, :started_at, :started_at, 1, :user_id, :details, :id, :started_at) "
        "ON CONFLICT (product_id, env, identifier{bytewise}) DO UPDATE SET "
        "total_sessions = session_users.total_sessions + 1, "
        "first_seen_at = CASE WHEN excluded.first_seen_at < session_users.first_seen_at "
        "THEN excluded.first_seen_at ELSE session_users.first_seen_at END, "
        "last_seen_at = CASE WHEN excluded.last_seen_at > session_users.last_seen_at "
        "THEN excluded.last_seen_at ELSE session_users.last_seen_at END, "
        "user_id = CASE WHEN excluded.latest_started_at >= session_users.latest_started_at "
        "THEN excluded.user_id ELSE session_users.user_id END, "
        "details = CASE WHEN excluded.latest_started_at >= session_users.latest_started_at "
        "THEN excluded.details ELSE session_users.details END, "
        "latest_session_id = CASE "
        "WHEN excluded.latest_started_at >= session_users.latest_started_at "
        "THEN excluded.latest_session_id ELSE session_users.latest_session_id END, "
        "latest_started_at = CASE "
        "WHEN excluded.latest_started_at >= session_users.latest_started_at "
        "THEN excluded.latest_started_at ELSE session_users.latest_started_at END"
    )
    TAG_OF_NEW_SESSION = (
        "INSERT INTO session_user_tags (product_id, env, identifier, config_id, last_seen_at) "
        "VALUES (:product_id, :env, :identifier, :config_id, :started_at) "
        "ON CONFLICT (product_id, env, identifier, config_id) DO NOTHING"
    )
    TAGS_SEEN_AT_START = (
        "UPDATE session_user_tags SET last_seen_at = :started_at WHERE product_id = :product_id "
        "AND env = :env AND identifier = :identifier AND last_seen_at < :started_at"
    )
    # Run after ROTATE_REFRESH, in its transaction, only if it rotated. The session's
    # owner is read from its row (those columns never change).
    USER_SEEN_AT_REFRESH = (
        "UPDATE session_users SET last_seen_at = :now "
        "WHERE product_id = (SELECT product_id FROM sessions WHERE id = :id) "
        "AND env = (SELECT env FROM sessions WHERE id = :id) "
        "AND identifier{bytewise} = (SELECT identifier FROM sessions WHERE id = :id) "
        "AND last_seen_at < :now"
    )
    TAGS_SEEN_AT_REFRESH = (
        "UPDATE session_user_tags SET last_seen_at = :now "
        "WHERE product_id = (SELECT product_id FROM sessions WHERE id = :id) "
        "AND env = (SELECT env FROM sessions WHERE id = :id) "
        "AND identifier = (SELECT identifier FROM sessions WHERE id = :id) "
        "AND last_seen_at < :now"
    )
    SESSION_USER = _SESSION_USER + _USERS_OF_ENV + " AND u.identifier{bytewise} = :identifier"
    SESSION_USERS = _users(tag=False, prefix=False, after=False)
    SESSION_USERS_AFTER = _users(tag=False, prefix=False, after=True)
    SESSION_USERS_WITH_PREFIX = _users(tag=False, prefix=True, after=False)
    SESSION_USERS_WITH_PREFIX_AFTER = _users(tag=False, prefix=True, after=True)
    SESSION_USERS_OF_TAG = _users(tag=True, prefix=False, after=False)
    SESSION_USERS_OF_TAG_AFTER = _users(tag=True, prefix=False, after=True)
    SESSION_USERS_OF_TAG_WITH_PREFIX = _users(tag=True, prefix=True, after=False)
    SESSION_USERS_OF_TAG_WITH_PREFIX_AFTER = _users(tag=True, prefix=True, after=True)
    # Users whose details were copied in before the sessions' were sealed
    # (Sessions.seal_stored_details) take their latest session's sealed copy.
    SEAL_SESSION_USER_DETAILS = (
        "UPDATE session_users SET details = (SELECT s.details FROM sessions s "
        "WHERE s.id = session_users.latest_session_id) "
        "WHERE substr(details, 1, 1) = :plain AND EXISTS (SELECT 1 FROM sessions s "
        "WHERE s.id = session_users.latest_session_id AND substr(s.details, 1, 1) != :plain)"
    )

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        # Each statement's parameter names, in order, for ``bind``.
        self.parameters: dict[str, tuple[str, ...]] = {}
        for name, text in vars(Statements).items():
            if name.isupper():
                setattr(self, name, dialect.render(text))
                self.parameters[name] = dialect.parameters(text)

    def bind(self, name: str, values: Mapping[str, object]) -> tuple[str, tuple[object, ...]]:
        """The statement ``name`` with its arguments taken from ``values`` by name."""
        return getattr(self, name), tuple(values[p] for p in self.parameters[name])
