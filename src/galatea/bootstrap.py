"""The composition root: builds storage, inference and services from one `Settings`.

`build_services(settings)` only constructs objects (no files, connections or threads yet);
`await services.start()` prepares the database and `await services.close()` releases it.
Entry points (the CLI, the web app's lifespan) are the only callers.
"""

import functools
import json
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError

from galatea.config import AccountSettings, BackendSettings, Settings
from galatea.formats.sillytavern_chats import ChatFileLimits
from galatea.inference.backend import TextBackend
from galatea.inference.errors import InferenceError
from galatea.inference.registry import BackendSpec, build_backend
from galatea.inference.remote.endpoints import EndpointError, Timeouts
from galatea.inference.scheduling import (
    SchedulerConfig,
    TierConfigError,
    TierTable,
    default_tiers,
)
from galatea.inference.scheduling.redis_backlog import RedisQueueHub
from galatea.services.accounts import AccountPolicy, AccountService
from galatea.services.api_tokens import ApiTokenService
from galatea.services.billing import BillingService, WebhookPolicy
from galatea.services.character_files import CharacterFileService
from galatea.services.characters import CharacterPolicy, CharacterService
from galatea.services.chat_files import ChatFileService
from galatea.services.chat_turns import ChatTurns, TurnPolicy
from galatea.services.chats import ChatService
from galatea.services.clock import SystemClock
from galatea.services.engines import BackendSource, Engines
from galatea.services.images import AvatarReader, ImagePolicy
from galatea.services.passwords import Argon2PasswordHasher
from galatea.services.personas import PersonaService
from galatea.services.ports import Clock, PasswordHasher, UnitOfWorkFactory
from galatea.services.presets import PresetService
from galatea.services.quotas import MemoryQuotaStore, QuotaService, QuotaStore
from galatea.services.redis_quotas import RedisQuotaStore
from galatea.services.redis_streams import RedisReplyStreams
from galatea.services.redis_throttle import RedisAttemptThrottle
from galatea.services.reply_streams import ReplyStreamHub, ReplyStreams
from galatea.services.sessions import SessionPolicy, SessionService
from galatea.services.throttle import AttemptThrottle, Limit, SignInThrottle, ThrottleLimits
from galatea.services.tiers import TierService
from galatea.services.usage import UsageService
from galatea.storage import schema
from galatea.storage.db import Database, DatabaseUrlError, normalise_url, sqlite_url
from galatea.storage.unit_of_work import SqlUnitOfWorkFactory

DATABASE_FILE = "galatea.db"
EMBEDDED_POOL = "default"


class StartupError(RuntimeError):
    """Galatea cannot start as configured; the message says what to do."""


@dataclass(slots=True)
class Services:
    """Everything the web app and the CLI call, wired together."""

    database: Database
    uow: UnitOfWorkFactory
    clock: Clock
    accounts: AccountService
    sessions: SessionService
    api_tokens: ApiTokenService
    personas: PersonaService
    characters: CharacterService
    character_files: CharacterFileService
    avatars: AvatarReader
    backup_dir: Path
    presets: PresetService
    chats: ChatService
    chat_turns: ChatTurns
    chat_files: ChatFileService
    engines: Engines
    tiers: TierService
    usage: UsageService
    quotas: QuotaService
    billing: BillingService
    shared: "SharedState | None" = None
    """The Redis every app process shares, when configured."""
    preload_backends: bool = False

    async def start(self) -> None:
        """Make the database ready: SQLite is migrated in place (after a backup when it
        changes); PostgreSQL must already be at the newest revision (`galatea db upgrade`).
        Text backends open at the first reply, or now when preloading is configured."""
        url = self.database.url.render_as_string(hide_password=False)
        try:
            if self.database.is_sqlite:
                path = self.database.sqlite_path
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                await schema.upgrade(url, backup_dir=self.backup_dir)
                await self.database.optimize()
            else:
                await schema.ensure_current(url)
        except schema.SchemaError as error:
            raise StartupError(str(error)) from error
        except OSError as error:
            raise StartupError(f"the database cannot be opened: {error}") from error
        if self.shared is not None:
            try:
                await self.shared.start()
            except StartupError:
                await self.database.dispose()
                raise
        try:
            await self.engines.start(preload=self.preload_backends)
        except InferenceError as error:
            await self.database.dispose()
            raise StartupError(f"the text backends cannot be opened: {error.message}") from error
        self.chat_turns.start()

    async def close(self) -> None:
        """Let running replies finish (for a grace period, then save them as interrupted),
        close the text backends, and release database connections."""
        try:
            await self.chat_turns.close()
        finally:
            try:
                await self.quotas.aclose()
                if self.shared is not None:
                    await self.shared.close()
            finally:
                await self.database.dispose()


@dataclass(slots=True)
class SharedState:
    """The Redis connection and what lives in it: the fair queue's hub and the reply relay."""

    redis: Redis
    queue: RedisQueueHub
    streams: RedisReplyStreams
    url: str

    async def start(self) -> None:
        """Check that Redis answers, then take the queue lease and listen for wake-ups."""
        try:
            await self.redis.ping()
            await self.queue.start()
            await self.streams.start()
        except (RedisError, OSError) as error:
            raise StartupError(
                f"GALATEA_REDIS_URL: Redis at {self.url} cannot be reached: {error}"
            ) from error

    async def close(self) -> None:
        """Give the queue lease back, stop listening and close the connections."""
        await self.streams.aclose()
        await self.queue.aclose()
        await self.redis.aclose()


def database_url(settings: Settings) -> str:
    """The configured database URL, or the embedded SQLite file under the data directory."""
    if settings.database_url:
        return settings.database_url
    return sqlite_url(settings.data_dir / DATABASE_FILE)


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    hasher: PasswordHasher | None = None,
    backends: Sequence[BackendSource] | None = None,
) -> Services:
    """Wire every service from the settings; tests may pass their own clock, hasher and
    backends (for example a `ScriptedBackend`)."""
    try:
        database = Database(database_url(settings))
    except DatabaseUrlError as error:
        raise StartupError(f"GALATEA_DATABASE_URL: {error}") from error
    clock = clock or SystemClock()
    account_settings = settings.accounts
    hasher = hasher or Argon2PasswordHasher(
        time_cost=account_settings.password_hash_time_cost,
        memory_cost_kib=account_settings.password_hash_memory_kib,
    )
    uow = SqlUnitOfWorkFactory(database)
    shared = shared_state(settings)
    limits = _throttle_limits(account_settings)
    throttle: SignInThrottle = (
        AttemptThrottle(limits)
        if shared is None
        else RedisAttemptThrottle(shared.redis, limits, prefix=settings.redis_prefix)
    )
    accounts = AccountService(
        uow,
        hasher,
        clock,
        throttle,
        AccountPolicy(
            signup_open=account_settings.signup_open,
            min_password_length=account_settings.min_password_length,
        ),
    )
    session_policy = SessionPolicy(
        lifetime=timedelta(hours=account_settings.session_lifetime_hours),
        idle_timeout=timedelta(hours=account_settings.session_idle_hours),
    )
    character_policy = _character_policy(settings)
    characters = CharacterService(uow, clock, character_policy)
    chat_settings = settings.chats
    tier_table = load_tiers(settings)
    tiers = TierService(uow, tier_table)
    usage = UsageService(uow, clock, tiers)
    quota_store: QuotaStore = (
        MemoryQuotaStore()
        if shared is None
        else RedisQuotaStore(shared.redis, prefix=settings.redis_prefix)
    )
    quotas = QuotaService(quota_store, usage, tiers, clock)
    engines = Engines(
        backend_sources(settings) if backends is None else backends,
        tier_table,
        SchedulerConfig(
            queue_timeout_s=chat_settings.queue_timeout_seconds,
            total_timeout_s=chat_settings.total_timeout_seconds,
        ),
        backlog_factory=None if shared is None else shared.queue.backlog,
    )
    streams: ReplyStreamHub = (
        ReplyStreams(keep_seconds=chat_settings.stream_keep_seconds)
        if shared is None
        else shared.streams
    )
    chat_turns = ChatTurns(
        uow,
        clock,
        engines,
        streams,
        TurnPolicy(
            max_message_chars=chat_settings.max_message_chars,
            shutdown_grace_s=chat_settings.shutdown_grace_seconds,
            draft_interval_s=chat_settings.draft_seconds,
            draft_stale_s=chat_settings.draft_stale_seconds,
            draft_sweep_s=chat_settings.draft_stale_seconds / 3,
        ),
        quotas=quotas,
    )
    secret = settings.billing.webhook_secret
    billing = BillingService(
        uow,
        clock,
        tiers,
        WebhookPolicy(
            secret=None if secret is None else secret.get_secret_value(),
            tolerance_s=settings.billing.tolerance_seconds,
        ),
    )
    return Services(
        database=database,
        uow=uow,
        clock=clock,
        accounts=accounts,
        sessions=SessionService(uow, accounts, clock, session_policy),
        api_tokens=ApiTokenService(uow, accounts, clock),
        personas=PersonaService(uow, clock),
        characters=characters,
        character_files=CharacterFileService(uow, clock, characters),
        avatars=AvatarReader(character_policy.images),
        backup_dir=settings.data_dir / "backups",
        presets=PresetService(uow, clock),
        chats=ChatService(uow, clock, chat_turns),
        chat_turns=chat_turns,
        chat_files=ChatFileService(
            uow, clock, ChatFileLimits(max_bytes=chat_settings.max_chat_file_bytes)
        ),
        engines=engines,
        tiers=tiers,
        usage=usage,
        quotas=quotas,
        billing=billing,
        shared=shared,
        preload_backends=chat_settings.preload_backends,
    )


def shared_state(settings: Settings) -> SharedState | None:
    """The Redis shared by app processes (`redis_url`), or None to keep state in process.

    Only objects are made here; the first connection is made by `Services.start()`.
    """
    if not settings.redis_url:
        return None
    try:
        redis = Redis.from_url(settings.redis_url)
    except ValueError as error:
        raise StartupError(f"GALATEA_REDIS_URL: {error}") from error
    prefix = settings.redis_prefix
    chat_settings = settings.chats
    return SharedState(
        redis=redis,
        queue=RedisQueueHub(redis, prefix=prefix),
        streams=RedisReplyStreams(
            redis, prefix=prefix, keep_seconds=chat_settings.stream_keep_seconds
        ),
        url=_without_password(settings.redis_url),
    )


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def load_tiers(settings: Settings) -> TierTable:
    """The service tiers: from `tiers_file` (JSON or TOML) when set, else the built-in ones."""
    path = settings.tiers_file
    if path is None:
        return default_tiers()
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        return TierTable.from_mapping(raw)
    except OSError as error:
        raise StartupError(f"GALATEA_TIERS_FILE: {path} cannot be read: {error}") from error
    except (ValueError, TierConfigError, TypeError) as error:
        raise StartupError(f"GALATEA_TIERS_FILE: {path}: {error}") from error


def embedded_spec(settings: Settings, model: str | None = None) -> BackendSpec:
    """The embedded llama.cpp engine as `settings.engine` describes it."""
    engine = settings.engine
    return BackendSpec(
        kind="embedded",
        name="embedded",
        model=model or engine.model,
        context_length=engine.context_length,
        options={
            "threads": engine.threads,
            "max_sequences": engine.max_sequences,
            "repack": engine.repack,
            "cache_dir": str(settings.data_dir / "engine"),
        },
    )


def backend_sources(settings: Settings) -> list[BackendSource]:
    """The configured backends, each opened on first need; none configured means the
    embedded engine."""
    if not settings.backends:
        spec = embedded_spec(settings)
        return [
            BackendSource("embedded", EMBEDDED_POOL, settings.engine.max_sequences, _opener(spec))
        ]
    sources = []
    for index, backend in enumerate(settings.backends, start=1):
        spec = _spec(settings, backend, index)
        slots = settings.engine.max_sequences if backend.kind == "embedded" else backend.slots
        if backend.kind == "embedded":
            slots = int(backend.options.get("max_sequences", slots))
        sources.append(BackendSource(spec.name, backend.pool, slots, _opener(spec)))
    names = [source.name for source in sources]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise StartupError(f"GALATEA_BACKENDS: two backends are named {duplicates[0]!r}")
    return sources


def _spec(settings: Settings, backend: BackendSettings, index: int) -> BackendSpec:
    name = backend.name or f"{backend.kind}-{index}"
    try:
        timeouts = Timeouts(
            connect=backend.connect_timeout,
            first_token=backend.first_token_timeout,
            stall=backend.stall_timeout,
        )
    except EndpointError as error:
        raise StartupError(f"GALATEA_BACKENDS: backend {name!r}: {error}") from error
    if backend.kind == "embedded":
        base = embedded_spec(settings, backend.model)
        return BackendSpec(
            kind="embedded",
            name=name,
            model=base.model,
            context_length=backend.context_length or base.context_length,
            options={**base.options, **backend.options},
        )
    return BackendSpec(
        kind=backend.kind,
        name=name,
        url=backend.url,
        dialect=backend.dialect,
        model=backend.model,
        api_key=None if backend.api_key is None else backend.api_key.get_secret_value(),
        timeouts=timeouts,
        context_length=backend.context_length,
        route=backend.route,
        stream=backend.stream,
        options=dict(backend.options),
    )


def _opener(spec: BackendSpec) -> Callable[[], TextBackend]:
    # Building may block (the embedded engine loads its model): Engines runs it in a thread.
    return functools.partial(build_backend, spec)


def _character_policy(settings: Settings) -> CharacterPolicy:
    web = settings.web
    return CharacterPolicy(
        images=ImagePolicy(max_bytes=web.max_avatar_bytes, max_pixels=web.max_avatar_pixels),
        max_import_files=web.max_import_files,
    )


def _throttle_limits(accounts: AccountSettings) -> ThrottleLimits:
    return ThrottleLimits(
        sign_in_per_account=Limit(
            accounts.sign_in_failures_per_account,
            timedelta(minutes=accounts.sign_in_account_window_minutes),
        ),
        sign_in_per_address=Limit(
            accounts.sign_in_failures_per_address,
            timedelta(minutes=accounts.sign_in_address_window_minutes),
        ),
        sign_up_per_address=Limit(
            accounts.sign_ups_per_address, timedelta(minutes=accounts.sign_up_window_minutes)
        ),
    )


def _is_missing_sqlite_file(url: str) -> bool:
    # Connecting would create the file: asking for the revision must not.
    parsed = normalise_url(url)
    return parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists()


def _checked_url(settings: Settings) -> str:
    url = database_url(settings)
    try:
        normalise_url(url)
    except DatabaseUrlError as error:
        raise StartupError(f"GALATEA_DATABASE_URL: {error}") from error
    return url


async def upgrade_database(settings: Settings, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations up to `revision`; returns the revisions before and after."""
    url = _checked_url(settings)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        before = await schema.current_revision(url)
        await schema.upgrade(url, revision, backup_dir=settings.data_dir / "backups")
        after = await schema.current_revision(url)
    except schema.SchemaError as error:
        raise StartupError(str(error)) from error
    return before, after or "base"


async def database_revisions(settings: Settings) -> tuple[str | None, str]:
    """The database's revision (None when empty) and the newest this version ships."""
    url = _checked_url(settings)
    if _is_missing_sqlite_file(url):
        return None, schema.head_revision()
    return await schema.current_revision(url), schema.head_revision()


async def database_drift(settings: Settings) -> str | None:
    """Differences between the tables in code and the migrated database (None: none)."""
    url = _checked_url(settings)
    try:
        await schema.ensure_current(url)
    except schema.SchemaError as error:
        raise StartupError(str(error)) from error
    return await schema.drift(url)


async def write_migration(settings: Settings, message: str) -> None:
    """For developers: autogenerate a migration from the difference to the database."""
    await schema.write_revision(_checked_url(settings), message)


def open_engine(settings: Settings, model: str | None = None) -> TextBackend:
    """The embedded llama.cpp engine from `settings.engine` (a terminal chat's backend)."""
    return build_backend(embedded_spec(settings, model))
