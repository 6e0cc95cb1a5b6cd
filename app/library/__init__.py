"""A shop's library edited at run time: templates and the shop profile changed over the API with
optimistic concurrency, every change in an audit log (store.py), and served without a restart (live.py)."""
