"""``spill2lerobot inspect``: what a bag holds and what the profile can make of it, from the index.

By job: ``facts`` (what is reported), ``topics`` (topic facts from the index), ``images`` (one
image per camera), ``check`` (the profile check), ``suggest`` and ``suggest_generic`` (the
suggested profile), ``profile_yaml`` (it as YAML), ``report`` (the whole report, as text),
``command`` (the click command).
"""

from spill2lerobot.inspect.command import inspect_command
from spill2lerobot.inspect.facts import BagFacts, ImageInfo, ProfileCheck, Suggestion, TopicFacts
from spill2lerobot.inspect.report import inspect_bag, report_lines

__all__ = [
    "BagFacts",
    "ImageInfo",
    "ProfileCheck",
    "Suggestion",
    "TopicFacts",
    "inspect_bag",
    "inspect_command",
    "report_lines",
]
