import pytest
from hypothesis import given
from hypothesis import strategies as st

from lltune.common.cpulist import format_cpulist, format_cpumask, parse_cpulist, parse_cpumask

cpu_sets = st.sets(st.integers(min_value=0, max_value=1023), max_size=64)


@pytest.mark.parametrize("text, cpus", [
    ("", []), ("0", [0]), ("0-3,8", [0, 1, 2, 3, 8]), (" 2-3 ,1\n", [1, 2, 3]),
    ("0-15:2/4", [0, 1, 4, 5, 8, 9, 12, 13]), ("7,7,6", [6, 7]),
])
def test_parse_cpulist(text, cpus):
    assert parse_cpulist(text) == cpus


@pytest.mark.parametrize("text", ["a", "3-1", "1-", "-1", "0-3:0/4", "0-3:5/4", "1,,2",
                                  "99999", "0x3"])
def test_parse_cpulist_rejects(text):
    with pytest.raises(ValueError):
        parse_cpulist(text)


@pytest.mark.parametrize("text, cpus", [
    ("00000001", [0]), ("ff", list(range(8))), ("00000100,00000001", [0, 40]),
    ("0x3", [0, 1]), ("00000000,00000000", []),
])
def test_parse_cpumask(text, cpus):
    assert parse_cpumask(text) == cpus


@pytest.mark.parametrize("text", ["", "xyz", "1,,2", "123456789"])
def test_parse_cpumask_rejects(text):
    with pytest.raises(ValueError):
        parse_cpumask(text)


def test_format_forms_match_the_kernel():
    assert format_cpulist([8, 0, 1, 2, 3]) == "0-3,8"
    assert format_cpulist([]) == ""
    assert format_cpumask([0, 40]) == "00000100,00000001"
    assert format_cpumask([]) == "00000000"


@given(cpu_sets)
def test_list_and_mask_round_trip(cpus):
    assert parse_cpulist(format_cpulist(cpus)) == sorted(cpus)
    assert parse_cpumask(format_cpumask(cpus)) == sorted(cpus)


@pytest.mark.parametrize("text", ["000000000", "0,,0", ",0", "0,"])
def test_all_zero_masks_are_still_checked(text):
    with pytest.raises(ValueError):
        parse_cpumask(text)
