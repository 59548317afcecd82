"""svg(): one histogram panel per measured CPU, well-formed, self-contained and stable."""

import xml.etree.ElementTree as ElementTree

from lltune.validate.picture import VM_NOTE, Scale, step_path, svg, tick_step
from tests.unit.validate.results import make_result

NS = "{http://www.w3.org/2000/svg}"


def _parse(text):
    return ElementTree.fromstring(text)


def _panels(root):
    return {group.get("id"): group for group in root.iter(NS + "g")
            if (group.get("id") or "").startswith("cpu-")}


def _with_class(element, name):
    return [node for node in element.iter() if node.get("class") == name]


def _texts(element):
    return ["".join(node.itertext()) for node in element.iter(NS + "text")]


def test_one_panel_per_measured_cpu():
    root = _parse(svg(make_result(n_cpus=5, first_cpu=3)))
    assert sorted(_panels(root)) == ["cpu-3", "cpu-4", "cpu-5", "cpu-6", "cpu-7"]


def test_panels_lie_in_a_grid_of_three_columns():
    root = _parse(svg(make_result(n_cpus=4, first_cpu=0)))
    offsets = [_panels(root)["cpu-%d" % cpu].get("transform") for cpu in range(4)]
    assert offsets == ["translate(0 64)", "translate(420 64)", "translate(840 64)",
                       "translate(0 324)"]
    assert (root.get("width"), root.get("height")) == ("1260", "584")


def test_each_panel_draws_its_histogram():
    for panel in _panels(_parse(svg(make_result(n_cpus=2)))).values():
        assert len(_with_class(panel, "histogram")) == 1


def test_the_before_overlay_is_drawn_only_when_before_is_given():
    after = make_result()
    alone = _panels(_parse(svg(after)))
    assert all(_with_class(panel, "before-histogram") == [] for panel in alone.values())
    together = _panels(_parse(svg(after, before=make_result(run_id="B", shift_us=3))))
    assert all(len(_with_class(panel, "before-histogram")) == 1 for panel in together.values())


def test_the_legend_names_the_before_run_only_when_given():
    after = make_result(run_id="AFTER")
    legend_alone = _parse(svg(after)).find(".//%sg[@id='legend']" % NS)
    legend_both = _parse(svg(after, make_result(run_id="EARLIER"))).find(
        ".//%sg[@id='legend']" % NS)
    assert not any("EARLIER" in text for text in _texts(legend_alone))
    assert "before EARLIER" in _texts(legend_both)
    assert "this run AFTER" in _texts(legend_both)


def test_the_threshold_line_is_drawn_only_when_set():
    unset = _panels(_parse(svg(make_result(threshold_us=None))))
    assert all(_with_class(panel, "threshold") == [] for panel in unset.values())
    root = _parse(svg(make_result(threshold_us=30)))
    for panel in _panels(root).values():
        lines = _with_class(panel, "threshold")
        assert len(lines) == 1
        assert lines[0].get("x1") == lines[0].get("x2")


def test_the_threshold_line_sits_at_the_threshold_on_the_x_axis():
    """Threshold 30 us, x axis 0..50 us (the outlier of CPU 2 is at 42 us)."""
    panel = _panels(_parse(svg(make_result(n_cpus=1, threshold_us=30))))["cpu-2"]
    x = float(_with_class(panel, "threshold")[0].get("x1"))
    assert x == round(Scale(50, 6).x(30), 1)
    assert "50" in _texts(panel) and "60" not in _texts(panel)


def test_a_threshold_beyond_the_histogram_widens_the_x_axis():
    """Without it the axis ends at 50 us; with 95 us it runs to 100 us in steps of 20."""
    assert "80" not in _texts(_panels(_parse(svg(make_result(n_cpus=1))))["cpu-2"])
    panel = _panels(_parse(svg(make_result(n_cpus=1, threshold_us=95))))["cpu-2"]
    assert "80" in _texts(panel)


def test_titles_name_the_cpu_its_max_and_p9999():
    panel = _panels(_parse(svg(make_result(n_cpus=1))))["cpu-2"]
    assert "CPU 2: max 42 us, p99.99 8 us" in _texts(panel)
    assert not any(text.startswith("before") for text in _texts(panel))


def test_titles_add_the_before_values_when_given():
    panel = _panels(_parse(svg(make_result(n_cpus=1), make_result(n_cpus=1, shift_us=3))))[
        "cpu-2"]
    assert "before: max 45 us, p99.99 11 us" in _texts(panel)


def test_a_cpu_missing_from_before_says_so_and_has_no_overlay():
    panel = _panels(_parse(svg(make_result(n_cpus=2), make_result(n_cpus=1))))["cpu-3"]
    assert "before: no cyclictest data" in _texts(panel)
    assert _with_class(panel, "before-histogram") == []


def test_a_cpu_without_cyclictest_data_gets_a_panel_saying_so():
    result = make_result(n_cpus=2)
    result["per_cpu"][1]["cyclictest"] = None
    result["tools"]["cyclictest"]["status"] = "timeout"
    panel = _panels(_parse(svg(result)))["cpu-3"]
    assert ["".join(node.itertext()) for node in _with_class(panel, "no-data")] == [
        "no cyclictest data (cyclictest timeout)"]
    assert _with_class(panel, "histogram") == []


def test_a_vm_gets_the_note_that_these_are_not_the_hardwares_numbers():
    assert not any(VM_NOTE in text for text in _texts(_parse(svg(make_result()))))
    texts = _texts(_parse(svg(make_result(virtualized="kvm"))))
    assert "%s (kvm)" % VM_NOTE in texts


def test_text_is_escaped():
    result = make_result(run_id="<run & 'id'>")
    result["environment"]["hostname"] = "<script>alert(1)</script>"
    text = svg(result)
    root = _parse(text)
    assert "lltune validate <run & 'id'> on <script>alert(1)</script>" in _texts(root)
    assert "<script>" not in text


def test_no_script_and_no_external_reference():
    root = _parse(svg(make_result(n_cpus=3, threshold_us=20), make_result(n_cpus=3)))
    tags = {node.tag for node in root.iter()}
    assert NS + "script" not in tags
    assert NS + "a" not in tags and NS + "image" not in tags and NS + "use" not in tags
    for node in root.iter():
        assert not any(name.endswith("href") for name in node.attrib), node.tag


def test_the_same_input_gives_the_same_bytes():
    def picture():
        return svg(make_result(n_cpus=4, threshold_us=25, virtualized="kvm"),
                   make_result(n_cpus=3, shift_us=-1, run_id="B"))
    assert picture() == picture()


def test_the_outline_drops_to_the_baseline_across_empty_buckets():
    scale = Scale(10, 1)
    path = step_path([[1, 10], [2, 10], [5, 1]], scale)
    base = "%.1f" % scale.bottom
    x = ["%.1f" % scale.x(us) for us in (1, 3, 5, 6)]
    assert path.startswith("M%s %s" % (x[0], base))
    assert "L%s %s M%s %s" % (x[1], base, x[2], base) in path
    assert path.endswith("L%s %s" % (x[3], base))
    assert path.count("M") == 2


def test_a_single_sample_bar_rises_above_the_baseline():
    scale = Scale(10, 3)
    assert scale.y(1) < scale.bottom
    assert scale.y(1000) == scale.top


def test_tick_steps_are_1_2_5_with_at_most_five_intervals():
    assert [tick_step(span) for span in (5, 10, 11, 42, 100, 101, 999)] == [
        1, 2, 5, 10, 20, 50, 200]


def test_a_threshold_far_beyond_the_data_is_named_but_does_not_squash_the_axis():
    """1 s against histograms that end below 50 us: the axis stays the data's, the line is
    left out of the panel, and the legend still names the threshold."""
    root = _parse(svg(make_result(n_cpus=1, threshold_us=1000000)))
    panel = _panels(root)["cpu-2"]
    assert _with_class(panel, "threshold") == []
    assert "80" not in _texts(panel) and "1000000" not in " ".join(_texts(panel))
    legend = [g for g in root.iter() if g.get("id") == "legend"][0]
    assert any("threshold 1000000 us" in (t.text or "") for t in legend.iter())
