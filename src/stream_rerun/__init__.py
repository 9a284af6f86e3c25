"""ddb-stream-rerun: re-fire DynamoDB Streams events for chosen items. The version comes from the git tag."""

from stream_rerun.version import __version__

__all__ = ["__version__"]
