"""Lorebook activation: keys, scan depth, constant/disabled, secondary keys, recursion,
decorators, budgets, and the recorded reasons."""

from galatea.core.lore_activation import LoreHit, LoreOptions, activate_lore, apply_lore_budget
from galatea.core.lorebooks import Lorebook, LoreEntry


def entry(keys: list[str], content: str, **fields: object) -> LoreEntry:
    return LoreEntry(keys=keys, content=content, **fields)  # type: ignore[arg-type]


def fired(
    book: Lorebook,
    texts: list[str],
    *,
    character_messages: int = 1,
    options: LoreOptions | None = None,
) -> list[str]:
    activation = activate_lore(
        [book], texts, character_messages=character_messages, options=options
    )
    return [hit.content for hit in activation.fired]


def decisions(book: Lorebook, texts: list[str], **kwargs: object) -> dict[str, LoreHit]:
    activation = activate_lore([book], texts, character_messages=kwargs.get("chars", 1))  # type: ignore[arg-type]
    return {hit.label: hit for hit in activation.hits}


def test_an_entry_fires_when_its_key_is_in_recent_messages() -> None:
    book = Lorebook(entries=[entry(["lamp"], "Whale oil."), entry(["boat"], "A skiff.")])
    assert fired(book, ["Light the LAMP, please."]) == ["Whale oil."]


def test_only_the_last_scan_depth_messages_are_scanned() -> None:
    book = Lorebook(entries=[entry(["lamp"], "Whale oil.")], scan_depth=2)
    assert fired(book, ["the lamp", "one", "two"]) == []
    assert fired(book, ["one", "the lamp", "two"]) == ["Whale oil."]


def test_default_scan_depth_applies_when_the_book_has_none() -> None:
    book = Lorebook(entries=[entry(["lamp"], "Whale oil.")])
    assert fired(book, ["the lamp", "a", "b"], options=LoreOptions(scan_depth=2)) == []


def test_constant_fires_disabled_never_empty_content_adds_nothing() -> None:
    book = Lorebook(
        entries=[
            entry([], "Always.", constant=True),
            entry(["lamp"], "Off.", enabled=False, constant=True),
            entry(["lamp"], "   "),
        ]
    )
    assert fired(book, ["lamp"]) == ["Always."]


def test_constant_is_ignored_for_regex_entries_as_the_spec_says() -> None:
    book = Lorebook(entries=[entry(["/zzz/"], "Regex.", constant=True, use_regex=True)])
    assert fired(book, ["nothing"]) == []


def test_fired_entries_come_in_insertion_order() -> None:
    book = Lorebook(
        entries=[
            entry(["a"], "third", insertion_order=30),
            entry(["a"], "first", insertion_order=-5),
            entry(["a"], "second", insertion_order=10),
        ]
    )
    assert fired(book, ["a"]) == ["first", "second", "third"]


def test_selective_entries_need_a_secondary_key() -> None:
    book = Lorebook(
        entries=[entry(["king"], "Crowned.", selective=True, secondary_keys=["crown", "throne"])]
    )
    assert fired(book, ["the king"]) == []
    assert fired(book, ["the king sat on the throne"]) == ["Crowned."]


def test_sillytavern_selective_logic_not_any() -> None:
    book = Lorebook(
        entries=[
            entry(
                ["king"],
                "Uncrowned.",
                selective=True,
                secondary_keys=["crown"],
                extensions={"selectiveLogic": 2},
            )
        ]
    )
    assert fired(book, ["the king"]) == ["Uncrowned."]
    hits = decisions(book, ["the king and his crown"])
    assert not hits["king"].fired
    assert "secondary keys (not any)" in hits["king"].reason


def test_case_sensitive_and_partial_word_settings_per_entry() -> None:
    book = Lorebook(
        entries=[
            entry(["Rose"], "A name.", case_sensitive=True),
            entry(["cat"], "Cats.", extensions={"match_whole_words": False}),
        ]
    )
    assert fired(book, ["a rose in the category"]) == ["Cats."]


def test_regex_keys_fire_and_bad_ones_say_why() -> None:
    book = Lorebook(
        entries=[
            entry([r"/\bdragons?\b/i"], "Dragons.", use_regex=True, name="dragons"),
            entry(["(a+)+$"], "Evil.", use_regex=True, name="evil"),
        ]
    )
    activation = activate_lore(
        [book], ["A DRAGON! aaaaaaaaaaaaaaaaaaaaaaaaaaaa!"], character_messages=1
    )
    by_label = {hit.label: hit for hit in activation.hits}
    assert by_label["dragons"].fired
    assert not by_label["evil"].fired
    assert "catastrophically" in by_label["evil"].reason


def test_the_regex_work_budget_of_a_turn_is_shared() -> None:
    keys = [f"/x{n}.*y/" for n in range(20)]
    book = Lorebook(entries=[entry([key], f"E{n}.", use_regex=True) for n, key in enumerate(keys)])
    options = LoreOptions(regex_step_budget=10_000_000)
    activation = activate_lore([book], ["z " * 4000], character_messages=1, options=options)
    skipped = [hit for hit in activation.hits if "budget" in hit.reason]
    assert skipped  # the later patterns were not run
    assert all(not hit.fired for hit in activation.hits)


def test_recursive_scanning_follows_fired_content_to_a_depth_limit() -> None:
    book = Lorebook(
        entries=[
            entry(["castle"], "The castle has a moat."),
            entry(["moat"], "The moat hides an eel."),
            entry(["eel"], "The eel is named Bob."),
            entry(["bob"], "Bob is a ghost."),
        ]
    )
    everything = fired(book, ["the castle"])
    assert len(everything) == 4
    limited = fired(book, ["the castle"], options=LoreOptions(recursion_depth=1))
    assert limited == ["The castle has a moat.", "The moat hides an eel."]


def test_recursion_can_be_switched_off_per_book_and_per_entry() -> None:
    entries = [entry(["castle"], "A moat."), entry(["moat"], "An eel.")]
    assert fired(Lorebook(entries=entries, recursive_scanning=False), ["castle"]) == ["A moat."]
    entries[0].extensions["prevent_recursion"] = True
    assert fired(Lorebook(entries=entries), ["castle"]) == ["A moat."]
    entries[0].extensions.clear()
    entries[1].extensions["exclude_recursion"] = True
    assert fired(Lorebook(entries=entries), ["castle"]) == ["A moat."]


def test_recursion_reason_names_fired_lore() -> None:
    book = Lorebook(entries=[entry(["castle"], "A moat."), entry(["moat"], "An eel.")])
    hits = decisions(book, ["castle"])
    assert hits["moat"].reason == "key 'moat' found in fired lore"
    assert hits["castle"].reason == "key 'castle' found in recent messages"


def test_activate_only_after_and_every_count_character_messages() -> None:
    book = Lorebook(
        entries=[
            entry([], "@@activate_only_after 3\nLate.", constant=True, name="late"),
            entry([], "@@activate_only_every 2\nEven.", constant=True, name="even"),
        ]
    )
    assert fired(book, ["hi"], character_messages=2) == ["Even."]
    assert fired(book, ["hi"], character_messages=3) == ["Late."]
    activation = activate_lore([book], ["hi"], character_messages=1)
    reasons = {hit.label: hit.reason for hit in activation.hits}
    assert "@@activate_only_after 3: the character has 1 messages" in reasons["late"]


def test_activate_and_dont_activate() -> None:
    book = Lorebook(
        entries=[
            entry(["never-said"], "@@activate\nForced."),
            entry(["lamp"], "@@dont_activate\nBlocked.", name="blocked"),
        ]
    )
    activation = activate_lore([book], ["lamp"], character_messages=1)
    assert [h.content for h in activation.fired] == ["Forced."]
    assert "held back by @@dont_activate" in activation.hits[-1].reason


def test_additional_and_exclude_keys() -> None:
    book = Lorebook(
        entries=[
            entry(["sea"], "@@additional_keys storm, gale\nRough sea."),
            entry(["sea"], "@@exclude_keys calm\nNot calm."),
        ]
    )
    assert fired(book, ["the sea"]) == ["Not calm."]
    assert fired(book, ["the sea in a gale, calm now"]) == ["Rough sea."]


def test_decorator_scan_depth_overrides_the_book() -> None:
    book = Lorebook(entries=[entry(["lamp"], "@@scan_depth 3\nOil.")], scan_depth=1)
    assert fired(book, ["lamp", "a", "b"]) == ["Oil."]


def test_placement_from_decorators_and_sillytavern_extensions() -> None:
    book = Lorebook(
        entries=[
            entry(["a"], "@@depth 2\n@@role assistant\nD.", name="dec"),
            entry(["a"], "E.", name="ext", extensions={"position": 4, "depth": 1, "role": 1}),
            entry(["a"], "@@position after_desc\nP.", name="pos"),
            entry(["a"], "A.", name="after", position="after_char"),
            entry(["a"], "B.", name="default"),
        ]
    )
    hits = {h.label: h for h in activate_lore([book], ["a"], character_messages=1).hits}
    assert (hits["dec"].position, hits["dec"].depth, hits["dec"].role) == ("depth", 2, "assistant")
    assert (hits["ext"].position, hits["ext"].depth, hits["ext"].role) == ("depth", 1, "user")
    assert hits["pos"].position == "after_desc"
    assert hits["after"].position == "after_char"
    assert hits["default"].position == "before_char"


def test_hits_say_which_are_dynamic() -> None:
    book = Lorebook(
        entries=[
            entry([], "Always.", constant=True, name="constant"),
            entry([], "@@activate_only_every 1\nSometimes.", constant=True, name="conditional"),
            entry(["a"], "Keyed.", name="keyed"),
        ]
    )
    hits = {h.label: h for h in activate_lore([book], ["a"], character_messages=1).hits}
    assert not hits["constant"].dynamic
    assert hits["conditional"].dynamic
    assert hits["keyed"].dynamic


def test_labels_prefer_name_then_comment_then_id_then_key() -> None:
    book = Lorebook(
        entries=[
            entry(["a"], "1", name="Named"),
            entry(["a"], "2", comment="Commented"),
            entry(["a"], "3", id=7),
            entry(["a"], "4"),
            entry([], "5", constant=True),
        ]
    )
    labels = [h.label for h in activate_lore([book], ["a"], character_messages=0).hits]
    assert sorted(labels) == sorted(["Named", "Commented", "#7", "a", "entry 4"])


def test_several_books_are_scanned() -> None:
    first = Lorebook(entries=[entry(["a"], "From one.")])
    second = Lorebook(entries=[entry(["a"], "From two.", insertion_order=-1)])
    activation = activate_lore([first, second], ["a"], character_messages=0)
    assert [(h.book, h.content) for h in activation.fired] == [(1, "From two."), (0, "From one.")]


def test_budget_drops_lowest_priority_first_and_ignore_on_max_context_before_all() -> None:
    book = Lorebook(
        entries=[
            entry(["a"], "low", priority=1, name="low"),
            entry(["a"], "high", priority=10, name="high"),
            entry(["a"], "@@ignore_on_max_context\nfirst to go", priority=99, name="go"),
            entry(["a"], "mid", priority=5, name="mid"),
        ]
    )
    hits = activate_lore([book], ["a"], character_messages=0).fired
    keep = apply_lore_budget(hits, [10] * len(hits), 20)
    kept = {h.label for h, k in zip(hits, keep, strict=True) if k}
    assert kept == {"high", "mid"}


def test_budget_without_priorities_drops_the_lowest_insertion_order() -> None:
    book = Lorebook(entries=[entry(["a"], str(n), insertion_order=n) for n in range(4)])
    hits = activate_lore([book], ["a"], character_messages=0).fired
    keep = apply_lore_budget(hits, [10, 10, 10, 10], 25)
    assert [h.content for h, k in zip(hits, keep, strict=True) if k] == ["2", "3"]


def test_blank_and_non_text_keys_are_skipped() -> None:
    book = Lorebook(entries=[entry(["", "   ", 7, "lamp"], "Oil.")])  # type: ignore[list-item]
    assert fired(book, ["the lamp"]) == ["Oil."]


def test_hostile_regex_keys_against_a_long_chat_are_refused_not_run() -> None:
    """The attack of our security notes (S19): nested quantifiers against 50 KB of chat."""
    hostile = ["(a+)+$", "(.*a){20}", "a{1000}{1000}", r"(\w+\s?)*$"]
    book = Lorebook(
        entries=[entry([key], f"Hostile {n}.", use_regex=True) for n, key in enumerate(hostile)]
        + [entry([r"/\bdragon\b/i"], "Dragon.", use_regex=True)]
    )
    chat = ["a" * 25_000 + "!", "aaaa " * 5_000 + "a Dragon!"]
    activation = activate_lore([book], chat, character_messages=1)
    assert [hit.content for hit in activation.fired] == ["Dragon."]
    refused = [hit for hit in activation.hits if not hit.fired]
    assert len(refused) == len(hostile)
    assert all(hit.reason.startswith("not scanned: regex key") for hit in refused)


def test_keys_given_as_one_string_are_one_key() -> None:
    book = Lorebook(entries=[entry("lamp", "Oil.")])  # type: ignore[arg-type]
    assert fired(book, ["a lamp"]) == ["Oil."]
    assert fired(book, ["a map"]) == []  # not the letters of "lamp" one by one


def test_constant_entries_ignore_secondary_keys_but_not_decorator_keys() -> None:
    book = Lorebook(
        entries=[
            entry([], "Selective.", constant=True, selective=True, secondary_keys=["never"]),
            entry([], "@@additional_keys storm\nStormy.", constant=True, name="stormy"),
            entry([], "@@exclude_keys calm\nRestless.", constant=True, name="restless"),
        ]
    )
    assert fired(book, ["a calm day"]) == ["Selective."]
    assert fired(book, ["a storm"]) == ["Selective.", "Stormy.", "Restless."]


# SillyTavern exports every world-info entry with `use_regex: true` and these extensions,
# whatever the keys hold; it reads such keys as plain text itself.
SILLYTAVERN_EXTENSIONS = {
    "position": 0,
    "exclude_recursion": False,
    "display_index": 0,
    "probability": 100,
    "useProbability": True,
    "depth": 4,
    "selectiveLogic": 0,
    "group": "",
}


def sillytavern_entry(keys: list[str], content: str, **fields: object) -> LoreEntry:
    extensions = {**SILLYTAVERN_EXTENSIONS, **fields.pop("extensions", {})}  # type: ignore[dict-item]
    return entry(keys, content, use_regex=True, extensions=extensions, **fields)


def test_sillytavern_exported_constant_entries_fire() -> None:
    book = Lorebook(entries=[sillytavern_entry([], "The city never sleeps.", constant=True)])
    assert fired(book, ["hello"]) == ["The city never sleeps."]


def test_sillytavern_exported_entries_need_their_secondary_keys() -> None:
    book = Lorebook(
        entries=[
            sillytavern_entry(
                ["king"], "Crowned.", selective=True, secondary_keys=["crown", "throne"]
            ),
            sillytavern_entry(
                ["queen"],
                "Uncrowned.",
                selective=True,
                secondary_keys=["crown"],
                extensions={"selectiveLogic": 2},
            ),
        ]
    )
    assert fired(book, ["the king and the queen"]) == ["Uncrowned."]
    assert fired(book, ["the king and the queen on the throne with a crown"]) == ["Crowned."]


def test_sillytavern_exported_keys_are_plain_text_whole_words() -> None:
    book = Lorebook(
        entries=[
            sillytavern_entry(["C++"], "A language.", name="cpp"),
            sillytavern_entry(["Dr. Vale (senior)"], "The elder.", name="vale"),
            sillytavern_entry(["cat"], "Cats.", name="cat"),
        ]
    )
    activation = activate_lore(
        [book], ["She writes C++ for Dr. Vale (senior) in the category."], character_messages=1
    )
    assert [hit.label for hit in activation.fired] == ["cpp", "vale"]
    assert all("not scanned" not in hit.reason for hit in activation.hits)


def test_slash_written_keys_are_regexes_in_sillytavern_and_plain_entries() -> None:
    book = Lorebook(
        entries=[
            sillytavern_entry([r"/\bdragons?\b/i"], "Dragons.", name="st"),
            entry(["/gr[iy]ffin/"], "Griffins.", name="plain"),
            entry(["/Wyrm/"], "Wyrms.", name="case"),
        ]
    )
    assert fired(book, ["Two DRAGONS and a gryffin, no wyrm."]) == ["Dragons.", "Griffins."]


def test_a_large_sillytavern_exported_book_is_scanned_entirely() -> None:
    # Read as regexes, the keys of such a book used up the turn's regex budget and most
    # entries were never looked at.
    book = Lorebook(
        entries=[
            sillytavern_entry([f"place{n}", f"person{n}", f"thing{n}"], f"Lore {n}.")
            for n in range(400)
        ]
    )
    text = " ".join(f"person{n}" for n in range(0, 400, 2))
    activation = activate_lore([book], [text], character_messages=1)
    assert len(activation.fired) == 200
    assert all("not scanned" not in hit.reason for hit in activation.hits)
