"""The Slack front end: the Events API and `/vq` through Bolt, Block Kit formatting, de-duplication.

`mount` decides whether Bolt is needed at all; `events` (Bolt, imported only then) handles Slack's requests.
"""

from bot.slack.mount import mount_slack

__all__ = ["mount_slack"]
