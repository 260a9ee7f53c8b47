"""What the chapters compose: recipes, the artifact store and its catalogue, pipelines, timing claims,
exercises, the capstone's budget, anomaly scorers and federated learning."""
