"""``mobsim push``: send a campaign through a backend's Push API (``POST /push/3/messages``).

    mobsim push --target http://127.0.0.1:8080 --api-key KEY --segment "Active Mobile Users" --text "Hi"
    mobsim push --target URL --api-key KEY --external-user-id u-1 --external-user-id u-2 --text "Hi"

The sender is the application code (``--app-code``); against a ``mobsim serve`` with one
application it may be left out. Authentication is the account API key (``Authorization: App KEY``),
never an application code. The target policy is the other commands' (:mod:`mobsim.targets`): off
loopback the send needs ``--allow-remote-target``. ``--watch SECONDS`` then follows the campaign's
funnel on a target with the inspection API (``GET /inspect/campaigns/{bulkId}``).

Exit codes: 0 the backend accepted the campaign and it reached at least one installation; 1 it was
accepted but reached nobody; 2 bad options, an unconfirmed remote target, a target that cannot be
reached, or a send the backend refused (its error is printed); 130 interrupted while watching.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from contract.headers import inspection_headers

from . import exitcodes
from .targets import ALLOW_REMOTE_HELP, TargetError, check_target, is_loopback

__all__ = ["build_request", "register"]

SEND_PATH = "/push/3/messages"


def build_request(args: argparse.Namespace, app_code: str) -> dict[str, Any]:
    """The ``POST /push/3/messages`` body of the parsed options (one message, its destinations)."""
    primary = {"targetOnlyPrimaryDevices": True} if args.primary_only else {}
    destinations: list[dict[str, Any]] = []
    if args.segment:
        destinations.append({"type": "SEGMENT", "segment": args.segment, **primary})
    kinds = (("EXTERNAL_USER_ID", "externalUserId", args.external_user_id),
             ("REGISTRATION", "pushRegistrationId", args.registration_id),
             ("EMAIL", "email", args.email), ("PHONE_NUMBER", "phoneNumber", args.phone_number))  # fmt: skip
    for kind, key, values in kinds:
        destinations += [{"type": kind, key: value, **primary} for value in values or ()]
    content: dict[str, Any] = {"text": args.text, "type": "TEXT"}
    if args.title:
        content["title"] = args.title
    message: dict[str, Any] = {"sender": app_code, "destinations": destinations, "content": content}
    options: dict[str, Any] = {}
    if args.silent:
        options["isSilent"] = True
    if args.validity_minutes is not None:
        options["validityPeriod"] = {"amount": args.validity_minutes, "timeUnit": "MINUTES"}
    if args.send_at:
        options["sendAt"] = args.send_at
    if options:
        message["options"] = options
    body: dict[str, Any] = {"messages": [message]}
    if args.bulk_id:
        body["options"] = {"schedule": {"bulkId": args.bulk_id}}
    return body


def _sole_app(client: Any) -> str:
    answer = client.get("/inspect/applications", headers=inspection_headers())
    if answer.status_code != 200:
        raise TargetError("give --app-code CODE: the application that sends (the target lists no applications)")
    listed = answer.json()
    rows = listed.get("applications", listed) if isinstance(listed, dict) else listed
    codes = [row.get("code") for row in rows if isinstance(row, dict) and row.get("code")]
    if len(codes) != 1:
        raise TargetError(f"give --app-code CODE: the target has {len(codes)} applications, mobsim cannot choose")
    return str(codes[0])


def _error_text(answer: Any) -> str:
    try:
        data = answer.json()
    except ValueError:
        return str(answer.text)[:300]
    service = (data.get("requestError") or {}).get("serviceException") if isinstance(data, dict) else None
    if isinstance(service, dict):
        return f"{service.get('messageId')}: {service.get('text')}"
    if isinstance(data, dict) and "errorCode" in data:
        return f"{data.get('errorCode')}: {data.get('description')}"
    return str(json.dumps(data))[:300]


def push_command(args: argparse.Namespace) -> int:
    import httpx

    try:
        url = check_target(args.target)
        if not is_loopback(url) and not args.allow_remote_target:
            raise TargetError(f"{url} is not on loopback: add --allow-remote-target to confirm you may send it pushes")
        if not any((args.segment, args.external_user_id, args.registration_id, args.email, args.phone_number)):
            raise TargetError("say who gets it: --segment NAME, --external-user-id ID, --registration-id ID, "
                              "--email ADDRESS or --phone-number NUMBER")  # fmt: skip
        if not args.text.strip():
            raise TargetError("--text must not be empty")
        with httpx.Client(base_url=url, timeout=30.0, headers={"Authorization": f"App {args.api_key}"}) as client:
            app_code = args.app_code or _sole_app(client)
            answer = client.post(SEND_PATH, json=build_request(args, app_code))
            if answer.status_code >= 300:
                sys.stderr.write(f"mobsim push: {url} refused the send ({answer.status_code}): {_error_text(answer)}\n")
                return exitcodes.USAGE
            sent = answer.json()
            messages = sent.get("messages") or []
            print(f"bulk {sent.get('bulkId')}: {len(messages)} messages to installations of app {app_code[:8]}...")
            if args.json:
                print(json.dumps(sent, indent=2))
            if args.watch:
                _watch(client, str(sent.get("bulkId")), args.watch)
    except TargetError as exc:
        sys.stderr.write(f"mobsim push: {exc}\n")
        return exitcodes.USAGE
    except httpx.HTTPError as exc:
        sys.stderr.write(f"mobsim push: {args.target} cannot be reached: {exc}\n")
        return exitcodes.USAGE
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    return exitcodes.PASSED if messages else exitcodes.FAILED


_FUNNEL = ("sent", "handed", "delivered", "seen", "opened", "converted", "expired")


def _watch(client: Any, bulk_id: str, seconds: float) -> None:
    end = time.monotonic() + seconds
    while True:
        answer = client.get(f"/inspect/campaigns/{bulk_id}", headers=inspection_headers())
        if answer.status_code != 200:
            print("(the target has no campaign metrics to watch)")
            return
        data = answer.json()
        print("  ".join(f"{name} {data.get(name, 0)}" for name in _FUNNEL))
        if time.monotonic() >= end:
            return
        time.sleep(min(5.0, max(0.0, end - time.monotonic())))


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "push",
        help="send a campaign through a backend's Push API",
        description="Send one message through POST /push/3/messages, to a segment or to persons and installations.",
    )
    parser.add_argument(
        "--target", metavar="URL", required=True, help="the backend's base URL, e.g. http://127.0.0.1:8080"
    )
    parser.add_argument("--api-key", metavar="KEY", required=True,
                        help="an account API key (mobsim serve prints one), sent as 'App KEY'")  # fmt: skip
    parser.add_argument("--app-code", metavar="CODE", help="the sending application (optional when the target has one)")
    parser.add_argument("--allow-remote-target", action="store_true", help=ALLOW_REMOTE_HELP)
    who = parser.add_argument_group("who gets it (at least one)")
    who.add_argument(
        "--segment", metavar="NAME", help="a saved segment of the target (mobsim serve: /inspect/segments)"
    )
    who.add_argument("--external-user-id", metavar="ID", action="append", help="a person (repeatable)")
    who.add_argument("--registration-id", metavar="ID", action="append", help="one installation (repeatable)")
    who.add_argument("--email", metavar="ADDRESS", action="append", help="the person with this email (repeatable)")
    who.add_argument(
        "--phone-number", metavar="NUMBER", action="append", help="the person with this phone (repeatable)"
    )
    who.add_argument("--primary-only", action="store_true", help="only each person's primary device")
    what = parser.add_argument_group("the message")
    what.add_argument("--text", required=True, help="the notification's text")
    what.add_argument("--title", help="the notification's title")
    what.add_argument("--silent", action="store_true", help="a silent push (no notification shown)")
    what.add_argument("--send-at", metavar="ISO_TIME", help="schedule it, e.g. 2026-12-01T18:00:00.000+0000")
    what.add_argument("--validity-minutes", type=int, metavar="N", help="expire what was not delivered after N minutes")
    what.add_argument("--bulk-id", metavar="ID", help="the campaign's bulk id (else the backend makes one)")
    parser.add_argument("--watch", type=float, metavar="SECONDS", default=0.0,
                        help="then print the campaign's funnel every 5 s for this long")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the backend's whole answer")
    parser.set_defaults(handler=push_command)
