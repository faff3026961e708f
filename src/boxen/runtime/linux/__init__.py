"""boxen."""
