"""The handlers: one router per feature."""
