"""The realtime room channel: sync rules (pure), messages, the room hub."""
