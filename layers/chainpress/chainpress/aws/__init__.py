"""AWS adapters of the ports in ``chainpress.ports``. Clients come from ``clients`` only."""
