"""Machine learning: graphs, networks, datasets, training, weights with model cards, prediction."""
