"""What users write: DAGs, tasks, assets, params, and the graph between them."""
