"""The docs runner's loose matching: volatile tokens vary, words do not."""

from tests import docs_runner


def test_ids_numbers_and_addresses_match_loosely():
    ok, _ = docs_runner.matches(
        ["574db55481a6   demo   Running   0 seconds ago   0   10.244.0.5"],
        ["POD ID  NAME", "fe54aaac873b   demo   Running   12 seconds ago   0   10.244.0.17   "])
    assert ok
    assert docs_runner.matches(["Running   1 second ago"], ["Running   2 minutes ago"])[0]  # units of time too
    assert not docs_runner.matches(["Running   1 second ago"], ["Running   1 secondary ago"])[0]


def test_words_must_match_and_order_matters():
    assert docs_runner.matches(["hello from minipod pod"], ["hello from minipod pod"])[0]
    assert not docs_runner.matches(["hello from minipod pod"], ["goodbye from minipod pod"])[0]
    assert not docs_runner.matches(["b", "a"], ["a", "b"])[0]
    assert docs_runner.matches(["a", "...", "c"], ["a", "b", "c"])[0]
    assert docs_runner.matches(["Exited (143)"], ["Exited (137)"])[0]  # numbers are loose by design
    assert not docs_runner.matches(["Exited (143)"], ["Running"])[0]


def test_blocks_are_parsed_into_commands_and_outputs():
    steps = docs_runner.parse_block("$ echo a\na\n$ true\n$ printf 'x\\ny'\nx\ny\n")
    assert [(s.command, s.expected) for s in steps] == [("echo a", ["a"]), ("true", []),
                                                        ("printf 'x\\ny'", ["x", "y"])]
