"""``mewarden serve``: the fleet over a REST API and in the browser (see docs/serve.md)."""
