"""The pure domain: characters, lorebooks, personas, chats and prompt assembly (stdlib only)."""
