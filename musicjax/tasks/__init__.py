"""A task ties one model family to its data: model, batches, loss, evaluation."""
