"""The docs runner: literal by default, so a doc's check can fail; only
ids, ages and the values a block names as varying match loosely."""

from tests import docs_runner


def ok(expected, actual, varies=()):
    return docs_runner.matches(expected, actual, varies)[0]


def test_numbers_versions_and_addresses_are_literal_unless_named():
    assert not ok(["3"], ["0"])  # the README's `grep -c web-` → 1 could not fail before
    assert not ok(["probability 0.5"], ["probability 0.333"])
    assert not ok(["Version: 1.0.0"], ["Version: 2.0.0"])
    assert not ok(["external host saw 198.18.102.1"], ["external host saw 10.244.0.12"])
    assert not ok(["Exited (143)"], ["Exited (137)"])
    assert ok(["pod web at 10.244.0.12/16 port 30080"], ["pod web at 10.244.0.57/16 port 31000"],
              varies=("10.244.0.12/16", "30080"))
    assert not ok(["pod web at 10.244.0.12/16"], ["pod web at 10.244.0.57/16"], varies=("30080",))
    assert not ok(["port 30080"], ["port http"], varies=("30080",))  # a number stands for a number only


def test_ids_and_ages_always_vary_words_never():
    assert ok(["574db55481a6   demo   Running   0 seconds ago   0"],
              ["fe54aaac873b   demo   Running   12 seconds ago   0   "])
    assert ok(["web-6d4cf56db6-abcde   1/1   Running   0   5s"], ["web-6d4cf56db6-abcde 1/1 Running 0 3m20s"])
    assert not ok(["Running   1 second ago"], ["Running   1 secondary ago"])
    assert not ok(["hello from minipod pod"], ["goodbye from minipod pod"])
    assert not ok(["1/1   Running"], ["0/1   Running"])


def test_the_whole_output_in_order_and_nothing_more():
    assert ok(["a", "b"], ["a", "", "b"])  # blank lines aside
    assert not ok(["b", "a"], ["a", "b"])
    assert docs_runner.matches(["a"], ["a", "b"]) == (False, "(extra output) b")
    assert not ok([], ["a warning nobody shows"])
    assert not ok(["a", "b"], ["a"])
    assert ok(["a", "...", "c"], ["a", "b", "b2", "c"]) and ok(["a", "..."], ["a", "b"])
    assert ok(["...", "c"], ["c"]) and not ok(["a", "...", "c"], ["a", "b"])


def test_blocks_are_parsed_with_what_varies_above_them():
    steps = docs_runner.parse_block("$ echo a\na\n$ true\n$ printf 'x\\ny'\nx\ny\n")
    assert [(s.command, s.expected) for s in steps] == [("echo a", ["a"]), ("true", []),
                                                        ("printf 'x\\ny'", ["x", "y"])]
    text = "text\n<!-- varies: 10.244.0.12, 30080 -->\n```console\n$ true\n```\n```console cleanup\n$ true\n```\n"
    blocks = list(docs_runner.BLOCK_RE.finditer(text))
    assert [(b.group("varies"), b.group("cleanup")) for b in blocks] == [("10.244.0.12, 30080", None), (None, " cleanup")]


def test_a_step_fails_on_its_exit_status(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("```console\n$ echo fine\nfine\n$ echo shown; false\nshown\n$ false; echo \"exit $?\"\nexit 1\n```\n")
    failures = docs_runner.check(doc)
    assert len(failures) == 1 and failures[0].startswith("$ echo shown; false\n  exited 1")


def test_a_named_value_matches_only_whole_values():
    assert ok(["eth0@if134 UP"], ["eth0@if99 UP"], varies=("134",))
    assert not ok(["    1 /pause"], ["    7 /pause"], varies=("11", "3"))  # PID 1 stays literal
    assert ok(["   11 ps", "    3 httpd"], ["   12 ps", "    4 httpd"], varies=("11", "3"))
    assert not ok(["10.244.0.3"], ["10.244.0.4"], varies=("3",))  # not a piece of an address


def test_a_named_value_stands_for_one_same_value_in_its_block():
    """pause.md's lesson: the pod keeps its address across a container's crash."""
    bound = {}
    assert docs_runner.matches(['"IPAddress": "10.244.0.7/16",'], ['"IPAddress": "10.244.0.9/16",'],
                               ("10.244.0.7/16",), bound)[0]
    assert docs_runner.matches(["eth0 10.244.0.7/16"], ["eth0 10.244.0.9/16"], ("10.244.0.7/16",), bound)[0]
    assert not docs_runner.matches(["eth0 10.244.0.7/16"], ["eth0 10.244.0.5/16"], ("10.244.0.7/16",), bound)[0]
    assert not ok(["a 10.0.0.1 b 10.0.0.1"], ["a 10.0.0.1 b 10.0.0.2"], ("10.0.0.1",))
