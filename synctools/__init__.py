"""synctools: inspect and debug Firefox Sync account data from Jupyter.

Layers (imports point down only):

- ``synctools.protocol``: pure rules of the protocol (keys, record crypto, BSOs,
  meta/global, onepw, tokens). No I/O.
- ``synctools.server``: the embedded local sync stack. Imports ``protocol`` only.
- ``synctools.net``: the network clients.
"""

__version__ = "0.1.0"
