"""Jupyter server for the UI tests: Galata's test set-up, bound to this machine, with a token.

Started by Playwright (``webServer`` in playwright.config.js), which passes the token in
``NBTRACK_UI_TOKEN`` and sends it with every request the browser and Galata make.
"""

import os

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821 - `c` is the config object Jupyter passes in

c.ServerApp.ip = "127.0.0.1"  # noqa: F821
c.IdentityProvider.token = os.environ["NBTRACK_UI_TOKEN"]  # noqa: F821
c.ServerApp.allow_root = True  # noqa: F821 - CI runs as root
c.LabApp.news_url = None  # noqa: F821
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"  # noqa: F821
c.LabApp.extension_manager = "readonly"  # noqa: F821
