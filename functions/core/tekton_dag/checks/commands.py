"""The commands people comment on a pull request, parsed without any I/O.

A comment is a command when its first line starts with one of ``events.github.COMMANDS`` (webhook-ingest
publishes nothing else); the rest of the comment is free text. The grammar:

- ``/retest``: run every target of the PR's head again;
- ``/retest <app>``: only the app ``<app>`` (in every stack where this repository is that app);
- ``/test <stack>/<app>``: only that app of that stack;
- ``/cancel``: cancel the PR's running and queued runs.

``parse`` returns a ``Command``, or raises ``CommandError`` whose message is the reply for the PR:
it says what is wrong and how the command is written. Stack and app names are DNS-1123 labels (the
stack and team schemas, ``config/schemas``), so anything else is malformed here already.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from tekton_dag.events.github import COMMANDS, MAX_COMMAND

Action = Literal["retest", "cancel"]
USAGE: Final = "Commands: `/retest`, `/retest <app>`, `/test <stack>/<app>`, `/cancel`."
_NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # a DNS-1123 label


class CommandError(ValueError):
    """A malformed command; the message is the reply."""


@dataclass(frozen=True)
class Command:
    action: Action
    stack: str = ""  # "": any stack
    app: str = ""  # "": any app

    def selects(self, stack: str, app: str) -> bool:
        """Whether the command is about the target (``stack``, ``app``)."""
        return self.stack in ("", stack) and self.app in ("", app)

    @property
    def scope(self) -> str:
        """What the command names, for replies: ``app hello``, ``web/hello``, ``every target``."""
        if self.stack:
            return f"{self.stack}/{self.app}"
        return f"app {self.app}" if self.app else "every target"


def parse(line: str) -> Command:
    """The command on ``line`` (a comment's first line); raises ``CommandError`` with the reply."""
    text = line.strip()
    if not text:
        raise CommandError(f"The comment's first line is empty. {USAGE}")
    if len(text) > MAX_COMMAND:
        raise CommandError(f"The command is longer than {MAX_COMMAND} characters. {USAGE}")
    word, *args = text.split()
    if word not in COMMANDS:
        raise CommandError(f"`{_shown(word)}` is not a command. {USAGE}")
    if word == "/cancel":
        if args:
            raise CommandError(f"`/cancel` takes no arguments, got `{_shown(' '.join(args))}`. {USAGE}")
        return Command("cancel")
    if word == "/retest":
        if len(args) > 1:
            raise CommandError(f"`/retest` takes at most one app name, got `{_shown(' '.join(args))}`. {USAGE}")
        return Command("retest", app=_name(args[0], "app")) if args else Command("retest")
    if len(args) != 1 or args[0].count("/") != 1:
        got = f", got `{_shown(' '.join(args))}`" if args else ""
        bare_app = len(args) == 1 and _NAME.fullmatch(args[0]) is not None
        hint = f" (to re-run app {args[0]} in every stack: `/retest {args[0]}`)" if bare_app else ""
        raise CommandError(f"`/test` needs one `<stack>/<app>`{got}{hint}. {USAGE}")
    stack, app = args[0].split("/")
    return Command("retest", stack=_name(stack, "stack"), app=_name(app, "app"))


def _name(value: str, what: str) -> str:
    if not _NAME.fullmatch(value):
        raise CommandError(
            f"`{_shown(value)}` is not a {what} name (lower-case letters, digits and '-', at most 63). {USAGE}"
        )
    return value


def _shown(text: str) -> str:
    """User text echoed in a reply: short, and without backticks that would break the code span."""
    text = text.replace("`", "'")
    return text if len(text) <= 60 else f"{text[:60]}..."
