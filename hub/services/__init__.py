"""Where the rules live: plain async functions over the hub's database, tested without a socket.

Writes that a charger waits on go through ``hub.committer`` (group commit); reads use a short
``hub.sessions()`` session. Events are published only after the commit.
"""
