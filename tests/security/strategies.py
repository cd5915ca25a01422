"""Hypothesis settings and strategies shared by the JSON and form fuzzers."""
from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.reliability.scale import scaled

EXAMPLES = scaled(60, 1000)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=15)
template_bits = st.sampled_from([
    "{{ steps[0].output }}", "{{ steps[5].output }}", "{{ x }}", "{% for i in range(3) %}{{ i }}{% endfor %}",
    "{{ ''.__class__ }}", "{{ 7 * 7 }}", "{% if %}", "{{ steps[i] }}", "plain", "{{ now }}", "{{ run.id }}"])
strings = st.text(max_size=40) | template_bits | st.builds(lambda a, b: a + b, st.text(max_size=10), template_bits)
cron = st.builds(" ".join, st.lists(st.sampled_from(["*", "0", "59", "*/5", "1-5", "30", "31", "2", "60", "-1",
                                                     "L", "1,2", "MON", "*/0", "?"]), max_size=7))
timezones = st.sampled_from(["UTC", "Europe/Berlin", "America", "", "../etc", "Mars/Base", "x" * 300]) | st.text(max_size=12)
