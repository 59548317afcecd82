"""lltune.validate.interrupts: /proc/interrupts and /proc/softirqs before and after a run."""

import os

from lltune.validate.interrupts import delta, parse_interrupts, parse_softirqs

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def test_parse_interrupts_names_irqs_by_number_and_last_word_and_keys_header_cpus():
    parsed = parse_interrupts(fixture("interrupts-after.txt"))
    assert parsed["24 virtio0-input.0"] == {0: 0, 2: 0, 3: 9}
    assert parsed["0 timer"] == {0: 44, 2: 0, 3: 0}
    assert parsed["LOC"] == {0: 60000, 2: 1210, 3: 1300}  # CPU 1 is offline: no column


def test_parse_interrupts_keys_short_rows_with_the_cpus_they_reach():
    parsed = parse_interrupts(fixture("interrupts-after.txt"))
    assert parsed["ERR"] == {0: 0}
    assert parsed["MIS"] == {0: 0}


def test_parse_interrupts_skips_odd_rows_and_never_fails():
    text = ("           CPU0       CPU1\n"
            "  5:         10         20   IO-APIC   5-edge      eth0\n"
            "garbage without a colon\n"
            " 6: not-a-count 3   IO-APIC   6-edge      eth1\n"
            "  7:         %s   IO-APIC   7-edge      huge\n"
            "  8:          1\n"
            "a b: 1 2\n" % ("9" * 40))
    assert parse_interrupts(text) == {"5 eth0": {0: 10, 1: 20}, "8": {0: 1}}


def test_parse_interrupts_of_no_header_or_empty_text_is_empty():
    assert parse_interrupts("") == {}
    assert parse_interrupts("  5:   10   20   IO-APIC   5-edge   eth0\n") == {}


def test_parse_softirqs_has_a_column_for_every_possible_cpu():
    parsed = parse_softirqs(fixture("softirqs-after.txt"))
    assert parsed["TIMER"] == {0: 5600, 1: 7, 2: 40, 3: 52}
    assert len(parsed) == 10


def test_delta_keeps_only_increases_on_the_cpus_asked():
    before = parse_interrupts(fixture("interrupts-before.txt"))
    after = parse_interrupts(fixture("interrupts-after.txt"))
    assert delta(before, after, [2, 3]) == {2: {"LOC": 10}, 3: {"24 virtio0-input.0": 2, "RES": 1}}


def test_delta_of_softirqs():
    before = parse_softirqs(fixture("softirqs-before.txt"))
    after = parse_softirqs(fixture("softirqs-after.txt"))
    assert delta(before, after, [2, 3]) == {2: {"RCU": 2}, 3: {"TIMER": 2}}


def test_delta_counts_a_new_source_from_zero_and_ignores_one_that_went_down():
    before = {"30 old": {3: 100}}
    after = {"30 old": {3: 4}, "31 new": {3: 6}}
    assert delta(before, after, [3]) == {3: {"31 new": 6}}


def test_delta_gives_an_empty_dict_for_a_cpu_nothing_interrupted_or_not_in_the_files():
    assert delta({"LOC": {3: 5}}, {"LOC": {3: 5}}, [3, 7]) == {3: {}, 7: {}}
