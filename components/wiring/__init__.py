"""Who talks to whom: endpoints (ports, names, UIDs), the one flow table, and the NetworkPolicies and monitors derived from it."""
