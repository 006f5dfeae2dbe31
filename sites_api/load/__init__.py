"""Load management over a site's fuse tree.

- ``sites_api.load.planner``: the pure planner (tree + measurements + sessions -> per connector
  per phase limits). No I/O, no aiohttp, no database: property-tested on its own.
- ``sites_api.load.runner``: feeds it the hub's events and sends the limits as charging profiles
  through ``hub.commands``.
"""
