"""Room permissions: the full role × permission table, and the evaluation rules as properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.core.permissions import (
    ALL,
    GUEST_GRANTABLE,
    ROLE_CEILINGS,
    NotAssignable,
    Overrides,
    Permission,
    RoleOverrides,
    RoomRole,
    UnknownPermission,
    check_assignable,
    effective_permissions,
    from_bits,
    names,
    parse_permissions,
    to_bits,
)

# The table, written out by hand (not derived from the module): C creator, A admin,
# M member, G guest; a letter present means the role has the permission by default.
TABLE = """
send_chat_messages          C A M
manage_own_media            C A M
browse_library              C A M
view_members                C A M
view_chat_history           C A M
use_voice_chat              C A M
delete_media                C A
reorder_media               C A
clear_media                 C A
manage_live_streams         C A
control_playback_state      C A
navigate_playback           C A
review_join_requests        C A
remove_members              C A
manage_member_permissions   C A
add_members                 C A
manage_room_settings        C A
delete_chat_messages        C A
delete_room                 C
view_playback_history       C A
"""
LETTER: dict[RoomRole, str] = {"creator": "C", "admin": "A", "member": "M", "guest": "G"}
ROWS = [line.split() for line in TABLE.strip().splitlines()]
CASES = [
    (role, row[0], LETTER[role] in row[1:])
    for row in ROWS
    for role in ("creator", "admin", "member", "guest")
]


def test_the_table_names_every_permission_once_in_bit_order() -> None:
    assert [row[0] for row in ROWS] == [p.value for p in Permission]
    assert len(CASES) == 4 * 20


@pytest.mark.parametrize(("role", "name", "expected"), CASES)
def test_role_defaults(role: RoomRole, name: str, expected: bool) -> None:
    assert (Permission(name) in effective_permissions(role)) is expected


def test_bits_are_synctvs() -> None:
    assert to_bits({Permission.SEND_CHAT_MESSAGES}) == 1
    assert to_bits({Permission.DELETE_ROOM}) == 1 << 18
    assert to_bits({Permission.VIEW_PLAYBACK_HISTORY}) == 1 << 19
    assert to_bits(ALL) == (1 << 20) - 1
    with pytest.raises(UnknownPermission):
        from_bits(1 << 20)  # use_p2p_media in SyncTV: not a permission here
    with pytest.raises(UnknownPermission):
        from_bits(-1)


def test_guests_get_only_what_the_room_grants_from_three() -> None:
    room = RoleOverrides(guest=Overrides(added=ALL))
    assert effective_permissions("guest", room) == GUEST_GRANTABLE
    assert {
        Permission.VIEW_MEMBERS,
        Permission.VIEW_CHAT_HISTORY,
        Permission.USE_VOICE_CHAT,
    } == GUEST_GRANTABLE
    # A guest's own overrides do not exist (guests are never stored): they are ignored.
    assert effective_permissions("guest", None, Overrides(added=GUEST_GRANTABLE)) == frozenset()


def test_a_member_override_can_give_back_what_the_room_took_from_the_role() -> None:
    chat = frozenset({Permission.SEND_CHAT_MESSAGES})
    room = RoleOverrides(member=Overrides(removed=chat))
    assert Permission.SEND_CHAT_MESSAGES not in effective_permissions("member", room)
    trusted = Overrides(added=chat)
    assert Permission.SEND_CHAT_MESSAGES in effective_permissions("member", room, trusted)


def test_names_parse_and_refuse() -> None:
    parsed = parse_permissions(["use_voice_chat", "send_chat_messages"])
    assert names(parsed) == ["send_chat_messages", "use_voice_chat"]
    with pytest.raises(UnknownPermission, match="use_p2p_media"):
        parse_permissions(["use_p2p_media"])


def test_check_assignable() -> None:
    check_assignable("member", ALL - {Permission.DELETE_ROOM})
    check_assignable("guest", GUEST_GRANTABLE)
    with pytest.raises(NotAssignable, match="delete_room"):
        check_assignable("admin", frozenset({Permission.DELETE_ROOM}))
    with pytest.raises(NotAssignable, match="send_chat_messages"):
        check_assignable("guest", frozenset({Permission.SEND_CHAT_MESSAGES}))
    with pytest.raises(NotAssignable):
        check_assignable("creator", frozenset({Permission.VIEW_MEMBERS}))


permission_sets = st.frozensets(st.sampled_from(list(Permission)))
overrides = st.builds(Overrides, added=permission_sets, removed=permission_sets)
role_overrides = st.builds(RoleOverrides, admin=overrides, member=overrides, guest=overrides)
roles = st.sampled_from(["creator", "admin", "member", "guest"])


@given(roles, role_overrides, overrides)
def test_the_evaluation_is_the_documented_formula(
    role: RoomRole, room: RoleOverrides, member: Overrides
) -> None:
    got = effective_permissions(role, room, member)
    if role == "creator":
        assert got == ALL
        return
    ceiling = ROLE_CEILINGS[role]
    level = room.for_role(role)
    expected = (effective_permissions(role) | level.added) - level.removed
    if role != "guest":
        expected = (expected | member.added) - member.removed
    assert got == expected & ceiling


@given(roles, role_overrides, overrides)
def test_properties(role: RoomRole, room: RoleOverrides, member: Overrides) -> None:
    got = effective_permissions(role, room, member)
    assert got <= ROLE_CEILINGS[role]  # never beyond the ceiling
    if role != "creator":
        assert Permission.DELETE_ROOM not in got  # never delegated
        if role != "guest":
            assert not got & member.removed  # the member's own removal always wins
        if role == "guest" or not (member.added & room.for_role(role).removed):
            assert not got & room.for_role(role).removed  # the room's removal wins
    assert from_bits(to_bits(got)) == got


@given(roles, role_overrides, overrides, permission_sets)
def test_adding_never_takes_away_and_removing_never_gives(
    role: RoomRole, room: RoleOverrides, member: Overrides, more: frozenset[Permission]
) -> None:
    base = effective_permissions(role, room, member)
    wider = Overrides(member.added | more, member.removed)
    narrower = Overrides(member.added, member.removed | more)
    assert effective_permissions(role, room, wider) >= base
    assert effective_permissions(role, room, narrower) <= base
