"""Initial schema: accounts, sessions, API tokens, sign-in attempts, characters with their cards,
tags, avatars and assets, personas, presets, chats and their message trees.

Revision ID: f5ba19a8e3f3
Revises:
Create Date: 2026-11-22 03:15:35.177373
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f5ba19a8e3f3"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this change."""
    op.create_table(
        "auth_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account_key", sa.String(length=64), nullable=True),
        sa.Column("address_key", sa.String(length=64), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_attempts")),
    )
    op.create_index(op.f("ix_auth_attempts_attempted_at"), "auth_attempts", ["attempted_at"])
    op.create_index(
        op.f("ix_auth_attempts_kind_account_key_attempted_at"),
        "auth_attempts",
        ["kind", "account_key", "attempted_at"],
    )
    op.create_index(
        op.f("ix_auth_attempts_kind_address_key_attempted_at"),
        "auth_attempts",
        ["kind", "address_key", "attempted_at"],
    )

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("username_key", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("age_confirmed", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('user', 'moderator', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username_key", name=op.f("uq_users_username_key")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])

    op.create_table(
        "characters",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("creator", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("is_adult", sa.Boolean(), nullable=False),
        sa.Column("chat_count", sa.Integer(), nullable=False),
        sa.Column("avatar_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "visibility IN ('public', 'unlisted', 'private')", name=op.f("ck_characters_visibility")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_characters_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_characters")),
    )
    op.create_index(
        op.f("ix_characters_owner_id_updated_at"), "characters", ["owner_id", "updated_at"]
    )
    op.create_index(
        op.f("ix_characters_visibility_is_adult_chat_count_created_at"),
        "characters",
        ["visibility", "is_adult", "chat_count", "created_at"],
    )
    op.create_index(
        op.f("ix_characters_visibility_is_adult_created_at"),
        "characters",
        ["visibility", "is_adult", "created_at"],
    )
    op.create_index(
        op.f("ix_characters_visibility_is_adult_name_key"),
        "characters",
        ["visibility", "is_adult", "name_key"],
    )

    op.create_table(
        "personas",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("avatar_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_personas_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personas")),
    )
    op.create_index(op.f("ix_personas_owner_id"), "personas", ["owner_id"])

    op.create_table(
        "presets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_presets_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presets")),
    )
    op.create_index(op.f("ix_presets_owner_id_name"), "presets", ["owner_id", "name"], unique=True)

    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=512), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    op.create_index(op.f("ix_user_sessions_expires_at"), "user_sessions", ["expires_at"])
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"])

    op.create_table(
        "character_assets",
        sa.Column("character_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["character_id"],
            ["characters.id"],
            name=op.f("fk_character_assets_character_id_characters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("character_id", "path", name=op.f("pk_character_assets")),
    )
    op.create_table(
        "character_avatars",
        sa.Column("character_id", sa.String(length=32), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["character_id"],
            ["characters.id"],
            name=op.f("fk_character_avatars_character_id_characters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("character_id", name=op.f("pk_character_avatars")),
    )
    op.create_table(
        "character_cards",
        sa.Column("character_id", sa.String(length=32), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["character_id"],
            ["characters.id"],
            name=op.f("fk_character_cards_character_id_characters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("character_id", name=op.f("pk_character_cards")),
    )
    op.create_table(
        "character_tags",
        sa.Column("character_id", sa.String(length=32), nullable=False),
        sa.Column("tag_key", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["character_id"],
            ["characters.id"],
            name=op.f("fk_character_tags_character_id_characters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("character_id", "tag_key", name=op.f("pk_character_tags")),
    )
    op.create_index(
        op.f("ix_character_tags_tag_key_character_id"),
        "character_tags",
        ["tag_key", "character_id"],
    )

    op.create_table(
        "chats",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("character_id", sa.String(length=32), nullable=True),
        sa.Column("persona_id", sa.String(length=32), nullable=True),
        sa.Column("preset_id", sa.String(length=32), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("last_position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["character_id"],
            ["characters.id"],
            name=op.f("fk_chats_character_id_characters"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_chats_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["persona_id"],
            ["personas.id"],
            name=op.f("fk_chats_persona_id_personas"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["preset_id"],
            ["presets.id"],
            name=op.f("fk_chats_preset_id_presets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chats")),
    )
    op.create_index(op.f("ix_chats_character_id"), "chats", ["character_id"])
    op.create_index(
        op.f("ix_chats_owner_id_character_id_updated_at"),
        "chats",
        ["owner_id", "character_id", "updated_at"],
    )
    op.create_index(op.f("ix_chats_owner_id_updated_at"), "chats", ["owner_id", "updated_at"])
    op.create_index(op.f("ix_chats_persona_id"), "chats", ["persona_id"])
    op.create_index(op.f("ix_chats_preset_id"), "chats", ["preset_id"])

    op.create_table(
        "persona_avatars",
        sa.Column("persona_id", sa.String(length=32), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["persona_id"],
            ["personas.id"],
            name=op.f("fk_persona_avatars_persona_id_personas"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("persona_id", name=op.f("pk_persona_avatars")),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("is_selected", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generation", sa.JSON(none_as_null=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('user', 'character', 'system')", name=op.f("ck_messages_role")
        ),
        sa.CheckConstraint("status IN ('complete', 'incomplete')", name=op.f("ck_messages_status")),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_messages_chat_id_chats"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["messages.id"], name=op.f("fk_messages_parent_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_index(op.f("ix_messages_chat_id_parent_id"), "messages", ["chat_id", "parent_id"])
    op.create_index(op.f("ix_messages_parent_id"), "messages", ["parent_id"])


def downgrade() -> None:
    """Undo this change."""
    op.drop_index(op.f("ix_messages_parent_id"), table_name="messages")
    op.drop_index(op.f("ix_messages_chat_id_parent_id"), table_name="messages")

    op.drop_table("messages")
    op.drop_table("persona_avatars")
    op.drop_index(op.f("ix_chats_preset_id"), table_name="chats")
    op.drop_index(op.f("ix_chats_persona_id"), table_name="chats")
    op.drop_index(op.f("ix_chats_owner_id_updated_at"), table_name="chats")
    op.drop_index(op.f("ix_chats_owner_id_character_id_updated_at"), table_name="chats")
    op.drop_index(op.f("ix_chats_character_id"), table_name="chats")

    op.drop_table("chats")
    op.drop_index(op.f("ix_character_tags_tag_key_character_id"), table_name="character_tags")

    op.drop_table("character_tags")
    op.drop_table("character_cards")
    op.drop_table("character_avatars")
    op.drop_table("character_assets")
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_index(op.f("ix_user_sessions_expires_at"), table_name="user_sessions")

    op.drop_table("user_sessions")
    op.drop_index(op.f("ix_presets_owner_id_name"), table_name="presets")

    op.drop_table("presets")
    op.drop_index(op.f("ix_personas_owner_id"), table_name="personas")

    op.drop_table("personas")
    op.drop_index(op.f("ix_characters_visibility_is_adult_name_key"), table_name="characters")
    op.drop_index(op.f("ix_characters_visibility_is_adult_created_at"), table_name="characters")
    op.drop_index(
        op.f("ix_characters_visibility_is_adult_chat_count_created_at"), table_name="characters"
    )
    op.drop_index(op.f("ix_characters_owner_id_updated_at"), table_name="characters")

    op.drop_table("characters")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")

    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_index(
        op.f("ix_auth_attempts_kind_address_key_attempted_at"), table_name="auth_attempts"
    )
    op.drop_index(
        op.f("ix_auth_attempts_kind_account_key_attempted_at"), table_name="auth_attempts"
    )
    op.drop_index(op.f("ix_auth_attempts_attempted_at"), table_name="auth_attempts")

    op.drop_table("auth_attempts")
