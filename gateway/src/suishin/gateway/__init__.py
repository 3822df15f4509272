"""GraphQL gateway: the one public API in front of the three subgraphs."""
