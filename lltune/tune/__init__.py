"""Changing a host through tuned: the plan, the rendered profile and hook data, apply,
rollback, verify, the backup bundles, and the hook tuned runs for what its plugins cannot do.
The plan and the renderer are pure; apply, rollback and the hook are the edge that writes."""
