"""The operator console: a server-rendered web application at ``/console/``.

``hub.console.app.add_console(app)`` mounts it (the app factory calls it). This package
``__init__`` stays empty so that ``pnc-hub user ...`` (hub.console.user_cli) loads nothing heavy.
"""
