"""Text generation: the `TextBackend` protocol, the embedded engine and remote clients.

This package knows nothing about characters or chats; it turns prompts into text.
"""
