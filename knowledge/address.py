"""Addresses as residents write them: 3号楼2单元501, 三栋, 7幢, 3-2-501."""

from __future__ import annotations

import re
from dataclasses import dataclass

DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
NUM = r"(?:\d{1,3}|[零〇一二两三四五六七八九十百]{1,4})"
BUILDING = re.compile(rf"({NUM})\s*(?:号楼|号院|栋楼|栋|幢|座|号(?!\s*(?:单元|室)))")
BUILDING_BEFORE_UNIT = re.compile(rf"({NUM})\s*楼\s*(?=({NUM})\s*单元)")
UNIT = re.compile(rf"({NUM})\s*单元")
ROOM = re.compile(r"(?<![\d-])(\d{3,4})\s*(?:室|号|房)?(?!\d)")
DASHED = re.compile(r"(?<!\d)(\d{1,3})\s*[-－—]\s*(\d{1,2})\s*[-－—]\s*(\d{3,4})(?!\d)")
# One word of an address: a building, unit, floor or room ("3号楼", "2单元", "五层", "501室").
# They say where, never what: a lexicon does not learn them. A bare number may be 110.
ADDRESS_WORD = re.compile(rf"{NUM}\s*(?:号楼|号院|栋楼|栋|幢|座|单元|楼|层|室|号)")


def is_address_word(word: str) -> bool:
    return ADDRESS_WORD.fullmatch(word) is not None


@dataclass(frozen=True)
class Address:
    building: str  # canonical building key, e.g. "3号楼"
    unit: str = ""  # "2"
    room: str = ""  # "501"

    def display(self) -> str:
        unit = f"{self.unit}单元" if self.unit else ""
        room = f"{self.room}室" if self.room else ""
        return f"{self.building}{unit}{room}"


def chinese_number(text: str) -> int | None:
    """1..999 from digits or Chinese numerals (三, 十二, 二十, 一百零五)."""
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for char in text:
        if char in DIGITS:
            current = DIGITS[char]
        elif char == "十":
            total += (current or 1) * 10
            current = 0
        elif char == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    total += current
    return total or None


def canonical_building(name: str) -> str:
    """The key a building is stored under: "三栋", "3幢", "3号" -> "3号楼"; others unchanged."""
    text = name.strip()
    match = BUILDING.fullmatch(text) or re.fullmatch(rf"({NUM})\s*楼", text)
    if match:
        number = chinese_number(match.group(1))
        if number is not None:
            return f"{number}号楼"
    return text


def parse_address(text: str, extra_buildings: tuple[str, ...] = ()) -> Address | None:
    """The building (and unit and room when given) in a message, or None."""
    dashed = DASHED.search(text)
    if dashed:
        return Address(f"{int(dashed.group(1))}号楼", str(int(dashed.group(2))), dashed.group(3))
    building = ""
    rest = text
    for name in extra_buildings:  # named places (商业街) before numbered buildings
        if name and name in text:
            building, rest = name, text[text.index(name) + len(name) :]
            break
    match = None if building else BUILDING.search(text) or BUILDING_BEFORE_UNIT.search(text)
    if match:
        number = chinese_number(match.group(1))
        if number is not None:
            building = f"{number}号楼"
            rest = text[match.end() :]
    if not building:
        return None
    unit = ""
    unit_match = UNIT.search(rest)
    if unit_match:
        unit_number = chinese_number(unit_match.group(1))
        unit = str(unit_number) if unit_number else ""
        rest = rest[unit_match.end() :]
    room_match = ROOM.search(rest)
    room = room_match.group(1) if room_match else ""
    return Address(building, unit, room)
