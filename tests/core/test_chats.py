from datetime import UTC, datetime, timedelta

import pytest

from galatea.core.chats import ChatTree, Message, UnknownMessage

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def msg(role: str, text: str, parent: str | None, minute: int) -> Message:
    return Message(
        role=role,  # type: ignore[arg-type]
        name="You" if role == "user" else "Ava",
        text=text,
        parent_id=parent,
        created_at=T0 + timedelta(minutes=minute),
    )


def build() -> tuple[ChatTree, list[Message]]:
    tree = ChatTree()
    greet = tree.add(msg("character", "Hello!", None, 0))
    ask = tree.add(msg("user", "Hi, who are you?", greet.id, 1))
    reply1 = tree.add(msg("character", "I am Ava.", ask.id, 2))
    reply2 = tree.add(msg("character", "Call me Ava.", ask.id, 3))
    return tree, [greet, ask, reply1, reply2]


def test_new_swipe_becomes_the_shown_reply_and_earlier_ones_are_kept() -> None:
    tree, (_, _, reply1, reply2) = build()
    assert [m.text for m in tree.active_path()] == ["Hello!", "Hi, who are you?", "Call me Ava."]
    assert [m.id for m in tree.siblings(reply2.id)] == [reply1.id, reply2.id]


def test_swipe_left_and_right_wraps_and_changes_the_active_path() -> None:
    tree, (_, _, reply1, reply2) = build()
    assert tree.swipe(reply2.id, -1).id == reply1.id
    assert tree.last() is not None and tree.last().text == "I am Ava."  # type: ignore[union-attr]
    assert tree.swipe(reply1.id, -1).id == reply2.id  # wraps around


def test_branch_below_an_unselected_swipe_is_kept_and_restored_on_select() -> None:
    tree, (_, ask, reply1, reply2) = build()
    tree.select(reply1.id)
    follow = tree.add(msg("user", "Nice to meet you", reply1.id, 4))
    tree.select(reply2.id)
    assert tree.last() == reply2
    tree.select(reply1.id)
    assert tree.last() == follow
    assert [m.id for m in tree.path_to(follow.id)][1:] == [ask.id, reply1.id, follow.id]


def test_remove_drops_the_subtree_and_selects_a_remaining_sibling() -> None:
    tree, (_, ask, reply1, reply2) = build()
    child = tree.add(msg("user", "more", reply2.id, 5))
    removed = tree.remove(reply2.id)
    assert set(removed) == {reply2.id, child.id}
    assert tree.last() == reply1
    assert tree.children(ask.id) == [reply1]


def test_unknown_ids_are_reported() -> None:
    tree, _ = build()
    with pytest.raises(UnknownMessage):
        tree.get("nope")
    with pytest.raises(UnknownMessage):
        tree.add(msg("user", "orphan", "missing-parent", 9))


def test_empty_chat_has_no_path() -> None:
    assert ChatTree().active_path() == []
    assert ChatTree().last() is None
