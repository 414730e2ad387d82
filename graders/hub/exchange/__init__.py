"""nbgrader's exchange as a service of the hub, instead of a folder every student can write to.

Why our own: ngshare-exchange 0.5.3 (the nbgrader plugin of ngshare) requires jupyter-core<4.11.2,
which nbgrader 0.9.6 (jupyter-server>=2) cannot be installed with, and ngshare keeps no size limits
and no audit log; nbexchange is not on PyPI and identifies users through a plugin each site writes.
Both shaped this one: ngshare's server-stamped, kept submissions, nbexchange's "the exchange is the
authority".

- ``store``: what the exchange keeps (SQLite and content-addressed files, an append-only audit log);
- ``service``: the JupyterHub service (``/services/exchange/``): who is who comes from the hub's
  token, what they may do from the roster;
- ``client``: nbgrader's exchange classes (``c.ExchangeFactory``) that talk to it. Each one builds a
  private, temporary exchange folder holding only what the service lets its caller see, runs
  nbgrader's own default exchange logic on it, and sends back what that logic wrote.
"""

SERVICE_NAME = "exchange"
URL_ENV = "GRADERS_HUB_EXCHANGE_URL"       # the service's address, as the servers reach it
