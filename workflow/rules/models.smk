# Model inspection: the architecture, training dynamics, conv1 filters.


def model_outputs():
    return []
