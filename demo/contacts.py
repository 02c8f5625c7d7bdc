"""The audience's contacts: obviously synthetic by default, realistic only when asked for.

Data that a demo or a load test puts into a real account must never reach a stranger. By default
every email is at a domain reserved for examples (RFC 2606 section 3 and RFC 6761 section 6.5:
``example.com``, ``example.net``, ``example.org``) and every phone number lies in a range that the
country's numbering regulator keeps out of service for drama, fiction or tests (``RESERVED_PHONES``).
``--realistic-contacts`` (``AudienceOptions.realistic_contacts``) brings back realistic mail hosts
and valid national mobile numbers, which may belong to real people.

The fallback: a country for which no such range is listed here (its regulator publishes none, or
none that could be verified) gives its persons **no phone** by default. Phones are optional in
People, and any plausible-looking number outside a reserved range could be somebody's.

Reserved ranges are small (the UK keeps 1,000 mobile numbers for drama). A country's numbers are
handed out once per seed, to its logged-in persons in person order, each rank to a different
number (a seed-dependent permutation of the country's blocks); once they are all taken, the later
persons of that country get no phone, never a number outside the range.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

__all__ = ["RESERVED_DOMAINS", "RESERVED_PHONES", "Block", "phone_capacity", "reserved_email", "reserved_phone"]

RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
"""Second-level domains reserved for documentation and examples (RFC 2606, RFC 6761)."""


@dataclass(frozen=True)
class Block:
    """A run of numbers reserved for fiction, in international format: each ``#`` is any digit.

    ``Block("+44 7700 900###")`` is the 1,000 numbers +44 7700 900000 to +44 7700 900999.
    """

    pattern: str

    @property
    def width(self) -> int:
        return self.pattern.count("#")

    @property
    def size(self) -> int:
        return int(10**self.width)

    def number(self, slot: int) -> str:
        """The ``slot``-th number of the block (0 <= slot < size)."""
        digits = iter(f"{slot:0{self.width}d}")
        return "".join(next(digits) if c == "#" else c for c in self.pattern)


# Area codes of the persons of the US: 50 real ones, 5,000 reserved numbers (every NANP area code has
# 555-0100 to 555-0199 reserved, so the area code does not matter for safety, only for realism).
_NANP_AREAS = ("201", "202", "203", "205", "206", "210", "212", "213", "214", "215", "216", "301", "303",
               "305", "310", "312", "313", "314", "317", "401", "402", "404", "405", "407", "408", "410",
               "412", "414", "415", "502", "503", "504", "505", "512", "513", "602", "612", "615", "617",
               "619", "702", "704", "713", "720", "801", "808", "816", "917", "919", "972")  # fmt: skip

RESERVED_PHONES: dict[str, tuple[Block, ...]] = {
    # United States (NANP): 555-0100 to 555-0199 are reserved for fictitious use in every area code
    # (NANPA; the other 555 line numbers are assignable, so only 01xx is used). 100 numbers an area code.
    "US": tuple(Block(f"+1 {area} 555 01##") for area in _NANP_AREAS),
    # United Kingdom: Ofcom, "Telephone numbers for use in TV and radio drama": mobile numbers
    # 07700 900000 to 07700 900999 are never allocated to communications providers.
    "GB": (Block("+44 7700 900###"),),
    # France: ARCEP, numbers reserved for fiction (audiovisual works) in the national numbering plan:
    # mobile 06 39 98 00 00 to 06 39 98 99 99.
    "FR": (Block("+33 6 39 98 ## ##"),),
    # Germany: Bundesnetzagentur, "Rufnummern für Medienproduktionen (Drama Numbers)", Mitteilung
    # Nr. 148/2021, Amtsblatt 7/2021: 1,000 numbers in each of five local networks, Berlin (0)30 23125,
    # Frankfurt (0)69 90009, Hamburg (0)40 66969, Köln (0)221 4710, München (0)89 99998, each 000-999.
    # (The notice also lists 12 mobile numbers or small ranges given by the operators; not used here.)
    "DE": tuple(Block(f"+49 {network}###") for network in ("30 23125", "69 90009", "40 66969", "221 4710", "89 99998")),
    # No verified range, so no phone by default: ES, IT, BR, HR, PL, TR, NL, IN, ID, JP.
}
"""Per country code: the blocks of numbers its regulator reserves for drama, fiction or tests."""


def _hash(*parts: object) -> int:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def reserved_email(local_part: str, seed: int, person: int) -> str:
    """The person's address at a reserved example domain (the person number keeps it unique)."""
    return f"{local_part}{person}@{RESERVED_DOMAINS[_hash('domain', seed, person) % len(RESERVED_DOMAINS)]}"


def phone_capacity(country: str) -> int:
    """How many reserved numbers the country has (0: none, its persons get no phone)."""
    return sum(block.size for block in RESERVED_PHONES.get(country, ()))


def reserved_phone(country: str, seed: int, rank: int) -> str | None:
    """The number of the country's ``rank``-th phone holder (0-based) for this seed, or None.

    Different ranks get different numbers while they last; None when the country has no reserved
    range or ``rank`` is past its end.
    """
    blocks = RESERVED_PHONES.get(country, ())
    total = sum(block.size for block in blocks)
    if not 0 <= rank < total:
        return None
    step = _hash("phone-step", seed, country) % total or 1
    while math.gcd(step, total) != 1:  # a step coprime to the size makes rank -> slot a bijection
        step += 1
    slot = (_hash("phone-offset", seed, country) + rank * step) % total
    for block in blocks:
        if slot < block.size:
            return block.number(slot)
        slot -= block.size
    raise AssertionError("unreachable: slot < total")  # pragma: no cover
