"""A search oracle: a seeded French data set, an independent evaluator of FHIR search in
plain Python over the JSON, and a generated matrix of queries to compare with the engine.

`dataset` builds the resources (and the updates and deletes applied to them), `params`
says by hand what each search parameter reads in a resource (never through the indexer),
`evaluate` answers a query from that, and `queries` generates the matrix.
"""
