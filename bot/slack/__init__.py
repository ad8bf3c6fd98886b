"""The Slack front end: the Events API and `/vq` through Bolt, Block Kit formatting, de-duplication."""

from bot.slack.events import clean_text, is_ignorable, mount_slack

__all__ = ["clean_text", "is_ignorable", "mount_slack"]
